import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { scanBytes, scanFile } from '../../src/index.js';
import { FIXTURES } from '../helpers/manifest.js';

const enc = (s: string) => new TextEncoder().encode(s);
const scanJson = async (text: string, name = 'config.json') => (await scanBytes(enc(text), name)).files[0]!;

describe('auto_map and custom_pipelines: trust_remote_code', () => {
  it('names the module files of the repo_remote_code fixture', async () => {
    const f = (await scanFile(join(FIXTURES, 'malicious/repo_remote_code/config.json'))).files[0]!;
    const rc = f.findings.filter((x) => x.rule === 'REPO_REMOTE_CODE');
    expect(rc).toHaveLength(1);
    // Needing custom code is a notice; the danger is judged in modeling_fixture.py (PYTHON_DANGEROUS_CALL).
    expect(rc[0]!.severity).toBe('low');
    expect(rc[0]!.message).toBe(
      'auto_map needs trust_remote_code=True: loading imports and runs modeling_fixture.py (AutoModel → modeling_fixture.FixtureModel; AutoConfig → modeling_fixture.FixtureConfig)',
    );
    expect(f.facts['remote_code.files']).toEqual(['modeling_fixture.py']);
  });

  it('reads tokenizer [slow, fast] lists with nulls, nested modules and other repositories', async () => {
    const f = await scanJson(
      JSON.stringify({
        auto_map: {
          AutoTokenizer: ['tokenization_x.XTokenizer', null],
          AutoModel: 'models.x.modeling_x.XModel',
          AutoConfig: 'evil-org/helper--configuration_h.HConfig',
        },
        custom_pipelines: { 'text-classification': { impl: 'pipeline_x.XPipeline', pt: ['AutoModel'] } },
      }),
    );
    expect(f.facts['remote_code.files']).toEqual(['tokenization_x.py', 'models/x/modeling_x.py', 'evil-org/helper:configuration_h.py', 'pipeline_x.py']);
    const msgs = f.findings.filter((x) => x.rule === 'REPO_REMOTE_CODE').map((x) => x.message);
    expect(msgs[0]).toMatch(/runs tokenization_x\.py, models\/x\/modeling_x\.py, evil-org\/helper:configuration_h\.py \(another repository\)/);
    expect(msgs[1]).toMatch(/^custom_pipelines needs trust_remote_code=True: loading imports and runs pipeline_x\.py/);
  });

  it('a real transformers config without auto_map has no finding', async () => {
    const f = (await scanFile(join(FIXTURES, 'benign/config_bert.json'))).files[0]!;
    expect(f.formats).toEqual(['json']);
    expect(f.findings).toEqual([]);
    // The transformers release that wrote it, for the ML-BOM.
    expect(f.facts['transformers.version']).toBe('5.18.0');
  });
});

describe('chat templates in JSON', () => {
  it('list form: each template is checked under its name', async () => {
    const f = await scanJson(JSON.stringify({ chat_template: [{ name: 'default', template: '{{ messages }}' }, { name: 'rag', template: '{{ x.__globals__ }}' }] }));
    expect(f.facts['chat_templates']).toEqual(['chat_template[default]', 'chat_template[rag]']);
    expect(f.findings.filter((x) => x.rule === 'CHAT_TEMPLATE_SANDBOX_ESCAPE').map((x) => x.message)).toEqual(['chat template chat_template[rag]: attribute .__globals__ — x.__globals__']);
  });
  it('keys spelled with escapes and Python-only NaN still lead to the template', async () => {
    const f = await scanJson('{"max": NaN, "\\u0063hat_template": "{{ cycler.__init__ }}"}');
    expect(f.findings.map((x) => x.rule)).toContain('CHAT_TEMPLATE_SANDBOX_ESCAPE');
  });
  it('the real Llama 3.1 and Qwen tokenizer configs are clean', async () => {
    for (const rel of ['benign/tokenizer_config_llama3_1.json', 'benign/tokenizer_config_template_list.json']) {
      const f = (await scanFile(join(FIXTURES, rel))).files[0]!;
      expect(f.findings, rel).toEqual([]);
      expect((f.facts['chat_templates'] as string[]).length).toBeGreaterThan(0);
    }
  });
});

describe('limits and non-JSON text', () => {
  it('10^6 nested brackets: JSON_TOO_DEEP from the linear scan', async () => {
    const f = await scanJson('{"a": ' + '['.repeat(1_000_000) + ']'.repeat(1_000_000) + '}');
    expect(f.findings.map((x) => x.rule)).toEqual(['JSON_TOO_DEEP']);
    expect(f.findings[0]!.location.offset).toBe(6 + 511);
  });
  it('text that starts like JSON but is not keeps the FORMAT_UNKNOWN info', async () => {
    const f = await scanJson('{"a": 1,, oops');
    expect(f.findings.map((x) => [x.rule, x.severity])).toEqual([['FORMAT_UNKNOWN', 'info']]);
  });
  it('a Jinja template is not JSON', async () => {
    expect((await scanJson('{{ bos_token }}')).formats).toEqual(['jinja']);
  });
  it('mutations of a real tokenizer_config never make the analyzer fail', async () => {
    const base = readFileSync(join(FIXTURES, 'benign/tokenizer_config_llama3_1.json'), 'utf8');
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: base.length }), fc.nat({ max: base.length }), fc.string({ maxLength: 8 }), async (a, b, ins) => {
        const text = base.slice(0, Math.min(a, b)) + ins + base.slice(Math.max(a, b));
        const f = await scanJson(text, 'tokenizer_config.json');
        expect(f.findings.map((x) => x.rule)).not.toContain('SCAN_ERROR');
      }),
      { numRuns: 150 },
    );
  });
});
