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

/**
 * The value with every string in it (keys too) made terminal-safe, for reading only. Arrays and
 * objects are copied only where something in them changed; an unchanged one is returned as it is
 * (copying the whole report of a directory scan cost a directory's console rendering more than
 * the rest of it). A copy holds an object's own enumerable string keys, in order.
 */
export function terminalSafeDeep<T>(value: T): T {
  if (typeof value === 'string') return terminalSafe(value) as T;
  if (Array.isArray(value)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const safe = terminalSafeDeep(v);
      if (out === null && safe !== v) out = value.slice(0, i);
      if (out !== null) out.push(safe);
    }
    return (out ?? value) as T;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    let out: Array<[string, unknown]> | null = null;
    for (let i = 0; i < entries.length; i++) {
      const [k, v] = entries[i]!;
      const safeKey = terminalSafe(k);
      const safe = terminalSafeDeep(v);
      if (out === null && (safeKey !== k || safe !== v)) out = entries.slice(0, i);
      if (out !== null) out.push([safeKey, safe]);
    }
    return (out ? Object.fromEntries(out) : value) as T;
  }
  return value;
}
