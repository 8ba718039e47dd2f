import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { atLeast } from '../../src/core/findings.js';
import { checkTemplate } from '../../src/formats/jinja/check.js';
import { lexTemplate } from '../../src/formats/jinja/lexer.js';
import { scanBytes } from '../../src/index.js';
import { FIXTURES } from '../helpers/manifest.js';
import { stubContext, type RecordedFinding } from '../helpers/stub-context.js';

function check(template: string): RecordedFinding[] {
  const { ctx, rec } = stubContext();
  checkTemplate(ctx, template, { label: 't' });
  return rec.findings;
}
const names = (fs: RecordedFinding[], rule: string) => fs.filter((f) => f.rule === rule).map((f) => String(f.details['name']));
const BENIGN_DIR = join(FIXTURES, 'benign', 'chat_templates');
const benign = readdirSync(BENIGN_DIR).map((n) => [n, readFileSync(join(BENIGN_DIR, n), 'utf8')] as const);

describe('chat templates of real models', () => {
  it('the corpus holds the families we promise (Llama 3, Mistral, ChatML/Qwen, Gemma, Phi)', () => {
    expect(benign.map(([n]) => n).sort()).toEqual(
      ['chatml_qwen2.jinja', 'gemma.jinja', 'llama3.jinja', 'llama3_1_tools.jinja', 'mistral_v0_1.jinja', 'mistral_v0_3_tools.jinja', 'phi3.jinja', 'qwen2_5_tools.jinja', 'qwen3_thinking.jinja'].sort(),
    );
  });
  for (const [name, text] of benign) {
    it(`${name}: nothing at all (parses, no names flagged)`, () => {
      expect(check(text)).toEqual([]);
    });
  }
  it('namespace() alone is benign (Mistral v0.3, Qwen3 use it)', () => {
    expect(check('{% set ns = namespace(i=0) %}{% for m in messages %}{% set ns.i = ns.i + 1 %}{% endfor %}{{ ns.i }}')).toEqual([]);
  });
});

describe('sandbox escapes, however they are written', () => {
  const cases: Array<[string, string, string]> = [
    ['dot access', "{{ ''.__class__ }}", '__class__'],
    ['subscript', "{{ messages['__class__'] }}", '__class__'],
    ['concatenated subscript', "{{ messages['__cla' ~ 'ss__'] }}", '__class__'],
    ['attr filter', "{{ messages|attr('__class__') }}", '__class__'],
    ['attr filter with repetition', "{{ messages|attr(('_' * 2) ~ 'class' ~ ('_' * 2)) }}", '__class__'],
    ['joined list', "{{ messages|attr(['__', 'class__']|join) }}", '__class__'],
    ['reversed string', "{{ messages|attr('__ssalc__'|reverse) }}", '__class__'],
    ['variable set to a constant', "{% set a = '__glo' ~ 'bals__' %}{{ lipsum|attr(a) }}", '__globals__'],
    ['hex escapes', "{{ messages['\\x5f\\x5fclass\\x5f\\x5f'] }}", '__class__'],
    ['unicode name escapes', "{{ messages['\\N{LOW LINE}\\N{LOW LINE}class\\N{LOW LINE}\\N{LOW LINE}'] }}", '__class__'],
    ['namespace chain', '{% set ns = namespace() %}{{ ns.__init__.__globals__ }}', '__globals__'],
    ['cycler chain', "{{ cycler.__init__.__globals__.os.popen('id').read() }}", '__init__'],
    ['published CVE-2024-34359 payload', "{% for x in ().__class__.__base__.__subclasses__() %}{% if 'warning' in x.__name__ %}{{ x()._module.__builtins__['__import__']('os') }}{% endif %}{% endfor %}", '__subclasses__'],
    ['private attribute', '{{ self._TemplateReference__context }}', '_TemplateReference__context'],
    ['str.format attribute path', "{{ '{0.__class__}'.format(messages) }}", '{0.__class__}'],
    ['frame globals', '{{ x.gi_frame.f_globals }}', 'f_globals'],
  ];
  for (const [what, template, name] of cases) {
    it(`${what}: ${name}`, () => {
      const fs = check(template);
      expect(names(fs, 'CHAT_TEMPLATE_SANDBOX_ESCAPE')).toContain(name);
      expect(fs.some((f) => f.rule === 'CHAT_TEMPLATE_SANDBOX_ESCAPE' && atLeast(f.severity, 'high'))).toBe(true);
    });
  }
  it('dunder names are critical and carry the catalogue reason and CVE', () => {
    const f = check('{{ cycler.__init__ }}').find((x) => x.rule === 'CHAT_TEMPLATE_SANDBOX_ESCAPE')!;
    expect(f.severity).toBe('critical');
    expect(f.message).toBe('chat template t: attribute .__init__ — cycler.__init__');
  });
  it('globals and filters that start escapes are named', () => {
    const fs = check("{{ lipsum }}{{ joiner }}{{ request }}{{ config }}{{ x|attr('y') }}{{ self }}");
    expect(names(fs, 'CHAT_TEMPLATE_SUSPICIOUS_NAME').sort()).toEqual(['attr', 'config', 'joiner', 'lipsum', 'request', 'self']);
    expect(fs.find((f) => f.details['name'] === 'self')!.severity).toBe('high');
  });
  it('include, import, from and extends are file access', () => {
    for (const [t, kw] of [["{% include 'x.j2' %}", 'include'], ["{% import 'm.j2' as m %}", 'import'], ["{% from 'm.j2' import f %}", 'from'], ["{% extends 'base.j2' %}", 'extends']]) {
      const fs = check(t!);
      expect(names(fs, 'CHAT_TEMPLATE_FILE_ACCESS'), t).toEqual([kw]);
      expect(fs.map((f) => f.rule), t).toContain('CHAT_TEMPLATE_UNPARSEABLE');
    }
  });
  it('names inside raw blocks and comments are text, not code', () => {
    expect(check('{% raw %}{{ x.__class__ }}{% endraw %}{# {{ cycler.__init__ }} #}{{ messages[0] }}').filter((f) => f.rule !== 'CHAT_TEMPLATE_UNPARSEABLE')).toEqual([]);
  });
});

describe('templates that do not parse, or are too large', () => {
  it('an unterminated expression is unparseable, and still token-scanned', () => {
    const fs = check('{{ x.__class__ ');
    expect(fs.map((f) => f.rule)).toEqual(expect.arrayContaining(['CHAT_TEMPLATE_UNPARSEABLE', 'CHAT_TEMPLATE_SANDBOX_ESCAPE']));
  });
  it('100 000 nested parentheses end in a finding, not a stack overflow', () => {
    const fs = check('{{ ' + '('.repeat(100_000) + '1' + ')'.repeat(100_000) + ' }}');
    expect(fs.map((f) => f.rule)).toEqual(['CHAT_TEMPLATE_UNPARSEABLE']);
  });
  it('a 2 MB template is not parsed but its payload at the end is found', () => {
    const fs = check('{{ messages }}' + ' '.repeat(2 * 1024 * 1024) + '{{ x.__globals__ }}');
    expect(fs.map((f) => f.rule)).toEqual(expect.arrayContaining(['CHAT_TEMPLATE_TOO_LARGE', 'CHAT_TEMPLATE_SANDBOX_ESCAPE']));
  });
  it('the lexer decodes escapes and balances braces like Jinja2', () => {
    const { tokens, unterminated } = lexTemplate("{{ {'a': {'b': 1}} }}{{ '\\u005f' }}");
    expect(unterminated).toBeNull();
    expect(tokens.filter((t) => t.kind === 'string').map((t) => t.value)).toEqual(['a', 'b', '_']);
  });
});

describe('templates inside files', () => {
  it('a standalone chat_template.jinja is claimed by content', async () => {
    const f = (await scanBytes(new TextEncoder().encode("{%- for m in messages %}{{ m['content'].__class__ }}{% endfor %}"), 'chat_template.jinja')).files[0]!;
    expect(f.formats).toEqual(['jinja']);
    expect(names(f.findings.map((x) => ({ rule: x.rule, severity: x.severity, message: x.message, path: [], details: x.evidence.details ?? {} })), 'CHAT_TEMPLATE_SANDBOX_ESCAPE')).toContain('__class__');
  });
});

describe('property: no template makes the checker throw, and dunders are always found', () => {
  const pieces = ['{{', '}}', '{%', '%}', '{#', '#}', "'", '"', '\\', '(', ')', '[', ']', '|', '~', '.', 'x', '__class__', 'attr', ' ', '\n', 'raw', 'endraw', 'for', 'in', '-'];
  it('random token soup', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 200 }), (parts) => {
        check(parts.join(''));
      }),
      { numRuns: 500 },
    );
  });
  it('inserting `{{ x.__class__ }}` between two tags of any real template is critical', () => {
    fc.assert(
      fc.property(fc.constantFrom(...benign), fc.nat(), ([, text], k) => {
        const cuts = [...text.matchAll(/[%}]\}/g)].map((m) => m.index! + 2);
        const at = cuts.length ? cuts[k % cuts.length]! : 0;
        const fs = check(text.slice(0, at) + '{{ x.__class__ }}' + text.slice(at));
        expect(fs.some((f) => f.rule === 'CHAT_TEMPLATE_SANDBOX_ESCAPE' && f.severity === 'critical')).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('a template checked again', () => {
  // The parse-tree readings are kept by template text (src/formats/jinja/check.ts): a template met
  // again must give the same findings as the first time, unparseable ones included.
  const templates = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    '{% for m in messages %}{{ m.content }}{% endfor %}',
    '{% if %}',
    ...benign.map(([, text]) => text),
  ];
  it('gives the same findings each time, whatever was checked in between', () => {
    const first = templates.map(check);
    for (let round = 0; round < 2; round++) {
      for (let i = templates.length - 1; i >= 0; i--) expect(check(templates[i]!)).toEqual(first[i]);
    }
    expect(first[0]!.length).toBeGreaterThan(0);
    expect(first[3]!.map((f) => f.rule)).toContain('CHAT_TEMPLATE_UNPARSEABLE');
  });

  it('still answers after more templates than are kept', () => {
    const probe = "{{ x|attr('__globals__') }}";
    const before = check(probe);
    for (let i = 0; i < 40; i++) check(`{{ x${i}.__class__ }}`);
    expect(check(probe)).toEqual(before);
    expect(before.length).toBeGreaterThan(0);
  });
});
