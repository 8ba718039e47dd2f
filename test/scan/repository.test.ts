import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pc from 'picocolors';
import { scanPath } from '../../src/index.js';
import { renderConsole } from '../../src/cli/render/console.js';
import { FIXTURES } from '../helpers/manifest.js';
import { runPython } from '../helpers/python.js';
import { defaultPolicy, parsePolicy } from '../../src/policy/index.js';

const root = mkdtempSync(join(tmpdir(), 'mg-repo-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function repo(name: string, files: Record<string, string | { copy: string }>): string {
  const dir = join(root, name);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    if (typeof content === 'string') writeFileSync(join(dir, rel), content);
    else copyFileSync(join(FIXTURES, content.copy), join(dir, rel));
  }
  return dir;
}
const CARD = '---\nlicense: apache-2.0\ntags: [x]\n---\n# A model\n';

describe('repository summary of a directory scan', () => {
  it('trust_remote_code: the files auto_map names, present or missing', async () => {
    const dir = repo('remote', {
      'config.json': JSON.stringify({ auto_map: { AutoModel: 'modeling_a.A', AutoConfig: 'configuration_a.AC' } }),
      'modeling_a.py': 'import os\nos.system("x")\n',
      'README.md': CARD,
    });
    const report = await scanPath(dir);
    expect(report.repositories).toHaveLength(1);
    const r = report.repositories![0]!;
    expect(r.path).toBe(dir);
    expect(r.markers).toEqual(['config.json', 'model card (README.md)']);
    expect(r.remoteCode.needed).toBe(true);
    expect(r.remoteCode.files).toEqual([
      { file: 'configuration_a.py', present: false },
      { file: 'modeling_a.py', present: true, maxSeverity: 'critical' },
    ]);
    expect(r.license).toBe('apache-2.0');
    expect(r.maxSeverity).toBe('critical');
  });

  it('weights advice: safetensors preferred over pytorch_model.bin; pickle-only warned; chat templates listed', async () => {
    const both = repo('both', {
      'config.json': '{"model_type": "bert"}',
      'model.safetensors': { copy: 'benign/model.safetensors' },
      'pytorch_model.bin': { copy: 'benign/torchscript_module.pt' },
      'tokenizer_config.json': { copy: 'benign/tokenizer_config_llama3_1.json' },
    });
    const pickled = repo('pickled', { 'config.json': '{}', 'pytorch_model.bin': { copy: 'benign/torchscript_module.pt' } });
    const report = await scanPath([both, pickled]);
    const [a, b] = report.repositories!;
    expect(a!.weights.advice).toBe('safetensors available: prefer it over pytorch_model.bin (from_pretrained(..., use_safetensors=True))');
    expect(a!.chatTemplates).toEqual([{ file: 'tokenizer_config.json', template: 'chat_template' }]);
    expect(a!.license).toBeNull();
    expect(b!.weights.advice).toMatch(/^only pickle-based weights \(pytorch_model\.bin\)/);
  });

  it('executables are listed; nested repositories keep their own files; plain directories are not repositories', async () => {
    const outer = repo('outer', {
      'config.json': '{}',
      'tools/run.sh': '#!/bin/sh\necho x\n',
      'inner/config.json': '{}',
      'inner/model.gguf': { copy: 'benign/chat_template.gguf' },
    });
    repo('plain', { 'notes.txt': 'hello' });
    const report = await scanPath(root);
    const byPath = new Map(report.repositories!.map((r) => [r.path, r]));
    expect(byPath.get(outer)!.executables).toEqual(['tools/run.sh']);
    expect(byPath.get(join(outer, 'inner'))!.weights.gguf).toEqual(['model.gguf']);
    expect(byPath.get(join(outer, 'inner'))!.chatTemplates).toEqual([{ file: 'model.gguf', template: 'tokenizer.chat_template' }]);
    expect(byPath.has(join(root, 'plain'))).toBe(false);
  });

  it('the console shows one block per repository', async () => {
    const dir = repo('shown', { 'config.json': JSON.stringify({ auto_map: { AutoModel: 'm.M' } }), 'README.md': CARD });
    const text = renderConsole(await scanPath(dir), { colors: pc.createColors(false), listImports: false, showBelow: 'low' });
    expect(text).toContain(`Repository ${dir}`);
    expect(text).toContain('remote code  trust_remote_code=True would run m.py (missing)');
    expect(text).toContain('licence      apache-2.0');
  });

  it('single files and scanBytes reports carry no repositories field', async () => {
    const report = await scanPath(join(FIXTURES, 'benign/config_bert.json'));
    expect(report.repositories).toBeUndefined();
  });
});

describe('custom code (trust_remote_code): a repository fact, judged by what the code does', () => {
  // Written by transformers itself: register_for_auto_class + save_pretrained copy the modules
  // and write config.json with auto_map (test/corpus/benign/gen_archives.py).
  let benign: string;
  beforeAll(() => {
    benign = join(
      runPython(`
import sys
sys.path.insert(0, ${JSON.stringify(join(process.cwd(), 'test/corpus/benign'))})
import gen_archives
gen_archives.custom_code_repo(OUT)
`).dir,
      'repo_custom_code',
    );
  }, 180_000);

  it('benign custom modelling code: the repository needs it, no file has a finding at medium or above', async () => {
    const report = await scanPath(benign);
    const r = report.repositories![0]!;
    expect(r.remoteCode.needed).toBe(true);
    expect(r.remoteCode.files).toEqual([
      { file: 'configuration_tiny.py', present: true, maxSeverity: null },
      { file: 'modeling_tiny.py', present: true, maxSeverity: null },
    ]);
    const loud = report.files.flatMap((f) => f.findings.filter((x) => ['medium', 'high', 'critical'].includes(x.severity)).map((x) => `${f.path}: ${x.rule}`));
    expect(loud).toEqual([]);
    const config = report.files.find((f) => f.path.endsWith('config.json'))!;
    expect(config.findings.map((x) => [x.rule, x.severity])).toEqual([['REPO_REMOTE_CODE', 'low']]);
    expect(r.maxSeverity).toBe('low');
    // The policy's remote-code rule still holds it when an operator turns it on.
    const on = parsePolicy('rules:\n  remote-code:\n    action: block\n');
    const d = on.evaluate({ repo: { id: 'acme/custom', type: 'model', revision: 'main', commit: 'c0ffee', remoteCode: { needed: r.remoteCode.needed, files: r.remoteCode.files.map((f) => f.file) } }, file: null, group: 'default', now: new Date(), waivers: [] });
    expect(d.verdict).toBe('block');
    expect(defaultPolicy().evaluate({ repo: { id: 'acme/custom', type: 'model', revision: 'main', commit: 'c0ffee' }, file: { path: 'config.json', sha256: null, size: 1, report: config }, group: 'default', now: new Date(), waivers: [] }).verdict).toBe('allow');
  });

  it('the same repository with a module that reaches the host keeps its high/critical findings', async () => {
    const dir = repo('custom-evil', {
      'config.json': JSON.stringify({ auto_map: { AutoModel: 'modeling_tiny.TinyModel' } }),
      'modeling_tiny.py': 'import subprocess\nimport torch\nsubprocess.run(["sh", "-c", "echo x"])\nclass TinyModel(torch.nn.Module):\n    def forward(self, x):\n        return eval("x")\n',
    });
    const report = await scanPath(dir);
    const code = report.files.find((f) => f.path.endsWith('modeling_tiny.py'))!;
    expect(code.findings.map((x) => [x.rule, x.evidence.details?.['call'], x.severity])).toEqual([
      ['PYTHON_DANGEROUS_CALL', 'subprocess.run', 'critical'],
      ['PYTHON_DANGEROUS_CALL', 'eval', 'critical'],
    ]);
    expect(report.repositories![0]!.maxSeverity).toBe('critical');
    expect(report.repositories![0]!.remoteCode.files).toEqual([{ file: 'modeling_tiny.py', present: true, maxSeverity: 'critical' }]);
  });
});
