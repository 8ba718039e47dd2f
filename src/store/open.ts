/**
 * One entry point from configuration to a Store: the gateway and crawler take a single
 * `store` setting and never import a dialect module themselves.
 */
import { StoreError } from './errors.js';
import { openPostgresStore } from './postgres.js';
import type { SqlStore } from './sql.js';
import { openSqliteStore } from './sqlite.js';

export type StoreLocation = { kind: 'postgres'; url: string } | { kind: 'sqlite'; path: string };

/**
 * `postgres://…` / `postgresql://…` → PostgreSQL; `sqlite:PATH` (or `sqlite://PATH`) or a plain
 * file path → SQLite. Any other `scheme:` is refused rather than taken for a file name.
 */
export function parseStoreLocation(urlOrPath: string): StoreLocation {
  const s = urlOrPath.trim();
  if (s === '') throw new StoreError('invalid', 'store location is empty: give postgres://…, sqlite:PATH or a file path');
  if (/^postgres(ql)?:\/\//i.test(s)) return { kind: 'postgres', url: s };
  const sqlite = /^sqlite:(?:\/\/)?(.*)$/i.exec(s);
  if (sqlite) {
    const path = sqlite[1] ?? '';
    if (path === '') throw new StoreError('invalid', `store location ${JSON.stringify(s)} names no SQLite file`);
    return { kind: 'sqlite', path };
  }
  // Two or more letters before ':' is a scheme; one letter is a Windows drive (C:\…).
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]+):/.exec(s);
  if (scheme) {
    throw new StoreError(
      'invalid',
      `unsupported store URL scheme "${scheme[1]}:" — use postgres://…, postgresql://…, sqlite:PATH or a file path`,
    );
  }
  return { kind: 'sqlite', path: s };
}

export function openStore(urlOrPath: string): SqlStore {
  const loc = parseStoreLocation(urlOrPath);
  return loc.kind === 'postgres' ? openPostgresStore(loc.url) : openSqliteStore(loc.path);
}

/**
 * A store or blob store URL as it may appear in a message: the password (and any `password=`
 * parameter) replaced by `***`. Also scrubs the literal password from `text` when given, since
 * drivers sometimes echo their connection string.
 */
export function redactStoreUrl(url: string, text?: string): string {
  let password = '';
  try {
    const u = new URL(url);
    password = u.password;
  } catch {
    // not a URL: nothing to hide beyond the patterns below
  }
  const scrub = (s: string): string => {
    let out = s.replace(/(\/\/[^:@/\s]*):[^@/\s]*@/g, '$1:***@').replace(/([?&]password=)[^&\s]*/gi, '$1***');
    for (const p of new Set([password, safeDecode(password)])) if (p.length >= 3) out = out.split(p).join('***');
    return out;
  };
  return scrub(text ?? url);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
