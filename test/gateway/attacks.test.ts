/**
 * Fault-and-attack suite (issue 10): the gateway in front of a lying upstream (test/gateway/liar.ts,
 * a proxy to the real local hub that answers chosen requests itself), and the real huggingface_hub
 * client or a keep-alive httpx client wherever the effect is client-visible. Each test names the
 * defect it pins down; each failed against the code before its fix.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../../src/gateway/config.js';
import { RedisFlight } from '../../src/gateway/flight-redis.js';
import { createGateway, type GatewayDeps } from '../../src/gateway/server.js';
import { openBlobStore } from '../../src/store/blobs-open.js';
import type { BlobStore } from '../../src/store/types.js';
import { ADMIN, HAVE_PYTHON, PYTHON, startStack, tempHome, type Stack } from './stack.js';
import { pathOf, startLiar, type Liar } from './liar.js';

const run = promisify(execFile);

const POLICY = `
version: attacks-1
rules:
  repositories:
    action: block
    deny: ['acme/denied-*', 'acme/resolve']
  upstream-verdict:
    action: block
  remote-code:
    action: block
`;

let s: Stack;
let liar: Liar;

/**
 * Unique, plainly harmless bytes: text the scanner judges clean. Random bytes are not: about one
 * 64 KiB buffer in 200 sniffs as a pickle or msgpack and is (rightly) refused, which would flake.
 */
function filler(n: number): Buffer {
  const line = `modelgate attack-suite filler ${randomBytes(8).toString('hex')}\n`;
  return Buffer.from(line.repeat(Math.ceil(n / line.length)).slice(0, n));
}

function repo(name: string, files: Record<string, Buffer | string>): void {
  const dir = join(s.repos, 'acme', name);
  for (const [f, bytes] of Object.entries(files)) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), bytes);
  }
}

async function get(path: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const r = await fetch(s.base + path, init);
  return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

interface AuditRow {
  verdict: string;
  method: string;
  path: string | null;
  message: string | null;
  rules: Array<{ rule: string }>;
}

async function audit(repoId: string): Promise<AuditRow[]> {
  const r = await fetch(`${s.base}/admin/audit?repo=${encodeURIComponent(repoId)}&limit=100`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return ((await r.json()) as { records: AuditRow[] }).records;
}

/** The real huggingface_hub client, with a Hub token set (to see where it goes). */
async function hf(action: string, repoId: string, file?: string, token?: string): Promise<{ ok: boolean; message?: string; chain?: string[]; files?: string[] }> {
  const home = tempHome();
  const { stdout } = await run(PYTHON, [join(import.meta.dirname, 'hf_client.py'), action, repoId, ...(file ? [file] : [])], {
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: home,
      HF_HOME: home,
      HF_ENDPOINT: s.base,
      HF_HUB_DISABLE_TELEMETRY: '1',
      HF_HUB_DISABLE_PROGRESS_BARS: '1',
      HF_HUB_DISABLE_XET: '1',
      HF_HUB_ETAG_TIMEOUT: '30',
      HF_HUB_DOWNLOAD_TIMEOUT: '30',
      ...(token ? { HF_TOKEN: token } : {}),
    },
    timeout: 120_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as { ok: boolean; message?: string; chain?: string[]; files?: string[] };
}

/** Answer HEAD (and GET) of one resolve path with these headers instead of the hub's. */
function lieAboutResolve(match: (req: IncomingMessage) => boolean, status: number, headers: Record<string, string>, body: Buffer = Buffer.alloc(0)): void {
  liar.handlers.push((req, res) => {
    if (!match(req)) return false;
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  });
}

const SMUGGLED = 'HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 8\r\nx-repo-commit: 0000000000000000000000000000000000000000\r\n\r\nSMUGGLED';
const PREFIX = Buffer.from('plain notes, nothing to see here\n'.repeat(4));
const CARRIER = Buffer.concat([PREFIX, Buffer.from(SMUGGLED)]);
const DRIP_CONFIG = Buffer.from(JSON.stringify({ model_type: 'bert' }));
const CARRIER_SHA = createHash('sha256').update(CARRIER).digest('hex');

beforeAll(async () => {
  liar = await startLiar();
  s = await startStack({ policy: POLICY, config: { upstream: liar.url, factsTimeoutMs: 2000 } });
  liar.target = s.hub.url;
  repo('carrier', { 'notes.bin': CARRIER });
  repo('smuggle', { 'weights.bin': PREFIX });
  for (const st of [201, 204, 206, 304]) repo(`status-${st}`, { 'weights.bin': filler(4096) });
  repo('head-204', { 'weights.bin': filler(4096) });
  repo('hub-flagged', {
    'weights.bin': filler(4096),
    'other.bin': filler(4096),
    '.hub-security.json': JSON.stringify({ scansDone: true, files: { 'weights.bin': { status: 'unsafe' }, 'other.bin': { status: 'safe' } } }),
  });
  repo('storm', { 'weights.bin': filler(64 * 1024) });
  repo('drip-config', { 'config.json': DRIP_CONFIG, 'weights.bin': filler(4096) });
  repo('weird-etag', { 'notes.txt': 'hello\n' });
  repo('throws', { 'weights.bin': filler(4096) });
  // A repository named `resolve`: its download URL reads two ways.
  repo('resolve', { 'weights.bin': filler(4096) });
}, 60_000);

afterAll(async () => {
  await s?.close();
  await liar?.close();
});

describe('1: response desync', () => {
  it('an upstream that names a cached blob with a smaller size is refused (502, audited); a keep-alive client never reads a smuggled response', async () => {
    const first = await get('/acme/carrier/resolve/main/notes.bin');
    expect(first.status).toBe(200);
    expect(first.body).toEqual(CARRIER);
    const commit = (await fetch(`${s.hub.url}/acme/smuggle/resolve/main/weights.bin`, { method: 'HEAD' })).headers.get('x-repo-commit')!;
    // The lie: the carrier's sha256, with the size of its innocent prefix.
    lieAboutResolve((req) => pathOf(req).startsWith('/acme/smuggle/resolve/') && pathOf(req).endsWith('/weights.bin'), 200, {
      'x-repo-commit': commit,
      etag: `"${CARRIER_SHA}"`,
      'x-linked-etag': `"${CARRIER_SHA}"`,
      'x-linked-size': String(PREFIX.length),
      'content-length': String(PREFIX.length),
    });
    const script = [
      'import httpx, json, sys',
      'base = sys.argv[1]',
      'out = []',
      'with httpx.Client(timeout=30) as c:',
      '    for p in ["/acme/smuggle/resolve/main/weights.bin", "/acme/evil-bert/resolve/main/pytorch_model.bin"]:',
      '        try:',
      '            r = c.get(base + p)',
      '            out.append({"status": r.status_code, "body": r.content[:200].decode("latin1"), "error": r.headers.get("x-error-message")})',
      '        except Exception as e:',
      '            out.append({"exception": type(e).__name__ + ": " + str(e)})',
      'print(json.dumps(out))',
    ].join('\n');
    if (HAVE_PYTHON) {
      const { stdout } = await run(PYTHON, ['-c', script, s.base], { timeout: 60_000 });
      const [a, b] = JSON.parse(stdout) as Array<{ status?: number; body?: string; error?: string; exception?: string }>;
      expect(a!.status).toBe(502);
      expect(a!.error).toBe(`refused by modelgate: upstream announced ${PREFIX.length} bytes for weights.bin with sha256 ${CARRIER_SHA.slice(0, 16)}..., but the verified copy of that sha256 has ${CARRIER.length} bytes; nothing was served`);
      expect(b!.status).toBe(403);
      expect(JSON.stringify([a, b])).not.toContain('SMUGGLED');
    }
    const recs = (await audit('acme/smuggle')).filter((r) => r.path === 'weights.bin' && r.method === 'GET');
    expect(recs.length).toBeGreaterThan(0);
    expect(recs[0]!.verdict).toBe('error');
    expect(recs[0]!.message).toContain(`verified copy of that sha256 has ${CARRIER.length} bytes`);
  });

  it.skipIf(!HAVE_PYTHON)('the real huggingface_hub client gets the refusal, not the file', async () => {
    const r = await hf('download', 'acme/smuggle', 'weights.bin');
    expect(r.ok).toBe(false);
    expect(JSON.stringify(r.chain)).toContain(`verified copy of that sha256 has ${CARRIER.length} bytes`);
  });
});

describe('6: unexpected upstream statuses', () => {
  it.each([201, 204, 206, 304])('a download answered %i is a 502 with a message, never forwarded', async (status) => {
    lieAboutResolve((req) => req.method === 'GET' && pathOf(req).startsWith(`/acme/status-${status}/resolve/`), status, { 'content-type': 'application/json' }, status === 204 || status === 304 ? Buffer.alloc(0) : Buffer.from('{"error":"nope"}'));
    const r = await get(`/acme/status-${status}/resolve/main/weights.bin`);
    expect(r.status).toBe(502);
    expect(r.headers.get('x-error-message')).toBe(`modelgate: upstream answered ${status} to the download (expected 200)`);
    if (status === 206 && HAVE_PYTHON) {
      const py = await hf('download', 'acme/status-206', 'weights.bin');
      expect(py.ok).toBe(false);
      expect(JSON.stringify(py.chain)).toContain('upstream answered 206 to the download (expected 200)');
    }
  });

  it("upstream's rate limit reaches the client as a 429 with its Retry-After", async () => {
    repo('rate-limited', { 'weights.bin': filler(4096) });
    let left = 1;
    liar.handlers.push((req, res) => {
      if (!(req.method === 'GET' && pathOf(req).startsWith('/acme/rate-limited/resolve/')) || left <= 0) return false;
      left--;
      res.writeHead(429, { 'retry-after': '7', 'x-error-message': 'slow down' });
      res.end();
      return true;
    });
    const r = await get('/acme/rate-limited/resolve/main/weights.bin');
    expect([r.status, r.headers.get('retry-after'), r.headers.get('x-error-message')]).toEqual([429, '7', 'slow down']);
    expect((await get('/acme/rate-limited/resolve/main/weights.bin')).status).toBe(200);
  });

  it('an API call answered 206 or 304 is a 502, not passed on', async () => {
    for (const status of [206, 304]) {
      const fragment = `/api/models/acme/tiny-bert/tree/`;
      let left = 1;
      liar.handlers.push((req, res) => {
        if (!(req.method === 'GET' && pathOf(req).startsWith(fragment)) || left <= 0) return false;
        left--;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(status === 304 ? undefined : '[]');
        return true;
      });
      const r = await get('/api/models/acme/tiny-bert/tree/main');
      expect([r.status, r.headers.get('x-error-message')]).toEqual([502, `modelgate: upstream answered ${status} to /api/models/acme/tiny-bert (expected 200)`]);
    }
  });

  it('a metadata request answered 204 is a 502, not a file', async () => {
    const head = await fetch(`${s.hub.url}/acme/head-204/resolve/main/weights.bin`, { method: 'HEAD' });
    const headers: Record<string, string> = {};
    head.headers.forEach((v, k) => (headers[k] = v));
    lieAboutResolve((req) => req.method === 'HEAD' && pathOf(req).startsWith('/acme/head-204/resolve/'), 204, headers);
    const r = await get('/acme/head-204/resolve/main/weights.bin');
    expect(r.status).toBe(502);
    expect(r.headers.get('x-error-message')).toBe('modelgate: upstream answered 204 to the metadata request (expected 200 or a redirect)');
  });
});

describe('7: pagination links to another host', () => {
  it('a foreign Link is dropped; huggingface_hub never sends the token to that host', async () => {
    const seen: Array<string | undefined> = [];
    const foreign = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('[]');
    });
    await new Promise<void>((r) => foreign.listen(0, '127.0.0.1', r));
    const foreignUrl = `http://localhost:${(foreign.address() as AddressInfo).port}`;
    liar.handlers.push(async (req, res) => {
      if (!(req.method === 'GET' && pathOf(req).startsWith('/api/models/acme/tiny-bert/tree/'))) return false;
      const up = await fetch(liar.target + req.url);
      res.writeHead(up.status, { 'content-type': 'application/json', link: `<${foreignUrl}/api/models/acme/tiny-bert/tree/main?cursor=steal>; rel="next"` });
      res.end(Buffer.from(await up.arrayBuffer()));
      return true;
    });
    try {
      const r = await get('/api/models/acme/tiny-bert/tree/main?recursive=true');
      expect(r.status).toBe(200);
      expect(r.headers.get('link')).toBeNull();
      if (HAVE_PYTHON) {
        const py = await hf('list', 'acme/tiny-bert', undefined, 'hf_user_secret_token_0123456789');
        expect(py.ok).toBe(true);
        expect(py.files).toEqual(['README.md', 'config.json', 'model.safetensors']);
      }
      expect(seen).toEqual([]);
    } finally {
      foreign.closeAllConnections();
      foreign.close();
    }
  });

  it('a link on the upstream itself is rewritten to the gateway', async () => {
    const { rewriteLink } = await import('../../src/gateway/routes/api.js');
    expect(rewriteLink('<https://hub.example/api/models/a/b/tree/main?cursor=x>; rel="next"', 'https://hub.example', 'http://gw:1')).toBe('<http://gw:1/api/models/a/b/tree/main?cursor=x>; rel="next"');
    expect(rewriteLink('<https://evil.example/api/models/a/b/tree/main?cursor=x>; rel="next"', 'https://hub.example', 'http://gw:1')).toBeNull();
    expect(rewriteLink('<//evil.example/x>; rel="next", </api/x?c=1>; rel="prev"', 'https://hub.example', 'http://gw:1')).toBe('<http://gw:1/api/x?c=1>; rel="prev"');
  });
});

describe('2: upstream-verdict fails closed', () => {
  it('a failed repo-info lookup is unknown (blocked), is not cached, and the next request sees the hub verdict', async () => {
    let failures = 1;
    liar.handlers.push((req, res) => {
      if (!(req.method === 'GET' && pathOf(req).startsWith('/api/models/acme/hub-flagged/revision/')) || failures <= 0) return false;
      failures--;
      res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' });
      res.end('{"error":"slow down"}');
      return true;
    });
    const first = await get('/acme/hub-flagged/resolve/main/weights.bin');
    expect(first.status).toBe(403);
    expect(first.headers.get('x-error-message')).toMatch(/^blocked by modelgate: the upstream hub's verdict on acme\/hub-flagged is unknown \(it could not be fetched\) \(rule upstream-verdict\)/);
    const second = await get('/acme/hub-flagged/resolve/main/weights.bin');
    expect(second.status).toBe(403);
    expect(second.headers.get('x-error-message')).toMatch(/^blocked by modelgate: weights\.bin is marked unsafe by the upstream hub \(rule upstream-verdict\)/);
    const other = await get('/acme/hub-flagged/resolve/main/other.bin');
    expect(other.status).toBe(200);
  });
});

describe('9: repository rules decide before any download', () => {
  it('a deny-listed repository is refused without a download request upstream', async () => {
    const r = await get('/acme/denied-bert/resolve/main/model.safetensors');
    expect(r.status).toBe(403);
    expect(r.headers.get('x-error-message')).toMatch(/^blocked by modelgate: acme\/denied-bert is denied by "acme\/denied-\*" \(rule repositories\)/);
    expect(liar.seen('GET', '/acme/denied-bert/resolve/')).toEqual([]);
    const recs = await audit('acme/denied-bert');
    expect(recs.find((x) => x.path === 'model.safetensors')?.verdict).toBe('block');
  });
});

describe('10: API storms', () => {
  it('200 concurrent GETs of one file make one repo-info call and one download', async () => {
    const before = liar.seen('GET', '/api/models/acme/storm/').length;
    const all = await Promise.all(Array.from({ length: 200 }, () => get('/acme/storm/resolve/main/weights.bin')));
    expect(all.map((r) => r.status)).toEqual(Array(200).fill(200));
    expect(liar.seen('GET', '/api/models/acme/storm/').length - before).toBe(1);
    expect(liar.seen('GET', '/acme/storm/resolve/').length).toBe(1);
  });
});

describe('8: deadlines', () => {
  it('a config.json that drips cannot hold the repository: past factsTimeoutMs the custom-code fact is unknown', async () => {
    liar.handlers.push((req, res) => {
      if (!(req.method === 'GET' && pathOf(req).startsWith('/acme/drip-config/resolve/') && pathOf(req).endsWith('/config.json'))) return false;
      // The real length, one byte every half second: every read is prompt, the whole takes 11 s.
      res.writeHead(200, { 'content-length': String(DRIP_CONFIG.length) });
      let i = 0;
      const t = setInterval(() => {
        res.write(DRIP_CONFIG.subarray(i, i + 1));
        if (++i === DRIP_CONFIG.length) {
          clearInterval(t);
          res.end();
        }
      }, 500);
      res.on('close', () => clearInterval(t));
      return true;
    });
    const t0 = Date.now();
    const r = await get('/acme/drip-config/resolve/main/weights.bin');
    expect(r.status).toBe(403);
    expect(r.headers.get('x-error-message')).toMatch(/acme\/drip-config: whether it needs trust_remote_code is unknown \(config\.json was not read within factsTimeoutMs \(2000 ms\)\) \(rule remote-code\)/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  }, 30_000);
});

describe('11: smaller holes', () => {
  it('HEAD of a blocked file makes the same decision as GET and is audited', async () => {
    const r = await fetch(`${s.base}/acme/evil-bert/resolve/main/pytorch_model.bin`, { method: 'HEAD' });
    // The metadata stays (clients show the reason when the GET is refused: docs/hub-protocol.md).
    expect(r.status).toBe(200);
    const recs = (await audit('acme/evil-bert')).filter((x) => x.method === 'HEAD' && x.path === 'pytorch_model.bin');
    expect(recs[0]?.verdict).toBe('block');
    expect(recs[0]?.message).toMatch(/^blocked by modelgate: pytorch_model\.bin calls os\.system/);
  });

  it('a regular file whose ETag is neither a git blob id nor a sha256 is refused, not served unverified', async () => {
    const head = await fetch(`${s.hub.url}/acme/weird-etag/resolve/main/notes.txt`, { method: 'HEAD' });
    lieAboutResolve((req) => pathOf(req).startsWith('/acme/weird-etag/resolve/'), 200, { 'x-repo-commit': head.headers.get('x-repo-commit')!, etag: '"v1-abc"', 'content-length': '6' }, Buffer.from('hello\n'));
    const r = await get('/acme/weird-etag/resolve/main/notes.txt');
    expect(r.status).toBe(502);
    expect(r.headers.get('x-error-message')).toMatch(/no hash to verify its bytes against/);
  });
});

describe('11: ambiguous resolve URLs', () => {
  it('refuses a URL that names repository org/resolve or repository org at revision resolve, instead of judging one and fetching the other', async () => {
    // The hub (like huggingface.co) reads this as acme/resolve, which the policy denies.
    const hub = await fetch(`${s.hub.url}/acme/resolve/resolve/main/weights.bin`, { method: 'HEAD' });
    expect(hub.status).toBe(200);
    const r = await get('/acme/resolve/resolve/main/weights.bin');
    expect(r.status).toBe(400);
    expect(r.headers.get('x-error-message')).toBe('bad request: ambiguous URL: repository "acme/resolve", or repository "acme" at revision "resolve"; name the revision by its commit or use the API');
    expect(r.body.length).toBeLessThan(300);
    // Unambiguous forms still work: a single-segment repository at a revision named otherwise.
    expect((await get('/acme/resolve/resolve')).status).not.toBe(200);
  });
});

describe('16: structured findings', () => {
  it('pickle findings carry their verb and clause; the refusal is built from them', async () => {
    const r = await get('/acme/evil-bert/resolve/main/pytorch_model.bin');
    expect(r.status).toBe(403);
    // The refusal links to the user's refusal page; the report is found through the audit log.
    expect(r.headers.get('x-error-message')).toMatch(/\/console\/refusal\/[A-Za-z0-9_-]{43}$/);
    const res = await fetch(`${s.base}/admin/audit?repo=acme/evil-bert&verdict=block&limit=1`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const scanId = ((await res.json()) as { records: Array<{ scanId: string }> }).records[0]!.scanId;
    const report = (await (await fetch(`${s.base}/reports/${scanId}?format=json`)).json()) as { report: { findings: Array<{ rule: string; evidence: { verb?: string; phrase?: string; canonical?: string } }> } };
    const f = report.report.findings.find((x) => x.rule === 'PICKLE_DANGEROUS_GLOBAL')!;
    expect(f.evidence).toMatchObject({ verb: 'calls', phrase: 'calls os.system', canonical: 'os.system' });
  });

  it('custom-code files come from the finding as a list, each file counted', async () => {
    repo('remote3', {
      'config.json': JSON.stringify({ model_type: 'x', auto_map: { AutoConfig: 'configuration_x.XConfig', AutoModel: 'modeling_x.XModel', AutoTokenizer: ['tokenization_x.XTokenizer', null] } }),
      'weights.bin': filler(4096),
    });
    const r = await get('/acme/remote3/resolve/main/weights.bin');
    expect(r.status).toBe(403);
    expect(r.headers.get('x-error-message')).toMatch(/^blocked by modelgate: acme\/remote3 needs trust_remote_code \(configuration_x\.py, modeling_x\.py, 1 more\) \(rule remote-code\)/);
  });
});

describe('16: one exit per request', () => {
  it('a throw in the decision step is answered and audited', async () => {
    const gk = s.gw.ctx.gatekeeper;
    const original = gk.decide.bind(gk);
    gk.decide = () => Promise.reject(new Error('decision exploded'));
    try {
      const r = await get('/acme/throws/resolve/main/weights.bin');
      expect(r.status).toBe(500);
      expect(r.headers.get('x-error-message')).toBe('modelgate internal error: decision exploded');
    } finally {
      gk.decide = original;
    }
    const recs = (await audit('acme/throws')).filter((x) => x.path === 'weights.bin');
    expect(recs[0]?.verdict).toBe('error');
    expect(recs[0]?.message).toBe('modelgate internal error: decision exploded');
  });
});

/** A bare HTTP server for the upstream client's own tests; records what each request carried. */
async function bare(handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void): Promise<{ url: string; seen: IncomingMessage['headers'][]; close: () => void }> {
  const seen: IncomingMessage['headers'][] = [];
  const srv = createServer((req, res) => {
    seen.push(req.headers);
    handler(req, res);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    seen,
    close: () => {
      srv.closeAllConnections();
      srv.close();
    },
  };
}

describe('15: CDN hosts', () => {
  it("the Hub's CDN domains match by suffix by default; look-alikes do not", async () => {
    const { hostAllowed } = await import('../../src/gateway/upstream.js');
    const { loadGatewayConfig } = await import('../../src/gateway/config.js');
    const hosts = loadGatewayConfig({ env: {} }).upstreamRedirectHosts;
    for (const h of ['cas-bridge.xethub.hf.co', 'cdn-lfs.hf.co', 'cdn-lfs-us-1.hf.co', 'cdn-lfs-eu-3.hf.co', 'cdn-lfs.huggingface.co', 'cdn-lfs-us-1.huggingface.co', 'cdn-lfs-new.huggingface.co']) {
      expect(hostAllowed(h, 'huggingface.co', hosts), h).toBe(true);
    }
    for (const h of ['evil.example', 'hf.co.evil.example', 'xhf.co', 'huggingface.co.evil.example', 'evilhuggingface.co']) {
      expect(hostAllowed(h, 'huggingface.co', hosts), h).toBe(false);
    }
    expect(loadGatewayConfig({ env: { MODELGATE_UPSTREAM_REDIRECT_HOSTS: 'cdn.example, .mirror.example' } }).upstreamRedirectHosts).toEqual(['cdn.example', '.mirror.example']);
  });

  it('a redirect to another allowed host is followed without credentials; a refused one names the setting', async () => {
    const { Upstream } = await import('../../src/gateway/upstream.js');
    const body = Buffer.from('cdn bytes');
    const cdn = await bare((_req, res) => res.end(body));
    const cdnAlias = cdn.url.replace('127.0.0.1', 'localhost');
    const origin = await bare((req, res) => {
      res.writeHead(302, { location: `${cdnAlias}${req.url}` });
      res.end();
    });
    try {
      const open = new Upstream({ base: origin.url, redirectHosts: ['localhost'], timeoutMs: 5000 });
      const got: Buffer[] = [];
      await open.download(`${origin.url}/f`, { authorization: 'Bearer hf_secret' }, body.length, async (c) => void got.push(Buffer.from(c)));
      expect(Buffer.concat(got)).toEqual(body);
      expect(origin.seen[0]!.authorization).toBe('Bearer hf_secret');
      expect(cdn.seen[0]!.authorization).toBeUndefined();
      await open.close();
      const closed = new Upstream({ base: origin.url, redirectHosts: ['.hf.co'], timeoutMs: 5000 });
      await expect(closed.download(`${origin.url}/f`, {}, body.length, async () => undefined)).rejects.toThrow(
        `upstream redirected the download to unexpected host ${new URL(cdnAlias).host}; allow it with upstreamRedirectHosts (MODELGATE_UPSTREAM_REDIRECT_HOSTS)`,
      );
      await closed.close();
    } finally {
      cdn.close();
      origin.close();
    }
  });
});

describe('8: upstream bounds', () => {
  it('a download that drips within every read timeout still ends at the overall deadline', async () => {
    const { Upstream } = await import('../../src/gateway/upstream.js');
    const drip = await bare((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      const t = setInterval(() => res.write('x'), 100);
      res.on('close', () => clearInterval(t));
    });
    const up = new Upstream({ base: drip.url, redirectHosts: [], timeoutMs: 5000, downloadTimeoutMs: 1500 });
    try {
      const t0 = Date.now();
      await expect(up.download(`${drip.url}/f`, {}, 1000, async () => undefined)).rejects.toThrow(/^upstream download exceeded the overall deadline of 1500 ms after \d+ of 1000 bytes \(downloadTimeoutMs\)$/);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      await up.close();
      drip.close();
    }
  });

  it('an API answer larger than the cap is refused, declared or not', async () => {
    const { Upstream } = await import('../../src/gateway/upstream.js');
    const big = Buffer.alloc(300 * 1024, 0x20);
    const srv = await bare((req, res) => {
      if (req.url === '/declared') res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(big.length) });
      else res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.end(big);
    });
    const up = new Upstream({ base: srv.url, redirectHosts: [], timeoutMs: 5000, apiMaxBytes: 100 * 1024 });
    try {
      await expect(up.api('GET', '/declared', {})).rejects.toThrow(`upstream API answer of ${big.length} bytes exceeds the 102400-byte limit (upstreamApiMaxBytes)`);
      await expect(up.api('GET', '/chunked', {})).rejects.toThrow('upstream API answer exceeds the 102400-byte limit (upstreamApiMaxBytes)');
    } finally {
      await up.close();
      srv.close();
    }
  });
});

describe('11: Redis down, disk full, readiness', () => {
  /** A second gateway on the same data directory (store and cache), with its own faults. */
  async function second(deps: GatewayDeps, config: Record<string, unknown> = {}): Promise<{ base: string; close: () => Promise<void> }> {
    const cfg = loadGatewayConfig({
      env: {},
      flags: { host: '127.0.0.1', port: 0, upstream: liar.url, dataDir: s.dataDir, logLevel: 'silent', scanWorkers: 1, policy: join(s.dataDir, 'policy.yaml'), ...config },
    });
    const gw = await createGateway(cfg, deps);
    return { base: await gw.listen(), close: () => gw.close() };
  }

  it('with Redis down, files already judged are still served; new work is refused (503) naming Redis', async () => {
    repo('fresh-redis', { 'weights.bin': filler(4096) });
    expect((await get('/acme/tiny-bert/resolve/main/config.json')).status).toBe(200);
    const flight = new RedisFlight({ url: 'redis://127.0.0.1:1' });
    const g = await second({ flight });
    try {
      const cached = await fetch(`${g.base}/acme/tiny-bert/resolve/main/config.json`);
      expect(cached.status).toBe(200);
      const fresh = await fetch(`${g.base}/acme/fresh-redis/resolve/main/weights.bin`);
      expect(fresh.status).toBe(503);
      expect(fresh.headers.get('x-error-message')).toMatch(/^modelgate: the download coordinator \(Redis\) is unavailable \(.*\); files not yet judged are refused until it is back$/);
    } finally {
      await g.close();
      await flight.close();
    }
  });

  it('a full cache disk is named as such (503), not blamed on the upstream', async () => {
    repo('fresh-disk', { 'weights.bin': filler(4096) });
    const real = await openBlobStore(undefined, s.dataDir);
    const full: BlobStore = {
      has: (h) => real.has(h),
      localPath: (h) => real.localPath(h),
      size: (h) => real.size(h),
      sweep: async () => 0,
      async create() {
        const w = await real.create();
        return {
          tempPath: w.tempPath,
          get written() {
            return w.written;
          },
          write: () => Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })),
          finish: () => w.finish(),
          commit: (h: string) => w.commit(h),
          abort: () => w.abort(),
        };
      },
    };
    const g = await second({ blobs: full });
    try {
      const r = await fetch(`${g.base}/acme/fresh-disk/resolve/main/weights.bin`);
      expect(r.status).toBe(503);
      expect(r.headers.get('x-error-message')).toBe("modelgate storage unavailable: the gateway's cache disk could not take the download (ENOSPC: the cache disk is full)");
    } finally {
      await g.close();
    }
  });

  it('/readyz reports the disk and the upstream', async () => {
    const dead = await bare(() => undefined);
    const deadUrl = dead.url;
    dead.close();
    const g = await second({}, { upstream: deadUrl });
    try {
      const r = await fetch(`${g.base}/readyz`);
      expect([r.status, await r.json()]).toEqual([503, { status: 'not ready', store: true, disk: true, upstream: false, upstreamError: `connection refused by ${new URL(deadUrl).host}` }]);
    } finally {
      await g.close();
    }
    const ok = await fetch(`${s.base}/readyz`);
    expect([ok.status, await ok.json()]).toEqual([200, { status: 'ready', store: true, disk: true, upstream: true }]);
  });
});
