import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Engine, scanBytes, scanFile } from '../../src/index.js';
import { atLeast } from '../../src/core/findings.js';
import { parquetAnalyzer } from '../../src/formats/parquet/analyzer.js';
import { CompactReader, ThriftError } from '../../src/formats/parquet/thrift.js';
import { decodeBase64 } from '../../src/formats/parquet/base64.js';
import { BufferSource } from '../../src/source/buffer.js';
import { FIXTURES } from '../helpers/manifest.js';
import { stubContext } from '../helpers/stub-context.js';
import { RecordingSource } from '../helpers/recording-source.js';

const fixture = (rel: string) => new Uint8Array(readFileSync(join(FIXTURES, rel)));
const file = async (rel: string) => (await scanFile(join(FIXTURES, rel))).files[0]!;
const bytes = async (b: Uint8Array, name = 'train.parquet') => (await scanBytes(b, name)).files[0]!;
type Report = Awaited<ReturnType<typeof file>>;
const rule = (f: Report, id: string) => f.findings.filter((x) => x.rule === id);
const rules = (f: Report) => f.findings.map((x) => x.rule);
const dangerous = (f: Report) => rule(f, 'PICKLE_DANGEROUS_GLOBAL').map((x) => x.evidence.canonical);

// ---------------------------------------------------------------------------------------------
// A small thrift compact encoder, for footers pyarrow will not write.

type Bytes = number[];
const varint = (n: number): Bytes => {
  const out: Bytes = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
};
const zigzag = (n: number) => (n >= 0 ? 2 * n : -2 * n - 1);
const T = { I32: 5, I64: 6, BINARY: 8, LIST: 9, STRUCT: 12 } as const;
type Field = [id: number, type: number, value: Bytes];
const i32 = (id: number, v: number): Field => [id, T.I32, varint(zigzag(v))];
const i64 = (id: number, v: number): Field => [id, T.I64, varint(zigzag(v))];
const bin = (id: number, v: string | Uint8Array): Field => {
  const b = typeof v === 'string' ? [...Buffer.from(v)] : [...v];
  return [id, T.BINARY, [...varint(b.length), ...b]];
};
const struct = (fields: Field[]): Bytes => {
  const out: Bytes = [];
  let last = 0;
  for (const [id, type, value] of fields) {
    out.push(((id - last) << 4) | type, ...value);
    last = id;
  }
  out.push(0);
  return out;
};
const list = (id: number, type: number, elems: Bytes[]): Field => [
  id,
  T.LIST,
  [...(elems.length < 15 ? [(elems.length << 4) | type] : [0xf0 | type, ...varint(elems.length)]), ...elems.flat()],
];
const kv = (k: string, v: string | Uint8Array) => struct([bin(1, k), bin(2, v)]);

/** FileMetaData with one int32 column and the given key-value metadata. */
function fileMetaData(kvs: Bytes[], extra: Field[] = []): Bytes {
  const schema = [struct([bin(4, 'schema'), i32(5, 1)]), struct([i32(1, 1), i32(3, 1), bin(4, 'x')])];
  return struct([i32(1, 2), list(2, T.STRUCT, schema), i64(3, 7), list(4, T.STRUCT, []), list(5, T.STRUCT, kvs), bin(6, 'modelgate test'), ...extra]);
}

/** PAR1, the footer, its length, PAR1 (no column chunks: nothing here reads them). */
function parquet(footer: Bytes | Uint8Array, pad = 0): Uint8Array {
  const len = Buffer.alloc(4);
  len.writeUInt32LE(footer.length);
  return new Uint8Array(Buffer.concat([Buffer.from('PAR1'), Buffer.alloc(pad), Buffer.from(footer), len, Buffer.from('PAR1')]));
}

/** The base64 text and decoded IPC message of a fixture's ARROW:schema (found like gen_parquet.py does). */
function arrowSchemaOf(data: Uint8Array): { text: string; decoded: Uint8Array } {
  const buf = Buffer.from(data);
  const n = buf.readUInt32LE(buf.length - 8);
  const footer = buf.subarray(buf.length - 8 - n, buf.length - 8);
  const at = footer.indexOf(Buffer.from('\x18\x0cARROW:schema', 'latin1'));
  let p = at + 14;
  expect(footer[p++]).toBe(0x18);
  let len = 0;
  let mul = 1;
  for (;;) {
    const b = footer[p++]!;
    len += (b & 0x7f) * mul;
    mul *= 128;
    if (b < 0x80) break;
  }
  const text = footer.subarray(p, p + len).toString('latin1');
  return { text, decoded: new Uint8Array(Buffer.from(text, 'base64')) };
}

const CLEAN = fixture('benign/parquet_pyarrow.parquet');
const EVIL = fixture('malicious/parquet_py_extension_type.parquet');
const EVIL_SCHEMA = arrowSchemaOf(EVIL);

describe('Parquet: files written by pyarrow and pandas', () => {
  it('pq.write_table: format parquet, the footer facts, nothing to report', async () => {
    const f = await file('benign/parquet_pyarrow.parquet');
    expect(f.formats).toEqual(['parquet']);
    expect(f.findings.filter((x) => atLeast(x.severity, 'low'))).toEqual([]);
    expect(f.complete).toBe(true);
    expect(f.facts).toMatchObject({
      'parquet.num_rows': 5,
      'parquet.row_groups': 2,
      'parquet.columns': 4,
      'parquet.arrow_fields': 5,
      'parquet.metadata_keys': ['ARROW:schema'],
    });
    expect(f.facts['parquet.created_by']).toMatch(/^parquet-cpp-arrow version \d+/);
  });

  it('DataFrame.to_parquet: the pandas metadata key, the index as a column', async () => {
    const f = await file('benign/parquet_pandas.parquet');
    expect(f.formats).toEqual(['parquet']);
    expect(f.findings.filter((x) => atLeast(x.severity, 'low'))).toEqual([]);
    expect(f.facts).toMatchObject({
      'parquet.num_rows': 4,
      'parquet.row_groups': 1,
      'parquet.columns': 3,
      'parquet.metadata_keys': ['pandas', 'ARROW:schema'],
      'parquet.arrow_schema_metadata_keys': ['pandas'],
    });
  });

  it('the datasets library’s parquet (a dataset repository) is parquet, not an unknown format', async () => {
    const f = (await scanFile(join(FIXTURES, 'repos/datasets/acme/tiny-dataset/data/train-00000-of-00001.parquet'))).files[0]!;
    expect(f.formats).toEqual(['parquet']);
    expect(rules(f)).not.toContain('FORMAT_UNKNOWN');
    expect(f.facts['parquet.num_rows']).toBe(8);
    expect(f.facts['parquet.metadata_keys']).toContain('huggingface');
  });

  it('is recognised by content under any name', async () => {
    expect((await bytes(CLEAN, 'data.bin')).formats).toEqual(['parquet']);
  });
});

describe('Parquet: arrow.py_extension_type (CVE-2023-47248)', () => {
  it('reports the extension type and the pickle’s os.system with its call chain', async () => {
    const f = await file('malicious/parquet_py_extension_type.parquet');
    const [ext] = rule(f, 'PARQUET_PY_EXTENSION_TYPE');
    expect(ext!.severity).toBe('high');
    expect(ext!.evidence.details).toMatchObject({ field: 'payload', metadataValues: 1 });
    expect(ext!.references).toEqual(expect.arrayContaining(['CVE-2023-47248', 'GHSA-5wvp-7f3h-6wmm']));
    const [g] = rule(f, 'PICKLE_DANGEROUS_GLOBAL');
    expect(g!.evidence.canonical).toBe('os.system');
    expect(g!.evidence.global).toBe('posix.system');
    expect(g!.evidence.use).toBe('called');
    expect(g!.evidence.chain).toBe("posix.system('echo modelgate-fixture')");
    expect(g!.location.path.slice(1)).toEqual(['ARROW:extension:metadata of field payload']);
    expect(f.maxSeverity).toBe('critical');
    expect(f.complete).toBe(true);
  });

  it('finds the type on a child field of a struct column', async () => {
    const f = await file('malicious/parquet_py_extension_type_nested.parquet');
    expect(rule(f, 'PARQUET_PY_EXTENSION_TYPE')[0]!.evidence.details!['field']).toBe('record.inner');
    expect(dangerous(f)).toEqual(['subprocess.Popen']);
  });

  it('reads the legacy IPC framing (no continuation marker) the same way', async () => {
    const legacy = EVIL_SCHEMA.decoded.subarray(4);
    const f = await bytes(parquet(fileMetaData([kv('ARROW:schema', Buffer.from(legacy).toString('base64'))])));
    expect(rules(f)).toContain('PARQUET_PY_EXTENSION_TYPE');
    expect(dangerous(f)).toEqual(['os.system']);
    expect(rule(f, 'PARQUET_MALFORMED')).toEqual([]);
  });

  it('other extension names are facts, not findings', async () => {
    // The same schema with the extension name rewritten (same length) to another type.
    const renamed = Buffer.from(EVIL_SCHEMA.decoded);
    const at = renamed.indexOf('arrow.py_extension_type');
    renamed.write('modelgate.uuid_typeXXXX', at, 'latin1');
    const f = await bytes(parquet(fileMetaData([kv('ARROW:schema', renamed.toString('base64'))])));
    expect(rules(f)).not.toContain('PARQUET_PY_EXTENSION_TYPE');
    expect(rules(f)).not.toContain('PICKLE_DANGEROUS_GLOBAL');
    expect(f.facts['parquet.arrow_extension_types']).toEqual(['modelgate.uuid_typeXXXX']);
  });

  it('the type without metadata to unpickle is reported at medium, with no pickle', async () => {
    const renamed = Buffer.from(EVIL_SCHEMA.decoded);
    renamed.write('ARROW:extension:metadatX', renamed.indexOf('ARROW:extension:metadata'), 'latin1');
    const f = await bytes(parquet(fileMetaData([kv('ARROW:schema', renamed.toString('base64'))])));
    const [ext] = rule(f, 'PARQUET_PY_EXTENSION_TYPE');
    expect(ext!.severity).toBe('medium');
    expect(ext!.message).toMatch(/no ARROW:extension:metadata/);
    expect(rules(f)).not.toContain('PICKLE_DANGEROUS_GLOBAL');
  });

  it('a second ARROW:schema entry is malformed and examined too', async () => {
    const f = await bytes(parquet(fileMetaData([kv('ARROW:schema', arrowSchemaOf(CLEAN).text), kv('ARROW:schema', EVIL_SCHEMA.text)])));
    expect(rule(f, 'PARQUET_MALFORMED')[0]!.message).toMatch(/2 ARROW:schema entries/);
    expect(dangerous(f)).toEqual(['os.system']);
  });

  it('a non-pickle-looking metadata is still interpreted as the pickle pyarrow would load', async () => {
    const broken = Buffer.from(EVIL_SCHEMA.decoded);
    // The pickle's PROTO opcode becomes a space: no pickle sniffer claims it, pickle.loads still reads it.
    const at = broken.indexOf(Buffer.from([0x80, 0x04, 0x95]));
    broken[at] = 0x20;
    const f = await bytes(parquet(fileMetaData([kv('ARROW:schema', broken.toString('base64'))])));
    expect(rules(f)).toContain('PARQUET_PY_EXTENSION_TYPE');
    expect(rules(f)).toContain('PICKLE_MALFORMED');
  });
});

describe('Parquet: damaged files are PARQUET_MALFORMED, never clean', () => {
  const malformed = async (b: Uint8Array) => {
    const f = await bytes(b);
    expect(rules(f)).not.toContain('SCAN_ERROR');
    expect(f.formats).toContain('parquet');
    return rule(f, 'PARQUET_MALFORMED').map((x) => x.message);
  };

  it('the anomaly fixtures: truncated, footer length, bad base64', async () => {
    expect((await malformed(fixture('anomalies/parquet_truncated.parquet'))).join()).toMatch(/does not end with PAR1/);
    expect((await malformed(fixture('anomalies/parquet_footer_length.parquet'))).join()).toMatch(/footer length 2154 exceeds/);
    expect((await malformed(fixture('anomalies/parquet_bad_base64.parquet'))).join()).toMatch(/not valid base64/);
  });

  it('garbage thrift: unknown type, a list longer than the footer, a varint that never ends, nesting', async () => {
    expect((await malformed(parquet([0x1e, 0x00]))).join()).toMatch(/unknown compact type 14/);
    expect((await malformed(parquet([0x19, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00]))).join()).toMatch(/declares 2147483647 elements/);
    expect((await malformed(parquet([0x15, ...Array(12).fill(0xff), 0x00]))).join()).toMatch(/varint longer than 5 bytes/);
    const deep = [...Array(100).fill(0x19), ...Array(100).fill(0)];
    expect((await malformed(parquet([0x19, ...deep]))).join()).toMatch(/nested deeper than 64/);
    expect((await malformed(parquet(struct([bin(6, 'only created_by')])))).join()).toMatch(/lacks required fields version, schema, num_rows, row_groups/);
  });

  it('bad base64: junk after a valid prefix is reported, and the prefix still examined (old Arrow decoded it)', async () => {
    const f = await bytes(parquet(fileMetaData([kv('ARROW:schema', `${EVIL_SCHEMA.text}!!junk`)])));
    expect(rule(f, 'PARQUET_MALFORMED').map((x) => x.message).join()).toMatch(/not valid base64/);
    expect(dangerous(f)).toEqual(['os.system']);
  });

  it('a truncated flatbuffer: declared length past the data, or offsets past the end', async () => {
    const cut = EVIL_SCHEMA.decoded.subarray(0, EVIL_SCHEMA.decoded.length - 120);
    expect((await malformed(parquet(fileMetaData([kv('ARROW:schema', Buffer.from(cut).toString('base64'))])))).join()).toMatch(/declares \d+ metadata bytes, only \d+ follow/);
    const relen = Buffer.from(cut);
    relen.writeUInt32LE(relen.length - 8, 4);
    const f = await bytes(parquet(fileMetaData([kv('ARROW:schema', relen.toString('base64'))])));
    expect(rule(f, 'PARQUET_MALFORMED').map((x) => x.message).join()).toMatch(/ARROW:schema: .*(outside|past the end)/);
    expect(f.complete).toBe(false);
  });

  it('a message that is not a Schema, and an empty one', async () => {
    const notSchema = Buffer.from(EVIL_SCHEMA.decoded);
    // Message.header_type is the only ubyte field: find it through the root table's vtable.
    const root = 8 + notSchema.readUInt32LE(8);
    const vt = root - notSchema.readInt32LE(root);
    notSchema[root + notSchema.readUInt16LE(vt + 6)] = 3;
    expect((await malformed(parquet(fileMetaData([kv('ARROW:schema', notSchema.toString('base64'))])))).join()).toMatch(/header type 3 is not Schema/);
    expect((await malformed(parquet(fileMetaData([kv('ARROW:schema', '')])))).join()).toMatch(/decodes to nothing/);
  });

  it('fields sharing one children vector (a 2^40-field tree in 700 bytes) stop at the field limit', async () => {
    // A hand-laid flatbuffer: uoffsets point forward, each vtable sits before its tables.
    const b: number[] = [];
    const u16 = (v: number) => {
      b.push(v & 0xff, v >> 8);
    };
    const u32 = (v: number) => {
      u16(v & 0xffff);
      u16(v >>> 16);
    };
    /** Points the uoffset at `at` to `target`. */
    const patch = (at: number, target: number) => {
      for (let i = 0; i < 4; i++) b[at + i] = ((target - at) >>> (8 * i)) & 0xff;
    };
    u32(0); // root offset, patched
    const vtMessage = b.length; // version absent, header_type at +8, header at +4
    [10, 12, 0, 8, 4].forEach(u16);
    while (b.length % 4) b.push(0);
    const message = b.length;
    patch(0, message);
    u32(message - vtMessage);
    const headerAt = b.length;
    u32(0);
    b.push(1, 0, 0, 0); // header_type Schema
    const vtSchema = b.length; // fields at +4
    [8, 8, 0, 4].forEach(u16);
    const schema = b.length;
    patch(headerAt, schema);
    u32(schema - vtSchema);
    let vectorAt = b.length;
    u32(0);
    const vtField = b.length; // children (slot 5) at +4
    [16, 8, 0, 0, 0, 0, 0, 4].forEach(u16);
    for (let depth = 0; depth < 40; depth++) {
      patch(vectorAt, b.length);
      u32(2);
      const slots = [b.length, b.length + 4];
      u32(0);
      u32(0);
      const field = b.length;
      slots.forEach((s) => patch(s, field));
      u32(field - vtField);
      vectorAt = b.length;
      u32(0);
    }
    patch(vectorAt, b.length);
    u32(0); // the deepest children vector is empty
    while (b.length % 8) b.push(0);
    const message8 = Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.alloc(4), Buffer.from(b)]);
    message8.writeUInt32LE(b.length, 4);
    const f = await bytes(parquet(fileMetaData([kv('ARROW:schema', message8.toString('base64'))])));
    expect(rule(f, 'PARQUET_MALFORMED').map((x) => x.message).join()).toMatch(/more than 100000 Arrow fields/);
    expect(f.facts['parquet.arrow_fields']).toBe(100_001);
  });

  it('an encrypted footer (PARE) is recognised and reported not analysed', async () => {
    const b = Buffer.from(parquet([1, 2, 3, 4]));
    b.write('PARE', 0, 'latin1');
    b.write('PARE', b.length - 4, 'latin1');
    const f = await bytes(new Uint8Array(b));
    expect(f.formats).toEqual(['parquet-encrypted']);
    expect(rules(f)).toEqual(['FORMAT_NOT_ANALYSED']);
  });

  it('does not claim text that happens to start with PAR1', async () => {
    expect((await bytes(new TextEncoder().encode('PAR1 is a gene; see PAR1'))).formats).not.toContain('parquet');
  });

  it('a footer length of any 32-bit value is checked, never trusted', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 32 - 1 }), async (len) => {
        const b = Buffer.from(CLEAN);
        b.writeUInt32LE(len, b.length - 8);
        const f = await bytes(new Uint8Array(b));
        expect(rules(f)).not.toContain('SCAN_ERROR');
        if (len > b.length - 12) expect(rules(f)).toContain('PARQUET_MALFORMED');
      }),
      { numRuns: 100 },
    );
  });

  it('mutated and cut real files never make the analyzer throw, and a partial read is never clean', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(CLEAN, EVIL),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.option(fc.nat({ max: 400 })),
        async (base, edits, cut) => {
          const b = base.slice(0, cut === null ? base.length : Math.max(5, base.length - cut));
          // Edits land in the footer, its length and the final magic: the only bytes the analyzer reads.
          const footerStart = base.length - 8 - Buffer.from(base).readUInt32LE(base.length - 8);
          for (const [at, v] of edits) {
            const i = footerStart + (at % (base.length - footerStart));
            if (i < b.length) b[i] = v;
          }
          const f = await bytes(b);
          expect(rules(f)).not.toContain('SCAN_ERROR');
          if (!f.complete) expect(rules(f).some((r) => r === 'PARQUET_MALFORMED' || r === 'SCAN_INCOMPLETE')).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('arbitrary bytes as a footer end in a verdict', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 256 }), async (footer) => {
        const f = await bytes(parquet([0x15, ...footer]));
        expect(rules(f)).not.toContain('SCAN_ERROR');
        expect(f.formats).toEqual(['parquet']);
      }),
      { numRuns: 300 },
    );
  });
});

describe('Parquet: reads only the footer', () => {

  it('the analyzer reads the last 8 bytes, then exactly the footer', async () => {
    const padded = parquet(new Uint8Array(Buffer.from(EVIL).subarray(EVIL.length - 8 - Buffer.from(EVIL).readUInt32LE(EVIL.length - 8), EVIL.length - 8)), 16 << 20);
    const src = new RecordingSource('big.parquet', padded);
    const { ctx, rec } = stubContext();
    const claim = parquetAnalyzer.sniff({ head: await src.read(0, 65536), tail: await src.read(padded.length - 65536, 65536), size: padded.length, name: src.name });
    expect(claim).toEqual({ format: 'parquet', confidence: 0.9 });
    src.reads.length = 0;
    const before = src.bytesRead();
    await parquetAnalyzer.analyze(src, ctx, claim!);
    const footerLen = Buffer.from(padded).readUInt32LE(padded.length - 8);
    expect(src.reads).toEqual([
      [padded.length - 8, 8],
      [padded.length - 8 - footerLen, footerLen],
    ]);
    expect(src.bytesRead() - before).toBe(8 + footerLen);
    expect(rec.findings.map((x) => x.rule)).toEqual(['PARQUET_PY_EXTENSION_TYPE']);
    expect(rec.members.map((m) => m.name)).toEqual(['ARROW:extension:metadata of field payload']);
  });

  it('a whole scan of a 16 MiB file reads a few KiB beyond the sniffing window', async () => {
    const footer = Buffer.from(EVIL).subarray(EVIL.length - 8 - Buffer.from(EVIL).readUInt32LE(EVIL.length - 8), EVIL.length - 8);
    const big = parquet(new Uint8Array(footer), 16 << 20);
    const f = await new Engine().scanSource(new BufferSource('big.parquet', big));
    expect(dangerous(f)).toEqual(['os.system']);
    expect(f.bytesRead).toBeLessThan(256 * 1024);
  });

  it('a footer above maxParquetFooterBytes is not read: the scan is incomplete', async () => {
    const f = (await scanBytes(CLEAN, 'x.parquet', { limits: { maxParquetFooterBytes: 100 } })).files[0]!;
    expect(rule(f, 'SCAN_INCOMPLETE')[0]!.message).toMatch(/maxParquetFooterBytes/);
    expect(f.complete).toBe(false);
  });

  it('a gzipped Parquet file (a stream of unknown size) is measured, then read the same way', async () => {
    const f = await bytes(new Uint8Array(gzipSync(EVIL)), 'train.parquet.gz');
    expect(rule(f, 'PARQUET_PY_EXTENSION_TYPE')).toHaveLength(1);
    expect(dangerous(f)).toEqual(['os.system']);
  });
});

describe('Parquet: the thrift and base64 readers', () => {
  it('skips unknown fields of every type, including long field-id deltas', () => {
    // field 1 i32, field 40 (delta 0: zigzag i16 id) list<binary>, field 41 map<i32,double>, bool true, STOP
    const data = [0x15, 0x04, 0x09, 0x50, 0x28, 0x01, 0x61, 0x01, 0x62, 0x1b, 0x01, 0x57, 0x02, ...Array(8).fill(0), 0x11, 0x00];
    const r = new CompactReader(Uint8Array.from(data));
    const seen: number[] = [];
    r.struct((id) => {
      seen.push(id);
      return false;
    });
    expect(seen).toEqual([1, 40, 41, 42]);
    expect(r.remaining).toBe(0);
  });

  it('a ThriftError carries its kind and file offset', () => {
    const r = new CompactReader(Uint8Array.from([0x18, 0x7f]), 1000);
    let err: unknown;
    try {
      r.struct(() => false);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ThriftError);
    expect((err as ThriftError).kind).toBe('length-out-of-bounds');
    expect((err as ThriftError).offset).toBe(1001);
  });

  it('base64: canonical text, bad padding, a bad character', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(Buffer.from(decodeBase64(enc('bW9kZWxnYXRl')).bytes).toString()).toBe('modelgate');
    expect(decodeBase64(enc('bW9kZWxnYXRlIQ==')).error).toBeNull();
    expect(decodeBase64(enc('bW9kZWxnYXRlIQ=')).error?.message).toMatch(/whole groups/);
    const bad = decodeBase64(enc('bW9k$ZWxn'));
    expect(bad.error?.offset).toBe(4);
    expect(Buffer.from(bad.bytes).toString()).toBe('mod');
  });
});
