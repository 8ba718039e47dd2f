import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { scanBytes, scanFile } from '../../src/index.js';
import { executableAnalyzer } from '../../src/formats/executable.js';
import { FIXTURES } from '../helpers/manifest.js';

const sniff = (head: Uint8Array) => executableAnalyzer.sniff({ head, tail: new Uint8Array(0), size: head.length, name: 'x' });
const be = (...words: number[]) => new Uint8Array(Buffer.concat(words.map((w) => { const b = Buffer.alloc(4); b.writeUInt32BE(w >>> 0); return b; })));

describe('executables among model files', () => {
  it('an ELF named tokenizer.model', async () => {
    const f = (await scanFile(join(FIXTURES, 'malicious/repo_executable/tokenizer.model'))).files[0]!;
    expect(f.formats).toEqual(['elf']);
    expect(f.findings.map((x) => [x.rule, x.severity, x.message])).toEqual([['EXECUTABLE_FILE', 'high', 'ELF 64-bit executable (x86-64) among model files']]);
  });
  it('a shell script with a shebang', async () => {
    const f = (await scanFile(join(FIXTURES, 'malicious/repo_executable/setup.sh'))).files[0]!;
    expect(f.findings.map((x) => x.message)).toEqual(['script for sh (#!/bin/sh) among model files']);
  });
  it('#!/usr/bin/env python scripts are executables and Python, both analysed', async () => {
    const f = (await scanBytes(new TextEncoder().encode('#!/usr/bin/env python3\nimport os\nos.system("x")\n'), 'run')).files[0]!;
    expect(f.formats).toEqual(['script', 'python']);
    expect(f.findings.map((x) => x.rule).sort()).toEqual(['EXECUTABLE_FILE', 'PYTHON_DANGEROUS_CALL']);
  });
  it('Mach-O thin and universal binaries; a Java class file is not one', () => {
    expect(sniff(be(0xcffaedfe, 0))?.format).toBe('macho');
    expect(sniff(be(0xcafebabe, 2))?.hint?.['label']).toBe('Mach-O universal binary (2 architectures)');
    expect(sniff(be(0xcafebabe, 0x00000034))).toBeNull();
  });
  it('PE with and without a PE header', () => {
    const pe = new Uint8Array(256);
    pe.set([0x4d, 0x5a]);
    pe[0x3c] = 0x80;
    pe.set([0x50, 0x45, 0, 0, 0x64, 0x86], 0x80);
    expect(sniff(pe)?.hint?.['label']).toBe('Windows PE executable (x86-64)');
    expect(sniff(new Uint8Array([0x4d, 0x5a, ...new Array(100).fill(0)]))?.confidence).toBe(0.7);
  });
  it('a llamafile: the executable is named and the GGUF inside its zip is scanned', async () => {
    const f = (await scanFile(join(FIXTURES, 'malicious/llamafile_ssti.llamafile'))).files[0]!;
    expect(f.formats).toEqual(['pe', 'zip']);
    const exe = f.findings.find((x) => x.rule === 'EXECUTABLE_FILE' && x.location.path.length === 1)!;
    expect(exe.message).toMatch(/it is a llamafile: an appended zip carries modelgate-tiny\.gguf/);
    expect(exe.references).toContain('Guardian PAIT-LMAFL-300');
    const ssti = f.findings.find((x) => x.rule === 'CHAT_TEMPLATE_SANDBOX_ESCAPE')!;
    expect(ssti.location.path.at(-1)).toBe('modelgate-tiny.gguf');
  });
  it('random headers never make sniff or analyze fail', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom([0x7f, 0x45, 0x4c, 0x46], [0x4d, 0x5a], [0x23, 0x21], [0xca, 0xfe, 0xba, 0xbe]), fc.uint8Array({ maxLength: 300 }), async (magic, rest) => {
        const f = (await scanBytes(new Uint8Array([...magic, ...rest]), 'x')).files[0]!;
        expect(f.findings.map((x) => x.rule)).not.toContain('SCAN_ERROR');
      }),
      { numRuns: 200 },
    );
  });
});
