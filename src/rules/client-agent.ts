/**
 * What a Hugging Face client says about its libraries in `User-Agent`.
 *
 * huggingface_hub (Python) sends `name/version` pairs separated by `; `, e.g.
 *   `transformers/5.18.0; hf_hub/1.33.0; python/3.11.7; torch/2.13.0+cpu; session_id/…; file_type/model`
 * (the first pair is the calling library or `unknown/None`; older releases also add tensorflow,
 * fastai and fastcore). @huggingface/hub (JavaScript) sets no User-Agent of its own: under Node it
 * goes out as the runtime's default, `node`, and in a browser as the browser's.
 *
 * The header is client-controlled and may be hostile: only a bounded prefix is read, only pairs
 * whose version parses as PEP 440 count, and anything else is skipped and counted. A client can
 * lie about its versions; this only protects honest clients from their own vulnerable loaders.
 */
import { parseVersion } from './pep440.js';
import { normaliseLibraryName } from './loader-vulns.js';

export type ClientKind = 'huggingface_hub' | 'node' | 'unknown';

export interface ClientAgent {
  readonly client: ClientKind;
  /** PEP 503-normalised library name -> version text (`torch` -> `2.5.1+cpu`). */
  readonly libraries: Readonly<Record<string, string>>;
  /** Pairs and fragments that were not a library version (session ids, flags, junk). */
  readonly ignored: number;
  /** True when the header was longer than what is read. */
  readonly truncated: boolean;
}

export const MAX_USER_AGENT_CHARS = 4096;
const MAX_PAIRS = 64;
const PAIR = /^([A-Za-z0-9][A-Za-z0-9._-]{0,63})\/([^\s/;]{1,64})$/;
// Keys huggingface_hub and transformers send that are not packages.
const NOT_LIBRARIES = new Set(['unknown', 'session-id', 'file-type', 'framework', 'from-auto-class', 'origin', 'agent', 'using-pipeline', 'pipeline-class']);
// A Map, not an object literal: header-chosen keys must never reach Object.prototype.
const ALIASES = new Map([['hf-hub', 'huggingface-hub']]);

export function parseClientUserAgent(header: string | readonly string[] | undefined | null): ClientAgent {
  const raw = Array.isArray(header) ? header.join('; ') : typeof header === 'string' ? header : '';
  const truncated = raw.length > MAX_USER_AGENT_CHARS;
  const ua = raw.slice(0, MAX_USER_AGENT_CHARS);
  const libraries: Record<string, string> = Object.create(null) as Record<string, string>;
  let ignored = 0;
  const parts = ua.split(';');
  if (parts.length > MAX_PAIRS) ignored += parts.length - MAX_PAIRS;
  for (const part of parts.slice(0, MAX_PAIRS)) {
    const token = part.trim();
    if (token === '') continue;
    const m = PAIR.exec(token);
    const name = m ? normaliseLibraryName(m[1]!) : '';
    if (!m || NOT_LIBRARIES.has(name) || parseVersion(m[2]!) === null) {
      ignored++;
      continue;
    }
    const lib = ALIASES.get(name) ?? name;
    // First value wins: huggingface_hub de-duplicates identical pairs, so a second, different
    // value for the same library is not something an honest client sends.
    if (lib in libraries) {
      if (libraries[lib] !== m[2]) ignored++;
      continue;
    }
    libraries[lib] = m[2]!;
  }
  const client: ClientKind = 'huggingface-hub' in libraries ? 'huggingface_hub' : ua.trim() === 'node' ? 'node' : 'unknown';
  return { client, libraries: { ...libraries }, ignored, truncated };
}
