/**
 * Where the gateway's requests to the upstream may go, and with which credentials: the user's
 * (or the service's) Hub token goes to the upstream's own origin only, and no redirect leaves TLS.
 */
import { describe, expect, it } from 'vitest';
import { credentialsFor, redirectTarget, UpstreamError } from '../../src/gateway/upstream.js';

const BASE = new URL('https://huggingface.co');
const AUTH = { authorization: 'Bearer hf_user_token' };

describe('upstream redirects and credentials', () => {
  it('sends credentials to the same scheme, host and port only', () => {
    expect(credentialsFor(new URL('https://huggingface.co/api/resolve-cache/x'), BASE, AUTH)).toEqual(AUTH);
    expect(credentialsFor(new URL('http://huggingface.co/acme/x/resolve/main/f'), BASE, AUTH)).toEqual({});
    expect(credentialsFor(new URL('https://huggingface.co:8443/acme/x'), BASE, AUTH)).toEqual({});
    expect(credentialsFor(new URL('https://cdn-lfs.hf.co/repos/x'), BASE, AUTH)).toEqual({});
  });

  it('refuses a redirect out of TLS or out of HTTP, and follows the others', () => {
    const from = new URL('https://huggingface.co/acme/x/resolve/main/f');
    expect(redirectTarget(from, '/api/resolve-cache/models/acme/x/abc/f').href).toBe('https://huggingface.co/api/resolve-cache/models/acme/x/abc/f');
    expect(redirectTarget(from, 'https://cdn-lfs.hf.co/repos/a/b').href).toBe('https://cdn-lfs.hf.co/repos/a/b');
    expect(() => redirectTarget(from, 'http://huggingface.co/acme/x/resolve/main/f')).toThrow(new UpstreamError('redirect', 'upstream redirected from https to http (huggingface.co); refused'));
    expect(() => redirectTarget(from, 'file:///etc/passwd')).toThrow(new UpstreamError('redirect', 'upstream redirected to a file: URL; refused'));
    // A plain-http upstream (a local hub) may redirect within http.
    expect(redirectTarget(new URL('http://127.0.0.1:8081/a'), '/b').href).toBe('http://127.0.0.1:8081/b');
  });
});
