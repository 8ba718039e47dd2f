/**
 * The text users see when the gateway refuses or flags a file. It travels in HTTP headers
 * (X-Error-Message, X-HF-Warning) and shows up verbatim in huggingface_hub and transformers
 * exceptions, so it is one printable-ASCII line: Node rejects CR/LF and non-latin1 characters in
 * header values, and a partial header would lose the reason.
 */
import type { Decision, RuleOutcome } from './types.js';

/** Long enough for a reason and a report URL, short enough to read in a stack trace. */
export const MAX_MESSAGE_LENGTH = 512;

/** Printable ASCII only: accents folded (é → e), `›` as `>`, every other character `?`. */
export function asciiLine(s: string): string {
  return s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/\u203a/g, '>')
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[\u201c\u201d]/g, '"')
    .replace(/[\u2013\u2014]/g, '-')
    .replace(/[\r\n\t\v\f]+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?');
}

function headline(outcomes: readonly RuleOutcome[], fallback: string): string {
  const first = outcomes[0];
  if (!first) return fallback;
  const more = outcomes.length - 1;
  return more > 0 ? `${first.reason} (+${more} more)` : first.reason;
}

/** `<prefix><reason>; see <url>`, the reason shortened first so the link always survives. */
function compose(prefix: string, reason: string, reportUrl: string | null): string {
  const tail = reportUrl ? asciiLine(`; see ${reportUrl}`) : '';
  const head = asciiLine(prefix);
  let body = asciiLine(reason);
  const room = MAX_MESSAGE_LENGTH - head.length - tail.length;
  if (room < 16) return `${head}${body}`.slice(0, MAX_MESSAGE_LENGTH);
  if (body.length > room) body = `${body.slice(0, room - 3)}...`;
  return `${head}${body}${tail}`;
}

/**
 * The refusal for X-Error-Message and the JSON `{"error"}`:
 * `blocked by modelgate: pytorch_model.bin calls os.system (critical, rule scan-severity); see <url>`.
 * `file` is named when the decision carries no reason of its own.
 */
export function refusalMessage(decision: Decision, file: string | null, reportUrl: string | null): string {
  const blocking = decision.outcomes.filter((o) => o.action === 'block');
  const reason = headline(blocking.length ? blocking : decision.outcomes, `${file ?? 'this file'} is not allowed by the policy`);
  return compose('blocked by modelgate: ', reason, reportUrl);
}

/**
 * X-HF-Warning value (`<topic>; <message>`) for a file the policy lets through with a warning.
 * Clients log each topic once per process, so the gateway makes the topic name the file.
 */
export function warningMessage(decision: Decision, file: string | null, reportUrl: string | null, topic = 'modelgate'): string {
  const reason = headline(decision.outcomes.filter((o) => o.action === 'warn'), `${file ?? 'this file'} was flagged by the policy`);
  return compose(`${topic}; `, reason, reportUrl);
}
