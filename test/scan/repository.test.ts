import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import pc from 'picocolors';
import { scanPath } from '../../src/index.js';
import { renderConsole } from '../../src/cli/render/console.js';
import { FIXTURES } from '../helpers/manifest.js';

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
      { file: 'modeling_a.py', present: true },
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
