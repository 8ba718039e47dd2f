/**
 * Names and strings from scanned files reach the terminal escaped (issue 10, item 11): a file
 * or pickle string carrying escape sequences cannot clear the screen, retitle the window or
 * rewrite the verdict line.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pc from 'picocolors';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/core/package.js';
import { renderConsole } from '../../src/cli/render/console.js';
import { terminalSafe, terminalSafeDeep } from '../../src/cli/render/escape.js';
import { scanBytes } from '../../src/index.js';

const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const EVIL_NAME = 'model\u001b[2J\u001b]0;owned\u0007\u202egnp.pkl';

/** A protocol-2 pickle calling os.system, with an escape sequence in the module name. */
function pickleWithEscapes(): Uint8Array {
  const text = 'cos\u001b[1A\u001b[2K\nsystem\n(S\'echo hi\'\ntR.';
  return Uint8Array.from([...Buffer.from(text, 'latin1')]);
}

describe('console output escapes control characters', () => {
  it('escapes each unsafe character visibly', () => {
    expect(terminalSafe('a\u001b[2Jb\u0007\u202ec\u0085')).toBe('a\\x1b[2Jb\\x07\\u202ec\\x85');
    expect(terminalSafe('plain › path.bin')).toBe('plain › path.bin');
  });

  it('escapes every string and key at any depth, copying only what changed and never the input', () => {
    const clean = { path: 'a.pkl', findings: [{ rule: 'R', message: 'plain' }] };
    const input = {
      files: [clean, { path: 'b\u001b.pkl', findings: [{ rule: 'R', message: 'x', evidence: { ['k\u0007']: ['ok', 'v\u202e'] } }] }],
      summary: { files: 2, maxSeverity: null },
    };
    const before = JSON.stringify(input);
    const out = terminalSafeDeep(input);
    expect(out).toEqual({
      files: [clean, { path: 'b\\x1b.pkl', findings: [{ rule: 'R', message: 'x', evidence: { 'k\\x07': ['ok', 'v\\u202e'] } }] }],
      summary: { files: 2, maxSeverity: null },
    });
    expect(JSON.stringify(input)).toBe(before);
    expect(out.files[0]).toBe(clean);
    expect(out.summary).toBe(input.summary);
    expect(out).not.toBe(input);
    expect(terminalSafeDeep(clean)).toBe(clean);
  });

  it('renders a report of a hostile file name and pickle strings with no control character but newlines', async () => {
    const report = await scanBytes(pickleWithEscapes(), EVIL_NAME);
    const out = renderConsole(report, { colors: pc.createColors(false), listImports: true, showBelow: 'low' });
    expect(out).not.toMatch(CONTROL);
    expect(out).toContain('model\\x1b[2J\\x1b]0;owned\\x07\\u202egnp.pkl');
  });

  it('modelgate scan prints an escaped file name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-esc-'));
    writeFileSync(join(dir, EVIL_NAME), pickleWithEscapes());
    let out = '';
    try {
      out = execFileSync(process.execPath, [join(packageRoot(), 'bin', 'modelgate.js'), 'scan', '--no-progress', dir], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    } catch (e) {
      out = (e as { stdout: string }).stdout;
    }
    expect(out).toContain('\\x1b[2J');
    expect(out).not.toMatch(CONTROL);
  });
});
