/**
 * Gated and private repositories, so that a gateway's handling of per-user access can be tested
 * against a server that enforces it: a repository listed here answers only requests that carry
 * one of its bearer tokens, with the status, X-Error-Code and message huggingface.co uses (the
 * clients turn GatedRepo into GatedRepoError, RepoNotFound into RepositoryNotFoundError).
 * CDN URLs (`/-/cdn/<sha256>`) stay open, as the hub's signed CDN URLs are.
 */
import { z } from 'zod';
import type { RepoRef } from './paths.js';

export const RepoAccessSchema = z.strictObject({
  /** `org/name` (models) or `datasets/org/name`. */
  repo: z.string().min(1).max(300),
  mode: z.enum(['gated', 'private']),
  /** Bearer tokens that may read the repository. */
  tokens: z.array(z.string().min(1).max(500)).max(1000),
});
export type RepoAccess = z.infer<typeof RepoAccessSchema>;
export const RepoAccessListSchema = z.array(RepoAccessSchema).max(10_000);

export interface AccessDenied {
  status: 401 | 403 | 404;
  code: 'GatedRepo' | 'RepoNotFound';
  message: string;
}

function keyOf(ref: RepoRef): string {
  return ref.kind === 'dataset' ? `datasets/${ref.id}` : ref.id;
}

export class AccessList {
  private byRepo = new Map<string, RepoAccess>();
  constructor(rules: RepoAccess[] = []) {
    for (const r of rules) this.byRepo.set(r.repo, r);
  }

  /** null when the request may read the repository. */
  check(ref: RepoRef, authorization: string | undefined): AccessDenied | null {
    const rule = this.byRepo.get(keyOf(ref));
    if (!rule) return null;
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    const token = m?.[1];
    if (token !== undefined && rule.tokens.includes(token)) return null;
    const what = `${ref.kind === 'dataset' ? 'dataset' : 'model'} ${ref.id}`;
    if (rule.mode === 'private') {
      // The hub does not reveal that a private repository exists.
      return { status: token === undefined ? 401 : 404, code: 'RepoNotFound', message: 'Repository not found' };
    }
    return token === undefined
      ? { status: 401, code: 'GatedRepo', message: `Access to ${what} is restricted. You must have access to it and be authenticated to access it. Please log in.` }
      : { status: 403, code: 'GatedRepo', message: `Access to ${what} is restricted and you are not in the authorized list.` };
  }

  flags(ref: RepoRef): { private: boolean; gated: false | 'manual' } {
    const rule = this.byRepo.get(keyOf(ref));
    return { private: rule?.mode === 'private', gated: rule?.mode === 'gated' ? 'manual' : false };
  }
}
