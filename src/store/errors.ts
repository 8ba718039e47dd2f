/**
 * Store failures as values with a kind, so callers decide by kind and never by message text.
 * The gateway fails closed on 'unavailable' (no verdict, no audit: no bytes served).
 */

export type StoreErrorKind =
  /** The database or filesystem cannot be reached or used right now (connection, lock, disk). */
  | 'unavailable'
  /** A uniqueness rule was violated (same id, same token hash). */
  | 'conflict'
  /** Stored data does not parse, or bytes do not match the hash they claim. */
  | 'corrupt'
  /** The caller passed something the store cannot accept (bad sha256, bad time, empty waiver). */
  | 'invalid'
  /** Anything else: a bug or an unexpected database answer. */
  | 'internal';

export class StoreError extends Error {
  override readonly name = 'StoreError';
  readonly kind: StoreErrorKind;

  constructor(kind: StoreErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

export function isStoreError(e: unknown, kind?: StoreErrorKind): e is StoreError {
  return e instanceof StoreError && (kind === undefined || e.kind === kind);
}

/** Node system error codes that mean "cannot reach or use the backing service/disk". */
const UNAVAILABLE_SYSTEM_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOSPC',
  'EROFS',
  'EACCES',
  'EPERM',
  'EIO',
  'EMFILE',
  'ENFILE',
  'ENOTDIR',
  'EISDIR',
  'ENOENT',
]);

function codeOf(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e) {
    const c = (e as { code: unknown }).code;
    if (typeof c === 'string') return c;
  }
  return undefined;
}

function classify(e: unknown): StoreErrorKind {
  const code = codeOf(e);
  if (code !== undefined) {
    if (UNAVAILABLE_SYSTEM_CODES.has(code)) return 'unavailable';
    // SQLite (better-sqlite3 reports extended codes such as SQLITE_CONSTRAINT_UNIQUE).
    if (code.startsWith('SQLITE_CONSTRAINT_UNIQUE') || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return 'conflict';
    if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') return 'corrupt';
    if (
      code.startsWith('SQLITE_BUSY') ||
      code.startsWith('SQLITE_LOCKED') ||
      code.startsWith('SQLITE_CANTOPEN') ||
      code.startsWith('SQLITE_IOERR') ||
      code.startsWith('SQLITE_READONLY') ||
      code === 'SQLITE_FULL' ||
      code === 'SQLITE_PROTOCOL'
    ) {
      return 'unavailable';
    }
    // PostgreSQL SQLSTATE: 23505 unique violation; 08 connection exception; 53 insufficient
    // resources; 57P0x shutdown / cannot connect now; 28 auth; 3D000 no such database.
    if (code === '23505') return 'conflict';
    if (code === 'XX001' || code === 'XX002') return 'corrupt';
    if (
      code.startsWith('08') ||
      code.startsWith('53') ||
      code.startsWith('57P') ||
      code.startsWith('28') ||
      code === '3D000' ||
      code === '40P01' ||
      code === '55P03'
    ) {
      return 'unavailable';
    }
  }
  // Node's happy-eyeballs connect reports an AggregateError whose parts carry the codes.
  if (e instanceof AggregateError && e.errors.some((x) => classify(x) === 'unavailable')) return 'unavailable';
  const msg = e instanceof Error ? e.message : '';
  // pg reports a dropped socket or a pool wait timeout by message only.
  if (
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end|database connection is not open|The database connection is not open|driver has already been destroyed/i.test(
      msg,
    )
  ) {
    return 'unavailable';
  }
  return 'internal';
}

/** Wraps any thrown value as a StoreError; StoreErrors pass through unchanged. */
export function toStoreError(e: unknown, op: string): StoreError {
  if (e instanceof StoreError) return e;
  const kind = classify(e);
  const detail = e instanceof Error ? e.message : String(e);
  return new StoreError(kind, `${op}: ${detail}`, { cause: e });
}
