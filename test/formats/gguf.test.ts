import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { scanBytes, scanFile } from '../../src/index.js';
import { FIXTURES } from '../helpers/manifest.js';

const fixture = (rel: string) => join(FIXTURES, rel);
const findings = async (bytes: Uint8Array) => (await scanBytes(bytes, 'x.gguf')).files[0]!;

/** A small GGUF encoder for shapes GGUFWriter will not write (v1 counts, wrong value types). */
function gguf(version: number, kvs: Array<[string, number, Uint8Array]>, tensors: Uint8Array[] = []): Uint8Array {
  const parts: Buffer[] = [Buffer.from('GGUF')];
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
  const u64 = (n: number | bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };
  const count = (n: number) => (version === 1 ? u32(n) : u64(n));
  parts.push(u32(version), count(tensors.length), count(kvs.length));
  for (const [k, type, value] of kvs) parts.push(count(Buffer.byteLength(k)), Buffer.from(k), u32(type), Buffer.from(value));
  parts.push(...tensors.map((t) => Buffer.from(t)));
  return new Uint8Array(Buffer.concat(parts));
}
const str = (s: string, version = 3) => {
  const len = Buffer.alloc(version === 1 ? 4 : 8);
  if (version === 1) len.writeUInt32LE(Buffer.byteLength(s));
  else len.writeBigUInt64LE(BigInt(Buffer.byteLength(s)));
  return new Uint8Array(Buffer.concat([len, Buffer.from(s)]));
};

describe('GGUF: files written by gguf.GGUFWriter', () => {
  it('reads the facts of the benign fixture (Llama 3 template, Q8_0, two tensors)', async () => {
    const f = (await scanFile(fixture('benign/chat_template.gguf'))).files[0]!;
    expect(f.formats).toEqual(['gguf']);
    expect(f.facts).toMatchObject({
      'gguf.version': 3,
      'gguf.tensors': 2,
      'gguf.architecture': 'llama',
      'gguf.name': 'modelgate-tiny',
      'gguf.quantisation': 'Q8_0',
      'gguf.context_length': 2048,
      chat_templates: ['tokenizer.chat_template'],
    });
    expect(f.findings).toEqual([]);
  });

  it('reads big-endian files the same way', async () => {
    const f = (await scanFile(fixture('benign/chat_template_big_endian.gguf'))).files[0]!;
    expect(f.facts['gguf.byte_order']).toBe('big-endian');
    expect(f.facts['gguf.quantisation']).toBe('Q8_0');
    expect(f.findings).toEqual([]);
  });

  it('checks every named template and names the one that escapes', async () => {
    const f = (await scanFile(fixture('malicious/gguf_named_template_ssti.gguf'))).files[0]!;
    expect(f.facts['chat_templates']).toEqual(['tokenizer.chat_template.tool_use', 'tokenizer.chat_template']);
    const esc = f.findings.filter((x) => x.rule === 'CHAT_TEMPLATE_SANDBOX_ESCAPE');
    expect(esc.length).toBeGreaterThan(0);
    expect(esc.every((x) => x.message.includes('tokenizer.chat_template.tool_use'))).toBe(true);
    expect(esc.map((x) => x.evidence.details?.['name'])).toContain('__subclasses__');
    expect(f.maxSeverity).toBe('critical');
  });

  it('finds the cycler.__init__.__globals__ escape of the malicious fixture', async () => {
    const f = (await scanFile(fixture('malicious/chat_template_ssti.gguf'))).files[0]!;
    const msgs = f.findings.filter((x) => x.rule === 'CHAT_TEMPLATE_SANDBOX_ESCAPE').map((x) => x.message);
    expect(msgs).toContain('chat template tokenizer.chat_template: attribute .__globals__ — cycler.__init__.__globals__');
  });
});

describe('GGUF: malformed files (one broken field each, from GGUFWriter output)', () => {
  const cases: Array<[string, RegExp]> = [
    ['gguf_bad_version', /unsupported GGUF version 9/],
    ['gguf_tensor_count_2p40', /tensor count 1099511627776 cannot fit/],
    ['gguf_kv_count_absurd', /metadata count 1000000000000 cannot fit/],
    ['gguf_string_length_2p62', /tokenizer\.chat_template length .* is 4611686018427387904/],
    ['gguf_array_1e9_strings', /tokenizer\.ggml\.tokens: array of 1000000000 string elements cannot fit/],
    ['gguf_truncated_metadata', /truncated: tokenizer\.chat_template .* declares 393 bytes/],
    ['gguf_n_dims_9', /"blk\.0\.attn_q\.weight" declares 9 dimensions/],
    ['gguf_unknown_tensor_type', /"blk\.0\.attn_q\.weight" has unknown or removed ggml type 4/],
    ['gguf_misaligned_offset', /offset 131 is not a multiple of the alignment 32/],
    ['gguf_overlapping_tensors', /"token_embd\.weight" and "blk\.0\.attn_q\.weight" overlap/],
    ['gguf_data_past_end', /"blk\.0\.attn_q\.weight": data .* runs past the end of the file/],
    ['gguf_duplicate_key', /duplicate metadata key "modelgate\.dup_a"/],
    ['gguf_bad_alignment', /general\.alignment 48 is not a power of two/],
  ];
  for (const [name, re] of cases) {
    it(`${name}: GGUF_MALFORMED`, async () => {
      const f = (await scanFile(fixture(`anomalies/${name}.gguf`))).files[0]!;
      const msgs = f.findings.filter((x) => x.rule === 'GGUF_MALFORMED').map((x) => x.message);
      expect(msgs.some((m) => re.test(m)), msgs.join('\n')).toBe(true);
      expect(f.findings.map((x) => x.rule)).not.toContain('SCAN_ERROR');
    });
  }
});

describe('GGUF: hand-encoded shapes', () => {
  it('reads v1 files (32-bit counts and string lengths)', async () => {
    const f = await findings(gguf(1, [['general.architecture', 8, str('llama', 1)], ['tokenizer.chat_template', 8, str("{{ x.__class__ }}", 1)]]));
    expect(f.facts['gguf.version']).toBe(1);
    expect(f.facts['gguf.architecture']).toBe('llama');
    expect(f.findings.map((x) => x.rule)).toContain('CHAT_TEMPLATE_SANDBOX_ESCAPE');
  });

  it('reports a chat template that is not a string, and an unknown value type', async () => {
    const u32 = new Uint8Array([1, 0, 0, 0]);
    let f = await findings(gguf(3, [['tokenizer.chat_template', 4, u32]]));
    expect(f.findings.map((x) => x.message)).toContain('tokenizer.chat_template is a uint32, not a string');
    f = await findings(gguf(3, [['general.name', 77, u32]]));
    expect(f.findings.map((x) => x.message).join()).toMatch(/general\.name has unknown value type 77/);
  });

  it('walks large string arrays without materialising them (200k tokens)', async () => {
    const n = 200_000;
    const body = Buffer.alloc(4 + 8 + n * 9);
    body.writeUInt32LE(8, 0);
    body.writeBigUInt64LE(BigInt(n), 4);
    for (let i = 0; i < n; i++) {
      body.writeBigUInt64LE(1n, 12 + i * 9);
      body[12 + i * 9 + 8] = 0x61;
    }
    const f = await findings(gguf(3, [['tokenizer.ggml.tokens', 9, new Uint8Array(body)], ['general.architecture', 8, str('llama')]]));
    expect(f.facts['gguf.architecture']).toBe('llama');
    expect(f.findings).toEqual([]);
  });

  it('refuses arrays nested deeper than four levels', async () => {
    let v = new Uint8Array(Buffer.concat([Buffer.from([0, 0, 0, 0]), Buffer.alloc(8)])); // empty uint8 array
    for (let d = 0; d < 6; d++) {
      const h = Buffer.alloc(12);
      h.writeUInt32LE(9, 0);
      h.writeBigUInt64LE(1n, 4);
      v = new Uint8Array(Buffer.concat([h, v]));
    }
    const f = await findings(gguf(3, [['x.nested', 9, v]]));
    expect(f.findings.map((x) => x.message).join()).toMatch(/arrays nested deeper than 4/);
  });
});

describe('GGUF: hostile mutations of a real file', () => {
  const base = new Uint8Array(readFileSync(fixture('benign/chat_template.gguf')));
  it('never throws and never reports an analyzer error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.nat({ max: base.length }),
        async (edits, cut) => {
          const b = base.slice(0, Math.max(4, cut));
          for (const [at, v] of edits) if (at < b.length) b[at] = v;
          const f = await findings(b);
          expect(f.findings.map((x) => x.rule)).not.toContain('SCAN_ERROR');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a length field of any 64-bit value is checked, never allocated', async () => {
    const at = Buffer.from(base).indexOf('tokenizer.chat_template') + 'tokenizer.chat_template'.length + 4;
    await fc.assert(
      fc.asyncProperty(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), async (len) => {
        const b = Buffer.from(base);
        b.writeBigUInt64LE(len, at);
        const f = await findings(new Uint8Array(b));
        expect(f.findings.map((x) => x.rule)).not.toContain('SCAN_ERROR');
        if (len > BigInt(base.length)) expect(f.findings.map((x) => x.rule)).toContain('GGUF_MALFORMED');
      }),
      { numRuns: 200 },
    );
  });
});
