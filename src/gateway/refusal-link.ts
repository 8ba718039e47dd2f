/**
 * Refusal links: each refusal names a page (`/console/refusal/<secret>`) where the user it was
 * for sees that decision, and nothing else, and can ask for a waiver. The secret is 256 random
 * bits sent only to that client; the store keeps its sha256, and the audit record's copy of the
 * message has the secret cut out, so audit exports, syslog and webhooks cannot open the page.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface RefusalTicket {
  secret: string;
  hash: string;
}

/** How long a refusal link opens its page (and accepts a waiver request). */
export const TICKET_LIFETIME_MS = 30 * 86400_000;

export const TICKET_RE = /^[A-Za-z0-9_-]{43}$/;

export function newTicket(): RefusalTicket {
  const secret = randomBytes(32).toString('base64url');
  return { secret, hash: ticketHash(secret) };
}

export function ticketHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function refusalUrl(base: string, t: RefusalTicket): string {
  return `${base}/console/refusal/${t.secret}`;
}

/** The message as the audit log keeps it: the link's secret replaced by a placeholder. */
export function withheld(message: string, t: RefusalTicket | null): string {
  return t ? message.split(t.secret).join('(link withheld)') : message;
}

/** A request URL as the gateway's log writes it: a refusal link's secret cut out. */
export function logSafeUrl(url: string): string {
  return url.replace(/\/console\/refusal\/[^/?#]+/, '/console/refusal/(secret)');
}
