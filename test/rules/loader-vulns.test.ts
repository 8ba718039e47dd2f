import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/core/package.js';
import { parseClientUserAgent, MAX_USER_AGENT_CHARS } from '../../src/rules/client-agent.js';
import {
  CVE_ID,
  GHSA_ID,
  fileFeatures,
  loaderVulnCatalogue,
  LoaderVulnCatalogueError,
  parseLoaderVulns,
  vulnerabilitiesForFile,
  vulnerabilitiesOfLibraries,
} from '../../src/rules/loader-vulns.js';
import { compareVersions, inRange, parseRange, parseVersion } from '../../src/rules/pep440.js';
import { PYTHON, runPython } from '../helpers/python.js';
import { pythonOf } from '../helpers/python-envs.mjs';

const root = packageRoot();
const HUB2 = pythonOf('MG_PYTHON_HUB2');

/** Whether an interpreter exists and imports these modules (tests needing it skip otherwise). */
function canImport(python: string, modules: string): boolean {
  if (python !== 'python3' && !existsSync(python)) return false;
  try {
    execFileSync(python, ['-c', `import ${modules}`], { stdio: 'ignore', timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}
const cat = loaderVulnCatalogue();

/**
 * The format ids the scanner can report, read from the analyzers' source: sniff claims
 * (`format: '…'`, including both arms of a conditional), `FORMAT` constants, and the refinements
 * the policy accepts (`container` and `format.detail` facts).
 */
function scannerFormatIds(): Set<string> {
  const ids = new Set<string>();
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
  const patterns = [
    /format:\s*'([a-z0-9-]+)'(?!\s+as\b)/g,
    /format:\s*[^,}\n]*\?\s*'([a-z0-9-]+)'\s*:\s*'([a-z0-9-]+)'/g,
    /const FORMAT = '([a-z0-9-]+)'/g,
    /ctx\.fact\('(?:container|format\.detail)',\s*'([a-z0-9-]+)'\)/g,
  ];
  for (const file of walk(join(root, 'src', 'formats'))) {
    const src = readFileSync(file, 'utf8');
    for (const re of patterns) for (const m of src.matchAll(re)) for (const id of m.slice(1)) if (id) ids.add(id);
  }
  return ids;
}

describe('pep440', () => {
  const v = (s: string) => {
    const p = parseVersion(s);
    if (!p) throw new Error(`unparsed ${s}`);
    return p;
  };
  const within = (version: string, range: string) => inRange(v(version), parseRange(range)!, version);

  it('parses releases, pre/post/dev and local labels', () => {
    expect(v('2.5.1+cpu')).toMatchObject({ release: [2, 5, 1], local: ['cpu'] });
    expect(v('2.6.0rc1')).toMatchObject({ release: [2, 6, 0], pre: ['rc', 1] });
    expect(v('1.0.post2.dev3')).toMatchObject({ post: 2, dev: 3 });
    expect(v('1!2.0')).toMatchObject({ epoch: 1 });
    expect(v('2.1.0a0+git5f1c2d')).toMatchObject({ pre: ['a', 0], local: ['git5f1c2d'] });
    expect(v('1.0-1')).toMatchObject({ post: 1 });
    expect(v('V3.0.0-Beta.2')).toMatchObject({ pre: ['b', 2] });
    expect(v('1.0+dev7')).toMatchObject({ dev: null, local: ['dev7'] });
  });

  it('refuses what is not a version', () => {
    for (const bad of ['', 'None', 'pytorch', 'False', '529f2a5a2d31467e882b52806de0e584', '1.2.3.4.5.6.7.8.9.10.11.12.13', '9'.repeat(16), 'x'.repeat(65), '1.0 ; rm', '..1']) {
      expect(parseVersion(bad), bad).toBeNull();
    }
  });

  it('orders as PEP 440 does', () => {
    const order = ['1.0.dev0', '1.0a1', '1.0b2', '1.0rc1', '1.0', '1.0+cpu', '1.0.post1.dev0', '1.0.post1', '1.1', '1!0.1'];
    for (let i = 0; i + 1 < order.length; i++) expect(compareVersions(v(order[i]!), v(order[i + 1]!)), `${order[i]} < ${order[i + 1]}`).toBe(-1);
    expect(compareVersions(v('2.5'), v('2.5.0'))).toBe(0);
  });

  it('matches ranges, ignoring the candidate local label and counting pre-releases of the fix', () => {
    expect(within('2.5.1+cpu', '<2.6.0')).toBe(true);
    expect(within('2.6.0+cu124', '<2.6.0')).toBe(false);
    expect(within('2.6.0rc1', '<2.6.0')).toBe(true);
    expect(within('2.6.0', '<2.6.0')).toBe(false);
    expect(within('1.4.2+local', '<=1.4.2')).toBe(true);
    expect(within('3.8.9', '>=3.0.0,<3.9.0')).toBe(true);
    expect(within('2.15.0', '>=3.0.0,<3.9.0')).toBe(false);
    expect(within('3.12.7', '==3.12.*')).toBe(true);
    expect(within('3.13.0', '==3.12.*')).toBe(false);
    expect(within('2.4.9', '~=2.4')).toBe(true);
    expect(within('3.0', '~=2.4')).toBe(false);
    expect(parseRange('>=3.0.0 <3.9.0')).toBeNull();
    expect(parseRange('<3.9.*')).toBeNull();
    expect(parseRange('')).toBeNull();
  });
});

describe('parsers on arbitrary input', () => {
  const versionText = fc
    .tuple(
      fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 4 }),
      fc.option(fc.tuple(fc.constantFrom('a', 'b', 'rc'), fc.integer({ min: 0, max: 5 }))),
      fc.option(fc.integer({ min: 0, max: 5 })),
      fc.option(fc.integer({ min: 0, max: 5 })),
    )
    .map(([rel, pre, post, dev]) => `${rel.join('.')}${pre ? `${pre[0]}${pre[1]}` : ''}${post !== null ? `.post${post}` : ''}${dev !== null ? `.dev${dev}` : ''}`);

  it('never throw, and stay bounded', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        parseVersion(s);
        parseRange(s);
        const a = parseClientUserAgent(s);
        expect(Object.keys(a.libraries).length).toBeLessThanOrEqual(64);
      }),
    );
  });

  it('order versions consistently (antisymmetric, transitive on triples)', () => {
    fc.assert(
      fc.property(versionText, versionText, versionText, (x, y, z) => {
        const [a, b, c] = [parseVersion(x)!, parseVersion(y)!, parseVersion(z)!];
        expect(Math.sign(compareVersions(a, b)) + Math.sign(compareVersions(b, a))).toBe(0);
        if (compareVersions(a, b) <= 0 && compareVersions(b, c) <= 0) expect(compareVersions(a, c)).toBeLessThanOrEqual(0);
      }),
    );
  });
});

describe('catalogue', () => {
  it('loads with a content version and caches', () => {
    expect(cat.version).toMatch(/^1\+[0-9a-f]{12}$/);
    expect(loaderVulnCatalogue()).toBe(cat);
    expect(cat.entries.length).toBeGreaterThanOrEqual(30);
  });

  it('covers the loaders the issue names', () => {
    const libs = new Set(cat.entries.map((e) => e.library));
    for (const lib of ['torch', 'keras', 'tensorflow', 'transformers', 'llama-cpp-python', 'jinja2', 'numpy', 'joblib', 'onnx', 'mlflow', 'nemo-toolkit']) expect(libs, lib).toContain(lib);
  });

  it('has well-formed ids, parseable ranges, URLs and fixes outside the ranges', () => {
    for (const e of cat.entries) {
      expect(CVE_ID.test(e.id) || GHSA_ID.test(e.id), e.id).toBe(true);
      for (const a of e.affected) expect(parseRange(a.text), `${e.id} ${a.text}`).not.toBeNull();
      for (const r of e.references) expect(new URL(r).protocol, `${e.id} ${r}`).toBe('https:');
      for (const f of e.fixed) {
        const fv = parseVersion(f);
        expect(fv, `${e.id} fixed ${f}`).not.toBeNull();
        for (const a of e.affected) expect(inRange(fv!, a.range, f), `${e.id}: ${f} in ${a.text}`).toBe(false);
      }
      expect(e.reason.length, e.id).toBeLessThan(260);
    }
  });

  it('names only format ids the scanner reports', () => {
    const known = scannerFormatIds();
    // The derivation itself must see the formats this catalogue leans on.
    for (const id of ['pickle', 'pytorch-zip', 'keras', 'keras-h5', 'gguf', 'onnx', 'npz', 'joblib']) expect(known, id).toContain(id);
    for (const e of cat.entries) for (const f of e.formats) expect(known, `${e.id} format ${f}`).toContain(f);
  });

  it('names the entry when one is invalid', () => {
    const doc = (entry: string) => `version: 1\nvulnerabilities:\n  - id: CVE-2025-32434\n    library: torch\n${entry}`;
    const base = '    fixed: ["2.6.0"]\n    formats: [pickle]\n    feature: weights_only\n    severity: critical\n    reason: r\n    references: ["https://nvd.nist.gov/vuln/detail/CVE-2025-32434"]\n';
    expect(parseLoaderVulns(doc(`    affected: ["<2.6.0"]\n${base}`))).toHaveLength(1);
    const bad = (entry: string, message: RegExp) => {
      let err: unknown;
      try {
        parseLoaderVulns(doc(entry));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LoaderVulnCatalogueError);
      expect((err as LoaderVulnCatalogueError).entry).toBe('CVE-2025-32434');
      expect((err as Error).message).toMatch(message);
    };
    bad(`    affected: ["< two"]\n${base}`, /affected range "< two"/);
    bad(`    affected: ["<2.7.0"]\n${base}`, /fixed version "2.6.0" falls inside/);
    bad(`    affected: ["<2.6.0"]\n${base.replace('https://nvd', 'nvd')}`, /is not an http\(s\) URL/);
    bad(`    affected: ["<2.6.0"]\n    requires: [pickle_magic]\n${base}`, /requires "pickle_magic"/);
    bad(`    affected: ["<2.6.0"]\n    cvss: 9.3\n${base}`, /unknown key "cvss"/);
    expect(() => parseLoaderVulns(doc(`    affected: ["<2.6.0"]\n${base}`).replace('CVE-2025-32434\n', 'CVE-25-1\n'))).toThrow(/CVE-25-1: "id" must be/);
    expect(() => parseLoaderVulns('version: 2\nvulnerabilities: []')).toThrow(/needs version: 1/);
  });
});

describe('matching a client against a file', () => {
  const ids = (libs: Record<string, string>, formats: string[], features: string[] = []) => vulnerabilitiesForFile(libs, { formats, features }).map((m) => m.id).sort();

  it('refuses a PyTorch checkpoint to a torch whose weights_only is bypassable, naming the fix', () => {
    const hits = vulnerabilitiesForFile({ torch: '2.5.1+cpu' }, { formats: ['zip', 'pytorch-zip'] });
    const byId = new Map(hits.map((h) => [h.id, h]));
    expect(byId.get('CVE-2025-32434')).toMatchObject({ library: 'torch', clientVersion: '2.5.1+cpu', fixedVersion: '2.6.0', severity: 'critical' });
    expect(byId.get('CVE-2026-24747')).toMatchObject({ fixedVersion: '2.10.0' });
  });

  it('torch 2.6.0 is past CVE-2025-32434 but not CVE-2026-24747; 2.10.0 is past both', () => {
    expect(ids({ torch: '2.6.0' }, ['zip', 'pytorch-zip'])).toEqual(['CVE-2026-24747']);
    expect(ids({ torch: '2.10.0' }, ['zip', 'pytorch-zip'])).toEqual([]);
    expect(ids({ torch: '2.6.0rc1' }, ['pickle'])).toEqual(['CVE-2025-32434', 'CVE-2026-24747']);
  });

  it('serves safetensors to the same vulnerable client', () => {
    expect(ids({ torch: '2.5.1', keras: '3.5.0', transformers: '4.30.0' }, ['safetensors'])).toEqual([]);
  });

  it('matches .keras archives against Keras, and only the keras library', () => {
    expect(ids({ keras: '3.10.0' }, ['zip', 'keras'])).toEqual(['CVE-2025-12058', 'CVE-2025-8747', 'CVE-2025-9906', 'CVE-2026-0897', 'CVE-2026-12480', 'CVE-2026-1462', 'CVE-2026-1669']);
    expect(ids({ keras: '3.8.0' }, ['zip', 'keras'])).toContain('CVE-2025-1550');
    expect(ids({ keras: '3.9.0' }, ['zip', 'keras'])).not.toContain('CVE-2025-1550');
    expect(ids({ keras: '3.15.1' }, ['zip', 'keras'])).toEqual([]);
    expect(ids({ torch: '2.0.0' }, ['zip', 'keras'])).toEqual([]);
    // 3.12.2 carries the backported virtual-dataset fix; 3.14.0 does not.
    expect(ids({ keras: '3.12.2' }, ['hdf5'])).toEqual(['CVE-2026-0897']);
    expect(ids({ keras: '3.14.0' }, ['hdf5'])).toEqual(['CVE-2026-12480']);
  });

  it('needs the file feature an entry requires', () => {
    expect(ids({ 'llama-cpp-python': '0.2.71' }, ['gguf'])).toEqual([]);
    expect(ids({ 'llama-cpp-python': '0.2.71' }, ['gguf'], ['chat_template'])).toEqual(['CVE-2024-34359']);
    expect(ids({ 'Llama_CPP.Python': '0.2.72' }, ['gguf'], ['chat_template'])).toEqual([]);
    expect(ids({ onnx: '1.20.1' }, ['onnx'])).toEqual([]);
    expect(ids({ onnx: '1.20.1' }, ['onnx'], ['external_data'])).toEqual(['CVE-2026-27489', 'CVE-2026-34445', 'CVE-2026-34447']);
  });

  it('normalises library names and ignores versions it cannot read', () => {
    expect(ids({ Llama_CPP_Python: '0.2.50' }, ['gguf'], ['chat_template'])).toEqual(['CVE-2024-34359']);
    expect(ids({ torch: 'None' }, ['pickle'])).toEqual([]);
    expect(ids(new Map([['Torch', '1.13.0']]) as unknown as Record<string, string>, ['pickle'])).toEqual(['CVE-2025-32434', 'CVE-2026-24747']);
  });

  it('reports library-only entries without a file (environments, BOM) with no fix when none exists', () => {
    const all = vulnerabilitiesOfLibraries({ tensorflow: '2.5.0', joblib: '1.4.2' });
    expect(all.map((m) => m.id).sort()).toEqual(['CVE-2021-37678', 'CVE-2024-34997']);
    expect(all.find((m) => m.id === 'CVE-2021-37678')!.fixedVersion).toBe('2.5.1');
    expect(all.find((m) => m.id === 'CVE-2024-34997')!.fixedVersion).toBeNull();
    expect(ids({ tensorflow: '2.5.0' }, ['text', 'json', 'hydra-yaml'])).toEqual([]);
  });

  it('derives file features from scan facts', () => {
    expect(fileFeatures({ chat_templates: ['chat_template'], 'onnx.external_data': ['weights.bin'] })).toEqual(['chat_template', 'external_data']);
    expect(fileFeatures({ chat_templates: [], 'remote_code.references': ['AutoModel=x.y'] })).toEqual(['remote_code']);
    expect(fileFeatures(undefined)).toEqual([]);
  });
});

describe('Hugging Face client User-Agent', () => {
  it('reads the huggingface_hub 1.x / transformers format', () => {
    const a = parseClientUserAgent('unknown/None; hf_hub/1.33.0; python/3.11.7; torch/2.13.0+cpu; transformers/5.18.0; session_id/c254fa04d33542dc9edcc18203a27b35; file_type/config; from_auto_class/True');
    expect(a).toEqual({
      client: 'huggingface_hub',
      libraries: { 'huggingface-hub': '1.33.0', python: '3.11.7', torch: '2.13.0+cpu', transformers: '5.18.0' },
      ignored: 4,
      truncated: false,
    });
  });

  it('reads the 0.x format with tensorflow/fastai pairs and matches it', () => {
    const a = parseClientUserAgent('transformers/4.46.0; hf_hub/0.26.2; python/3.11.7; torch/2.5.1; tensorflow/2.15.0; fastai/2.7.15; fastcore/1.5.29');
    expect(a.libraries).toMatchObject({ transformers: '4.46.0', torch: '2.5.1', tensorflow: '2.15.0', fastai: '2.7.15' });
    expect(vulnerabilitiesForFile(a.libraries, { formats: ['zip', 'pytorch-zip'] }).map((m) => m.id)).toContain('CVE-2025-32434');
  });

  it('recognises @huggingface/hub under Node, which names no library', () => {
    expect(parseClientUserAgent('node')).toEqual({ client: 'node', libraries: {}, ignored: 1, truncated: false });
  });

  it('is defensive with hostile headers', () => {
    expect(parseClientUserAgent(undefined)).toEqual({ client: 'unknown', libraries: {}, ignored: 0, truncated: false });
    const long = parseClientUserAgent(`torch/2.5.1; ${'x'.repeat(MAX_USER_AGENT_CHARS)}; keras/3.0.0`);
    expect(long.truncated).toBe(true);
    expect(long.libraries).toEqual({ torch: '2.5.1' });
    const junk = parseClientUserAgent('Mozilla/5.0 (X11; Linux x86_64); torch/2.5.1 ; torch/2.9.0; __proto__/1.0; constructor/1.0; a/b/c; =/1; keras/3.0.0 extra');
    expect(junk.libraries).toEqual({ torch: '2.5.1', constructor: '1.0' });
    expect(Object.getPrototypeOf(junk.libraries)).toBe(Object.prototype);
    const many = parseClientUserAgent(Array.from({ length: 200 }, (_, i) => `lib${i}/1.${i}`).join('; '));
    expect(Object.keys(many.libraries)).toHaveLength(64);
  });

  it.skipIf(!canImport(PYTHON, 'huggingface_hub, transformers, torch'))('parses what the real huggingface_hub sends, on the wire', () => {
    // A local server records the header of real downloads (it answers 404; only headers matter).
    const fx = runPython(`
import http.server, threading, json
seen = []
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        seen.append(self.headers.get('user-agent'))
        self.send_response(404); self.end_headers()
    do_HEAD = do_GET
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
threading.Thread(target=s.serve_forever, daemon=True).start()
os.environ['HF_ENDPOINT'] = f'http://127.0.0.1:{s.server_port}'
os.environ['HF_HUB_DISABLE_TELEMETRY'] = '0'
import huggingface_hub, transformers, torch
# The third call is what keras.saving.load_model('hf://a/b') does (keras/src/saving/saving_lib.py),
# made directly because Keras needs TensorFlow for hf:// paths.
for call in (lambda: huggingface_hub.hf_hub_download('a/b', 'model.bin', cache_dir=os.path.join(OUT, 'c')),
             lambda: transformers.AutoConfig.from_pretrained('a/b', cache_dir=os.path.join(OUT, 'c')),
             lambda: huggingface_hub.snapshot_download('a/b', library_name='keras', library_version='3.10.0', cache_dir=os.path.join(OUT, 'c'))):
    try: call()
    except Exception: pass
s.shutdown()
json.dump({'seen': seen, 'hub': huggingface_hub.__version__, 'torch': torch.__version__, 'transformers': transformers.__version__}, open(os.path.join(OUT, 'ua.json'), 'w'))
`);
    const got = JSON.parse(Buffer.from(fx.file('ua.json')).toString('utf8')) as { seen: string[]; hub: string; torch: string; transformers: string };
    const hubAgents = got.seen.filter((s) => s.includes('hf_hub/'));
    expect(hubAgents.length).toBeGreaterThan(0);
    for (const ua of hubAgents) {
      const a = parseClientUserAgent(ua);
      expect(a.client).toBe('huggingface_hub');
      expect(a.libraries['huggingface-hub']).toBe(got.hub);
      expect(a.libraries['torch']).toBe(got.torch);
    }
    expect(hubAgents.some((ua) => parseClientUserAgent(ua).libraries['transformers'] === got.transformers)).toBe(true);
    const keras = hubAgents.map(parseClientUserAgent).find((a) => a.libraries['keras'] !== undefined);
    expect(keras?.libraries['keras']).toBe('3.10.0');
    expect(vulnerabilitiesForFile(keras!.libraries, { formats: ['zip', 'keras'] }).map((m) => m.id)).toContain('CVE-2025-8747');
  }, 120_000);

  it.skipIf(!canImport(HUB2, 'huggingface_hub'))('parses build_hf_headers of huggingface_hub 2.x (no torch installed)', () => {
    const out = execFileSync(HUB2, ['-c', "import huggingface_hub as h; from huggingface_hub.utils import build_hf_headers as b; print(h.__version__); print(b(library_name='transformers', library_version='4.46.0')['user-agent'])"], { encoding: 'utf8' });
    const [version, ua] = out.trim().split('\n');
    const a = parseClientUserAgent(ua);
    expect(a.client).toBe('huggingface_hub');
    expect(a.libraries).toEqual({ transformers: '4.46.0', 'huggingface-hub': version, python: expect.stringMatching(/^3\.\d+\.\d+/) as unknown as string });
    expect(vulnerabilitiesForFile(a.libraries, { formats: ['pickle'] }).map((m) => m.id)).toEqual(['CVE-2024-11394']);
  });
});
