/**
 * The generated facts (rules/globals-facts.json, tools/introspect_globals.py) and what they change
 * in classification: module attributes that ARE dangerous modules, re-exported callables, standard-
 * library helpers that reach eval/exec/processes, kinds, and the catalogue version.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanBytes } from '../../src/index.js';
import {
  defaultFactsPath,
  defaultGlobalCatalogue,
  defaultGlobalsPath,
  loadGlobalCatalogue,
  packageRoot,
} from '../../src/rules/globals.js';
import { checkFactNames, parseGlobalFacts } from '../../src/rules/globals-facts.js';
import { asm, op, stackGlobal } from '../helpers/asm.js';
import { PYTHON } from '../helpers/python.js';

const cat = defaultGlobalCatalogue();
const facts = cat.facts;
/** The same YAML without the generated facts: what modelgate did before them. */
const yamlOnly = loadGlobalCatalogue(defaultGlobalsPath(), null);

describe('facts file', () => {
  it('records what it was generated from and has every section filled', () => {
    expect(facts.generated.python).toMatch(/^3\.\d+\.\d+$/);
    expect(facts.generated.command).toContain('tools/introspect_globals.py');
    for (const lib of ['torch', 'numpy', 'scikit-learn', 'scipy', 'pandas', 'joblib', 'transformers']) {
      const name = lib === 'scikit-learn' ? 'sklearn' : lib;
      expect(facts.generated.libraries[name], lib).toMatch(/^\d+\./);
    }
    expect(facts.moduleAliasCount).toBeGreaterThan(1000);
    expect(facts.reexportCount).toBeGreaterThan(500);
    expect(facts.reaches.filter((r) => r.verdict === 'dangerous').length).toBeGreaterThan(300);
  });

  it('is data, sorted and deterministic (each section in key order)', () => {
    const doc = JSON.parse(readFileSync(defaultFactsPath(), 'utf8')) as {
      moduleAliases: Record<string, string[]>;
      reexports: Record<string, string>;
      reaches: { path: string }[];
    };
    const sorted = (xs: string[]) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(Object.keys(doc.moduleAliases)).toEqual(sorted(Object.keys(doc.moduleAliases)));
    for (const paths of Object.values(doc.moduleAliases)) expect(paths).toEqual(sorted(paths));
    expect(Object.keys(doc.reexports)).toEqual(sorted(Object.keys(doc.reexports)));
    expect(doc.reaches.map((r) => r.path)).toEqual(sorted(doc.reaches.map((r) => r.path)));
  });

  it('makes no vetted safe entry dangerous (a reviewer decides such conflicts)', () => {
    expect(cat.factsConflicts()).toEqual([]);
  });

  it('keeps every reaches fact as evidence: sink, source location and a reference', () => {
    for (const r of facts.reaches) {
      expect(r.at, r.path).toMatch(/^Lib\/[\w/]+\.py:\d+$/);
      expect(r.reference, r.path).toMatch(/^https:\/\/github\.com\/python\/cpython\/blob\/v3\.\d+\.\d+\/Lib\/.+#L\d+$/);
      expect(r.reaches.length, r.path).toBeGreaterThan(0);
      if (r.verdict === 'reviewed-benign') expect(r.review?.length ?? 0, r.path).toBeGreaterThan(20);
    }
    const timeit = facts.reaches.find((r) => r.path === 'timeit.timeit');
    expect(timeit).toMatchObject({ sink: 'builtins.exec', reaches: ['exec'], verdict: 'dangerous' });
  });

  it('rejects malformed facts with the offending part named', () => {
    const ok = JSON.parse(readFileSync(defaultFactsPath(), 'utf8')) as Record<string, unknown>;
    const bad = (patch: Record<string, unknown>) => JSON.stringify({ ...ok, ...patch });
    expect(() => parseGlobalFacts('{', 'f.json')).toThrow(/f\.json: invalid JSON/);
    expect(checkFactNames(readFileSync(defaultFactsPath(), 'utf8'))).toEqual([]);
    expect(checkFactNames(bad({ moduleAliases: { os: ['a..b'] } }))).toEqual(['moduleAliases.os: "a..b"']);
    expect(() => parseGlobalFacts(bad({ moduleAliases: { os: 'random._os' } }), 'f.json')).toThrow(/moduleAliases\.os: must be a list of strings/);
    expect(() => parseGlobalFacts(bad({ kinds: { gadget: [] } }), 'f.json')).toThrow(/unknown kind "gadget"/);
    expect(() => parseGlobalFacts(bad({ reaches: [{ path: 'x.y', kind: 'function', verdict: 'maybe' }] }), 'f.json')).toThrow(/reaches\[0\]: verdict/);
  });
});

describe('catalogue version covers the facts', () => {
  it('changes when only the facts file changes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-facts-'));
    const yaml = join(dir, 'globals.yaml');
    copyFileSync(defaultGlobalsPath(), yaml);
    copyFileSync(defaultFactsPath(), join(dir, 'globals-facts.json'));
    const same = loadGlobalCatalogue(yaml);
    expect(same.version).toBe(cat.version);
    const doc = JSON.parse(readFileSync(defaultFactsPath(), 'utf8')) as { moduleAliases: Record<string, string[]> };
    doc.moduleAliases['os'] = [...(doc.moduleAliases['os'] ?? []), 'zzz_probe._os'];
    writeFileSync(join(dir, 'globals-facts.json'), JSON.stringify(doc));
    const changed = loadGlobalCatalogue(yaml);
    expect(changed.version).toMatch(/^1\+[0-9a-f]{12}$/);
    expect(changed.version).not.toBe(cat.version);
    expect(changed.classify('zzz_probe', '_os.system')).toMatchObject({ verdict: 'dangerous', canonical: 'os.system' });
    expect(yamlOnly.version).not.toBe(cat.version);
  });

  it('fails to load when the default facts file is missing, never silently without facts', () => {
    expect(() => loadGlobalCatalogue(defaultGlobalsPath(), join(packageRoot(), 'rules', 'nope.json'))).toThrow(/cannot read globals facts/);
  });
});

const split = (path: string): [string, string] => {
  const i = path.lastIndexOf('.');
  return [path.slice(0, i), path.slice(i + 1)];
};

describe('module attributes that are dangerous modules', () => {
  it('torch.serialization + os.system (STACK_GLOBAL, protocol 4) is os.system, critical', () => {
    expect(facts.rewrite('torch.serialization.os')).toBe('os');
    for (const [m, n] of [['torch.serialization', 'os.system'], ['torch.serialization.os', 'system']] as const) {
      expect(cat.classify(m, n)).toMatchObject({ verdict: 'dangerous', severity: 'critical', canonical: 'os.system', matched: 'os' });
    }
  });

  // Modules that import os (or subprocess, sys, builtins...) under ANOTHER name: no suffix of the
  // dotted path names the module, so before the facts these were merely unknown (medium).
  const renamed: [string, string, string][] = [
    ['random', '_os.system', 'os.system'],
    ['argparse', '_os.system', 'os.system'],
    ['collections', '_sys.modules', 'sys.modules'],
  ];
  it.each(renamed)('%s + %s reaches %s (was unknown without the facts)', (m, n, canonical) => {
    expect(yamlOnly.classify(m, n)).toMatchObject({ verdict: 'unknown', severity: 'medium' });
    const r = cat.classify(m, n);
    expect(r).toMatchObject({ verdict: 'dangerous', severity: 'critical', canonical });
    expect(r.reason).toContain(`${m}.${n} is ${canonical}`);
    expect(r.reason).toContain('rules/globals-facts.json');
  });

  it('follows chains hop by hop: email.utils.random is random, whose _os is os', () => {
    expect(facts.rewrite('email.utils.random')).toBe('random');
    expect(yamlOnly.classify('email.utils', 'random._os.system').verdict).toBe('unknown');
    expect(cat.classify('email.utils', 'random._os.system')).toMatchObject({ verdict: 'dangerous', severity: 'critical', canonical: 'os.system' });
  });

  it('every recorded alias to os reaches os.system critical, whatever the spelling', () => {
    const doc = JSON.parse(readFileSync(defaultFactsPath(), 'utf8')) as { moduleAliases: Record<string, string[]> };
    const paths = doc.moduleAliases['os'] ?? [];
    expect(paths.length).toBeGreaterThan(100);
    const wrong = paths
      .map((p) => ({ p, r: cat.classify(...split(`${p}.system`)), before: yamlOnly.classify(...split(`${p}.system`)) }))
      .filter(({ r, before }) => {
        if (r.verdict !== 'dangerous' || r.severity !== 'critical') return true;
        // a path already critical as written keeps its name (asyncio.events.os.system); others are os.system
        return before.severity !== 'critical' && r.canonical !== 'os.system';
      })
      .map(({ p, r }) => `${p}: ${r.verdict} ${r.severity} ${r.canonical}`);
    expect(wrong).toEqual([]);
  });

  it('marks a path naming a module with kind module', () => {
    expect(cat.classify('random', '_os').kind).toBe('module');
  });
});

describe('standard-library helpers that reach eval, exec or processes', () => {
  it('timeit.timeit is critical with a reason saying it executes code', () => {
    const r = cat.classify('timeit', 'timeit');
    expect(r).toMatchObject({ verdict: 'dangerous', severity: 'critical', canonical: 'timeit.timeit', matched: 'timeit.timeit', kind: 'function' });
    expect(r.reason).toMatch(/^executes code \(exec\): calls builtins\.exec at Lib\/timeit\.py:\d+ through timeit\.Timer/);
    expect(r.references[0]).toMatch(/cpython\/blob\/v3\.\d+\.\d+\/Lib\/timeit\.py#L\d+/);
  });

  // Helpers outside every dangerous entry of globals.yaml: unknown (medium) before the facts.
  const helpers: [string, RegExp][] = [
    ['typing.get_type_hints', /evaluates code \(eval\)/],
    ['warnings._getcategory', /imports modules by name/],
    ['rlcompleter.Completer.attr_matches', /evaluates code \(eval\)/],
    ['gettext.c2py', /executes code \(exec\)/],
    ['dataclasses._create_fn', /executes code \(exec\)/],
    ['optparse.Values.read_file', /executes code \(exec\)/],
  ];
  it.each(helpers)('%s is critical (was unknown)', (path, reason) => {
    expect(yamlOnly.classify(...split(path)).verdict).toBe('unknown');
    const r = cat.classify(...split(path));
    expect(r).toMatchObject({ verdict: 'dangerous', severity: 'critical', canonical: path });
    expect(r.reason).toMatch(reason);
  });

  it('says when only a call is dangerous (reaches facts), never for names dangerous on import', () => {
    expect(cat.classify('timeit', 'timeit').onlyWhenCalled).toBe(true);
    expect(cat.classify('dataclasses', '_create_fn').onlyWhenCalled).toBe(true);
    expect(cat.classify('os', 'system').onlyWhenCalled).toBeUndefined();
    expect(cat.classify('random', '_os.system').onlyWhenCalled).toBeUndefined();
    expect(cat.classify('collections', 'OrderedDict').onlyWhenCalled).toBeUndefined();
  });

  it('a reviewed-benign fact stops propagation: typing.NamedTuple (cloudpickle references it) is not made dangerous', () => {
    expect(facts.reaches.find((r) => r.path === 'collections.namedtuple')).toMatchObject({ verdict: 'reviewed-benign' });
    expect(facts.reaches.some((r) => r.path === 'typing.NamedTuple')).toBe(false);
    expect(cat.classify('typing', 'NamedTuple').verdict).toBe('unknown');
    expect(cat.classify('collections', 'namedtuple')).toMatchObject({ verdict: 'dangerous', severity: 'high' });
  });

  it('reached through a dotted path the helper is still critical', () => {
    expect(cat.classify('tomllib._parser', 'warnings._getcategory')).toMatchObject({ verdict: 'dangerous', severity: 'critical' });
  });

  it('reviewed-benign facts stay out of the dangerous entries and stop propagation', () => {
    const benign = facts.reaches.filter((r) => r.verdict === 'reviewed-benign');
    expect(benign.map((r) => r.path)).toContain('sysconfig._init_posix');
    expect(cat.classify('sysconfig', '_init_posix').verdict).toBe('unknown');
    expect(facts.reaches.some((r) => r.via.includes('sysconfig._init_posix'))).toBe(false);
  });
});

describe('re-exported callables', () => {
  it('a safe class reached through its re-export stays safe, with its kind', () => {
    expect(facts.rewrite('torch.nn.Linear')).toBe('torch.nn.modules.linear.Linear');
    expect(cat.classify('torch.nn', 'Linear')).toMatchObject({ verdict: 'safe', canonical: 'torch.nn.modules.linear.Linear', kind: 'class' });
    expect(cat.classify('torch.nn.modules.linear', 'Linear')).toMatchObject({ verdict: 'safe', kind: 'class' });
    expect(cat.classify('collections', 'OrderedDict')).toMatchObject({ verdict: 'safe', kind: 'class' });
  });

  // `from importlib import import_module`, `from subprocess import call`, `unsafe_map = map`:
  // the attribute name says nothing; the object is the dangerous callable.
  const renamedCallables: [string, string, string][] = [
    ['sklearn.utils.discovery.import_module', 'importlib.import_module', 'function'],
    ['lightning.pytorch.trainer.connectors.signal_connector.call', 'subprocess.call', 'function'],
    ['jax._src.api.unsafe_map', 'builtins.map', 'class'],
  ];
  it.each(renamedCallables)('%s is %s, critical (was unknown)', (path, def, kind) => {
    expect(facts.rewrite(path)).toBe(def);
    expect(yamlOnly.classify(...split(path)).verdict).toBe('unknown');
    const r = cat.classify(...split(path));
    expect(r).toMatchObject({ verdict: 'dangerous', severity: 'critical', canonical: def, kind });
    expect(r.reason).toContain(`${path} is ${def}`);
  });
});

describe('scanner: a hand-made pickle reaching os.system through a module attribute', () => {
  const rule = (f: Awaited<ReturnType<typeof scanBytes>>['files'][number], id: string) => f.findings.filter((x) => x.rule === id);

  it('STACK_GLOBAL torch.serialization + os.system is PICKLE_DANGEROUS_GLOBAL critical', async () => {
    const bytes = asm(op.PROTO(4), stackGlobal('torch.serialization', 'os.system'), op.SHORT_BINUNICODE('echo hi'), op.TUPLE1, op.REDUCE, op.STOP);
    const f = (await scanBytes(bytes, 'model.pkl')).files[0]!;
    const hits = rule(f, 'PICKLE_DANGEROUS_GLOBAL');
    expect(hits.map((h) => [h.severity, h.evidence.canonical])).toEqual([['critical', 'os.system']]);
  });

  it('STACK_GLOBAL random + _os.system (a renamed import) is PICKLE_DANGEROUS_GLOBAL critical', async () => {
    const bytes = asm(op.PROTO(4), stackGlobal('random', '_os.system'), op.SHORT_BINUNICODE('echo hi'), op.TUPLE1, op.REDUCE, op.STOP);
    const f = (await scanBytes(bytes, 'model.pkl')).files[0]!;
    expect(rule(f, 'PICKLE_UNKNOWN_GLOBAL')).toEqual([]);
    expect(rule(f, 'PICKLE_DANGEROUS_GLOBAL').map((h) => [h.severity, h.evidence.canonical])).toEqual([['critical', 'os.system']]);
  });

  it('protocol-0 GLOBAL with a dotted module torch.serialization.os + system is PICKLE_DANGEROUS_GLOBAL critical', async () => {
    const bytes = asm(op.GLOBAL('torch.serialization.os', 'system'), op.MARK, op.STRING('echo hi'), op.TUPLE, op.REDUCE, op.STOP);
    const f = (await scanBytes(bytes, 'model.pkl')).files[0]!;
    expect(rule(f, 'PICKLE_DANGEROUS_GLOBAL').map((h) => [h.severity, h.evidence.canonical])).toEqual([['critical', 'os.system']]);
  });

  it('protocol-0 GLOBAL email.utils + random._os.system (a two-hop chain) is PICKLE_DANGEROUS_GLOBAL critical', async () => {
    const bytes = asm(op.GLOBAL('email.utils', 'random._os.system'), op.MARK, op.STRING('echo hi'), op.TUPLE, op.REDUCE, op.STOP);
    const f = (await scanBytes(bytes, 'model.pkl')).files[0]!;
    expect(rule(f, 'PICKLE_UNKNOWN_GLOBAL')).toEqual([]);
    expect(rule(f, 'PICKLE_DANGEROUS_GLOBAL').map((h) => [h.severity, h.evidence.canonical])).toEqual([['critical', 'os.system']]);
  });

  it('GLOBAL timeit.timeit called with a statement is PICKLE_DANGEROUS_GLOBAL critical', async () => {
    const bytes = asm(op.GLOBAL('timeit', 'timeit'), op.MARK, op.STRING('1'), op.TUPLE, op.REDUCE, op.STOP);
    const f = (await scanBytes(bytes, 'model.pkl')).files[0]!;
    const [h] = rule(f, 'PICKLE_DANGEROUS_GLOBAL');
    expect(h).toMatchObject({ severity: 'critical', evidence: { canonical: 'timeit.timeit' } });
  });
});

/** Whether the Python used by the tests has the libraries the cheap check needs. */
function pythonHas(mods: string[]): boolean {
  const r = spawnSync(PYTHON, ['-c', mods.map((m) => `import ${m}`).join('; ')], { stdio: 'ignore' });
  return r.status === 0;
}

describe('the committed facts are what the script generates', () => {
  const mods = ['random', 'uuid', 'timeit', 'typing', 'torch.serialization', 'torch.nn'];
  const can = pythonHas(['torch', 'yaml']);
  it.skipIf(!can)('re-derives the facts of a few modules (tools/introspect_globals.py --check-modules)', () => {
    const out = execFileSync(PYTHON, [join(packageRoot(), 'tools', 'introspect_globals.py'), '--check-modules', ...mods], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300_000,
    });
    const res = JSON.parse(out.trim().split('\n').pop()!) as { ok: boolean; aliases: number; reexports: number; reaches: number };
    expect(res).toMatchObject({ ok: true });
    expect(res.aliases).toBeGreaterThan(0);
    expect(res.reaches).toBeGreaterThan(0);
  }, 320_000);
});
