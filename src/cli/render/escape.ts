/**
 * Text from scanned files (file and member names, pickle strings in messages) reaches terminals.
 * Control characters in it could move the cursor, rewrite earlier lines, set the window title or
 * hide a finding, so console and TTY renderings show them escaped: `\x1b`, `\u202e`.
 */

// C0 controls except none, DEL, C1 controls, and the bidirectional overrides/isolates and line
// separators that reorder or break what is displayed.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function terminalSafe(s: string): string {
  return s.replace(UNSAFE, (ch) => {
    const code = ch.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** A copy of a value with every string in it (keys too) made terminal-safe. */
export function terminalSafeDeep<T>(value: T): T {
  if (typeof value === 'string') return terminalSafe(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => terminalSafeDeep(v)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [terminalSafe(k), terminalSafeDeep(v)])) as T;
  }
  return value;
}
