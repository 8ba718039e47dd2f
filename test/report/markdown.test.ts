/**
 * Markdown summaries for pull-request comments: the verdict, the table, per-file lists, and the
 * escaping of strings that come from the scanned (hostile) files.
 */
import fc from 'fast-check';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Finding, Severity } from '../../src/core/findings.js';
import { SEVERITIES } from '../../src/core/findings.js';
import { scanBytes, scanPath, type ScanReport } from '../../src/index.js';
import { code, renderMarkdown, text } from '../../src/report/markdown.js';
import { FIXTURES } from '../helpers/manifest.js';
import { EVIL_PICKLE, buildZip } from '../helpers/zip-builder.js';

const fx = (p: string) => join(FIXTURES, p);
const TORCH = fx('malicious/torch_zip_reduce.pt');
const BENIGN = fx('benign/torch_state_dict.pt');
const LOW = fx('anomalies/trailing_bytes_after_stop.pkl');

/**
 * What GitHub would see outside code spans, per CommonMark: a run of n backticks opens a span
 * closed by the next run of exactly n; a backslash escapes the punctuation after it.
 */
function outsideCode(line: string): string {
  let out = '';
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length && /[!-/:-@[-`{-~]/.test(line[i + 1]!)) {
      out += '·';
      i += 2;
      continue;
    }
    if (c === '`') {
      let n = 0;
      while (line[i + n] === '`') n++;
      let j = i + n;
      let close = -1;
      while (j < line.length) {
        if (line[j] === '`') {
          let m = 0;
          while (line[j + m] === '`') m++;
          if (m === n) {
            close = j;
            break;
          }
          j += m;
        } else j++;
      }
      if (close >= 0) {
        out += '⟦code⟧';
        i = close + n;
      } else {
        out += '`'.repeat(n);
        i += n;
      }
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

/** Pipes that split a GFM table row: those not preceded by a backslash. */
function cellSeparators(row: string): number {
  let n = 0;
  for (let i = 0; i < row.length; i++) if (row[i] === '|' && row[i - 1] !== '\\') n++;
  return n;
}

const OUR_TAGS = /^<\/?(details|summary|sub)>/;

/** The safety properties of a rendered comment, whatever the scanned files were called. */
function assertSafe(md: string): void {
  for (const line of md.split('\n')) {
    const plain = outsideCode(line);
    for (let i = plain.indexOf('<'); i >= 0; i = plain.indexOf('<', i + 1)) expect(plain.slice(i)).toMatch(OUR_TAGS);
    expect(plain).not.toMatch(/@\w/); // a live @mention
    expect(plain).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u202a-\u202e\u2066-\u2069]/);
    if (line.startsWith('| ')) expect(cellSeparators(line)).toBe(4);
  }
}

describe('Markdown summary', async () => {
  const report = await scanPath([TORCH, BENIGN, LOW]);
  const md = renderMarkdown(report);

  it('opens with the verdict, then a table of the files with findings', () => {
    const lines = md.split('\n');
    expect(lines[0]).toBe('❌ **modelgate: 1 of 3 files with findings at or above medium** (worst: critical).');
    expect(md).toContain('| File | Worst | Findings |');
    expect(md).toContain(`| \`${TORCH}\` | 🔴 critical | 1 critical |`);
    expect(md).toContain(`| \`${LOW}\` | 🔵 low | 1 low |`);
    expect(md).not.toContain(`| \`${BENIGN}\``);
    expect(md).toContain('1 file without findings is not listed.');
    expect(md.trimEnd().split('\n').at(-1)).toMatch(/^<sub>modelgate \d/);
  });

  it('lists a medium-or-above finding with a linked rule id, the member and the call chain', () => {
    expect(md).toContain(`### \`${TORCH}\``);
    expect(md).toMatch(/- 🔴 \*\*critical\*\* \[`PICKLE_DANGEROUS_GLOBAL`\]\(https:\/\/\S+\/docs\/rules\/PICKLE_DANGEROUS_GLOBAL\.md\): calls os\.system \(named posix\.system\) {2}\n/);
    expect(md).toContain("  in `archive/data.pkl` · at byte 229 · chain `posix.system('echo modelgate-fixture')`");
  });

  it('collapses low and info findings into <details>', () => {
    const section = md.slice(md.indexOf(`### \`${LOW}\``));
    expect(section).toMatch(/^### `[^\n]+`\n\n<details><summary>1 lower-severity finding<\/summary>\n\n- 🔵 \*\*low\*\* \[`PICKLE_TRAILING_DATA`\]/);
    expect(section).toContain('</details>');
  });

  it('says so when nothing reaches the threshold, and follows --fail-on', async () => {
    const clean = renderMarkdown(await scanPath([BENIGN]));
    expect(clean.split('\n')[0]).toBe('✅ **modelgate: no findings at or above medium in 1 file.**');
    expect(clean).not.toContain('| File |');
    const low = renderMarkdown(await scanPath([LOW]), { failOn: 'low' });
    expect(low.split('\n')[0]).toBe('❌ **modelgate: 1 of 1 file with findings at or above low** (worst: low).');
    // At --fail-on low a low finding is listed, not collapsed.
    expect(low).not.toContain('<details>');
  });

  it('escapes hostile member and file names from a real scan: HTML, backticks, pipes, mentions', async () => {
    const member = '@octocat <img src=x onerror=alert(1)> `x|y`.pkl';
    // Flag 0x20 makes the zip analyzer name the member in a message (ZIP_UNUSUAL_FLAGS) as well.
    const zip = buildZip([{ name: member, data: EVIL_PICKLE, flags: 0x20 }]);
    const hostile = renderMarkdown(await scanBytes(zip, 'evil|`<b>`.pt'));
    assertSafe(hostile);
    // The member chain sits in a code span long enough to hold its backticks literally.
    expect(hostile).toContain('in ``@octocat <img src=x onerror=alert(1)> `x|y`.pkl`` · at byte 27');
    // In the table the file name's pipe is escaped for GFM's cell splitter.
    expect(hostile).toContain('| ``evil\\|`<b>`.pt`` | 🔴 critical |');
    // In message text the same name is entity- and backslash-escaped, the mention defused.
    expect(hostile).toContain('@\u200boctocat &lt;img src=x onerror=alert(1)&gt; \\`x\\|y\\`.pkl sets general-purpose flags');
  });

  it('makes control and bidi characters visible', async () => {
    const member = 'evil\u202Ekp.\nline2.pkl';
    const zip = buildZip([{ name: Buffer.from(member, 'utf8').toString('latin1'), data: EVIL_PICKLE, flags: 0x800 }]);
    const out = renderMarkdown(await scanBytes(zip, 'x.zip'));
    assertSafe(out);
    expect(out).toContain('in `evil<U+202E>kp.<U+000A>line2.pkl`');
  });

  it('code() and text() hold up on the awkward cases', () => {
    expect(code('`')).toBe('`` ` ``');
    expect(code('a``b')).toBe('```a``b```');
    expect(code('a|b', { inTable: true })).toBe('`a\\|b`');
    expect(text('**bold** [x](javascript:alert(1)) <b> & _u_')).toBe('\\*\\*bold\\*\\* \\[x\\](javascript:alert(1)) &lt;b&gt; &amp; \\_u\\_');
    expect(code('x'.repeat(1000)).length).toBeLessThan(310);
  });

  it('stays under the comment size limit and says what it left out', async () => {
    const big = await scanPath([fx('malicious')]);
    const out = renderMarkdown(big, { maxChars: 4000 });
    expect(out.length).toBeLessThanOrEqual(4000);
    expect(out).toMatch(/_\d+ more files? with findings not shown/);
    assertSafe(out);
  });

  it('property: whatever the names, messages and chains, the comment stays safe', () => {
    const hostile = fc.string({ unit: fc.constantFrom('<', '>', '`', '|', '@', '\\', '*', '_', '[', ']', '(', ')', '&', '\n', '\u202E', 'a', ' ', '!', '#', '-', '~', 'img', 'x') , maxLength: 40 });
    const severity = fc.constantFrom<Severity>(...SEVERITIES);
    const finding = fc.record({ member: fc.array(hostile, { maxLength: 3 }), message: hostile, chain: fc.option(hostile, { nil: undefined }), severity, offset: fc.option(fc.nat(), { nil: undefined }) });
    fc.assert(
      fc.property(fc.array(fc.record({ path: hostile, findings: fc.array(finding, { maxLength: 4 }) }), { minLength: 1, maxLength: 4 }), (files) => {
        assertSafe(renderMarkdown(synthetic(files)));
      }),
      { numRuns: 300 },
    );
  });
});

interface SynthFinding {
  member: string[];
  message: string;
  chain: string | undefined;
  severity: Severity;
  offset: number | undefined;
}

function synthetic(files: { path: string; findings: SynthFinding[] }[]): ScanReport {
  const counts = { critical: 0, high: 0, medium: 0, low: 0, info: 0 };
  return {
    schema: 'modelgate/scan-report@1',
    engine: { name: 'modelgate', version: '0.0.0', rulesVersion: 'test', analyzers: {} },
    startedAt: new Date(0).toISOString(),
    durationMs: 1,
    files: files.map((f) => {
      const findings: Finding[] = f.findings.map((x) => ({
        rule: 'PICKLE_DANGEROUS_GLOBAL',
        severity: x.severity,
        message: x.message,
        location: { path: [f.path, ...x.member], ...(x.offset !== undefined ? { offset: x.offset } : {}) },
        evidence: x.chain !== undefined ? { chain: x.chain } : {},
        references: [],
      }));
      for (const x of findings) counts[x.severity]++;
      return { path: f.path, size: 1, formats: ['pickle'], findings, facts: {}, imports: [], members: [], complete: true, maxSeverity: findings.length ? findings.map((x) => x.severity).sort((a, b) => SEVERITIES.indexOf(a) - SEVERITIES.indexOf(b))[0]! : null, bytesRead: 1, durationMs: 1 };
    }),
    summary: { files: files.length, findings: counts, maxSeverity: null, incomplete: 0, bytesRead: 0 },
  };
}
