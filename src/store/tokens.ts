/**
 * API token secrets. Only the sha256 of a secret is stored: a leaked database does not leak
 * usable tokens. A plain hash (no salt, no slow KDF) is enough because the secret is 256
 * random bits, not a password, and it lets the store look the token up by its hash.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const TOKEN_PREFIX = 'mg_';
const SECRET_BYTES = 32;
/** `mg_` + 43 base64url characters (32 bytes, unpadded). */
const SECRET_RE = /^mg_[A-Za-z0-9_-]{43}$/;

export function createTokenSecret(): string {
  return TOKEN_PREFIX + randomBytes(SECRET_BYTES).toString('base64url');
}

/** Cheap shape check before hashing, so obviously foreign strings are refused early. */
export function looksLikeTokenSecret(s: string): boolean {
  return SECRET_RE.test(s);
}

export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented secret against a stored hash. */
export function verifyTokenSecret(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashTokenSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  // Both are 32 bytes for a well-formed hash; a malformed stored hash simply never matches.
  if (a.length !== b.length || b.length !== 32) return false;
  return timingSafeEqual(a, b);
}
