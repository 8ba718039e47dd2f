import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Engine, scanBytes, scanFile } from '../../src/index.js';
import { atLeast } from '../../src/core/findings.js';
import { arrowIpcAnalyzer } from '../../src/formats/arrow/analyzer.js';
import { isFooter, isSchemaMessage } from '../../src/formats/arrow/peek.js';
import { BufferSource } from '../../src/source/buffer.js';
import { FIXTURES } from '../helpers/manifest.js';
import { stubContext } from '../helpers/stub-context.js';
import { RecordingSource } from '../helpers/recording-source.js';

const fixture = (rel: string) => new Uint8Array(readFileSync(join(FIXTURES, rel)));
const file = async (rel: string) => (await scanFile(join(FIXTURES, rel))).files[0]!;
const bytes = async (b: Uint8Array, name = 'data.arrow') => (await scanBytes(b, name)).files[0]!;
type Report = Awaited<ReturnType<typeof file>>;
const rule = (f: Report, id: string) => f.findings.filter((x) => x.rule === id);
const rules = (f: Report) => f.findings.map((x) => x.rule);
const dangerous = (f: Report) => rule(f, 'PICKLE_DANGEROUS_GLOBAL').map((x) => x.evidence.canonical);
const loud = (f: Report) => f.findings.filter((x) => atLeast(x.severity, 'medium')).map((x) => `${x.rule}: ${x.message}`);

const MAGIC = Buffer.from('ARROW1');
const CLEAN_FILE = fixture('benign/arrow_ipc_file.arrow');
const CLEAN_STREAM = fixture('benign/arrow_ipc_stream.arrows');
const EVIL_FILE = fixture('malicious/arrow_py_extension_type.arrow');
const EVIL_STREAM = fixture('malicious/arrow_py_extension_type_stream.arrows');

/** An IPC file's footer flatbuffer (found from the last 10 bytes, like gen_arrow.py). */
function footerOf(data: Uint8Array): Buffer {
  const b = Buffer.from(data);
  const n = b.readInt32LE(b.length - 10);
  return b.subarray(b.length - 10 - n, b.length - 10);
}

/** The magic, `middle`, the footer, its length and the magic: what the file reader looks at. */
function ipcFile(footer: Uint8Array, middle: Uint8Array = new Uint8Array(0), head: Uint8Array = Buffer.from('ARROW1\0\0', 'latin1')): Uint8Array {
  const len = Buffer.alloc(4);
  len.writeInt32LE(footer.length);
  return new Uint8Array(Buffer.concat([head, middle, footer, len, MAGIC]));
}

/** End of a continuation-framed stream's first message. */
const schemaEnd = (stream: Uint8Array) => 8 + Buffer.from(stream).readUInt32LE(4);

/** The bytes where the analyzer reads the schema: a file's footer and trailer, a stream's first message. */
function schemaRegion(data: Uint8Array): [number, number] {
  if (Buffer.from(data).subarray(0, 6).equals(MAGIC)) return [data.length - 10 - footerOf(data).length, data.length];
  return [0, schemaEnd(data)];
}

describe('Arrow IPC: files written by pyarrow and datasets', () => {
  it('pa.ipc.new_file: the file format, read from its footer; a canonical extension type is a fact', async () => {
    const f = await file('benign/arrow_ipc_file.arrow');
    expect(f.formats).toEqual(['arrow-ipc']);
    expect(loud(f)).toEqual([]);
    expect(f.complete).toBe(true);
    expect(f.facts).toMatchObject({
      'arrow.ipc_format': 'file',
      'arrow.metadata_version': 'V5',
      'arrow.fields': 6,
      'arrow.record_batches': 3,
      'arrow.extension_types': ['arrow.uuid'],
    });
  });

  it('pa.ipc.new_stream and feather.write_feather', async () => {
    const s = await file('benign/arrow_ipc_stream.arrows');
    expect(s.formats).toEqual(['arrow-ipc']);
    expect(loud(s)).toEqual([]);
    expect(s.facts).toMatchObject({ 'arrow.ipc_format': 'stream', 'arrow.message_framing': 'continuation', 'arrow.fields': 5 });
    const feather = await file('benign/arrow_feather.feather');
    expect(feather.formats).toEqual(['arrow-ipc']);
    expect(loud(feather)).toEqual([]);
    expect(feather.facts).toMatchObject({ 'arrow.ipc_format': 'file', 'arrow.fields': 5, 'arrow.record_batches': 1 });
  });

  it('the .arrow shard of datasets’ save_to_disk is a stream, with the huggingface schema metadata', async () => {
    const f = await file('benign/arrow_datasets_save_to_disk.arrow');
    expect(f.formats).toEqual(['arrow-ipc']);
    expect(loud(f)).toEqual([]);
    expect(f.complete).toBe(true);
    expect(f.facts).toMatchObject({ 'arrow.ipc_format': 'stream', 'arrow.fields': 2, 'arrow.schema_metadata_keys': ['huggingface'] });
  });

  it('is recognised by content under any name', async () => {
    expect((await bytes(CLEAN_FILE, 'data.bin')).formats).toEqual(['arrow-ipc']);
    expect((await bytes(CLEAN_STREAM, 'data.bin')).formats).toEqual(['arrow-ipc']);
  });
});

describe('Arrow IPC: arrow.py_extension_type (CVE-2023-47248)', () => {
  it.each([
    ['malicious/arrow_py_extension_type.arrow', 'file'],
    ['malicious/arrow_py_extension_type_stream.arrows', 'stream'],
  ])('%s: the extension type, and the pickle’s os.system with its call chain', async (rel, layout) => {
    const f = await file(rel);
    expect(f.formats).toEqual(['arrow-ipc']);
    expect(f.facts['arrow.ipc_format']).toBe(layout);
    expect([...new Set(rules(f))].sort()).toEqual(['ARROW_PY_EXTENSION_TYPE', 'PICKLE_DANGEROUS_GLOBAL']);
    const [ext] = rule(f, 'ARROW_PY_EXTENSION_TYPE');
    expect(ext!.severity).toBe('high');
    expect(ext!.evidence.details).toMatchObject({ field: 'payload', metadataValues: 1 });
    expect(ext!.references).toEqual(expect.arrayContaining(['CVE-2023-47248', 'GHSA-5wvp-7f3h-6wmm']));
    expect(dangerous(f)).toEqual(['os.system']);
    const [g] = rule(f, 'PICKLE_DANGEROUS_GLOBAL');
    expect(g!.evidence.global).toBe('posix.system');
    expect(g!.evidence.chain).toBe("posix.system('echo modelgate-fixture')");
    expect(g!.location.path.slice(1)).toEqual(['ARROW:extension:metadata of field payload']);
    expect(f.maxSeverity).toBe('critical');
    expect(f.complete).toBe(true);
  });

  it('the extension finding points at the field table inside the schema bytes', async () => {
    const f = await bytes(EVIL_FILE);
    const [start, end] = schemaRegion(EVIL_FILE);
    expect(rule(f, 'ARROW_PY_EXTENSION_TYPE')[0]!.location.offset).toBeGreaterThanOrEqual(start);
    expect(rule(f, 'ARROW_PY_EXTENSION_TYPE')[0]!.location.offset).toBeLessThan(end);
  });

  it('a legacy stream (no continuation marker, Arrow < 0.15) is claimed weakly and read the same way', async () => {
    const legacy = EVIL_STREAM.subarray(4);
    const claim = arrowIpcAnalyzer.sniff({ head: legacy, tail: legacy, size: legacy.length, name: 'x' });
    expect(claim).toMatchObject({ format: 'arrow-ipc', hint: { layout: 'stream' } });
    expect(claim!.confidence).toBeLessThan(0.85);
    const f = await bytes(legacy);
    expect(f.facts['arrow.message_framing']).toBe('legacy');
    expect(rules(f)).toContain('ARROW_PY_EXTENSION_TYPE');
    expect(dangerous(f)).toEqual(['os.system']);
    expect(rule(f, 'ARROW_MALFORMED')).toEqual([]);
  });

  it('a footer appended to other bytes is read (pa.ipc.open_file ignores the leading magic) and flagged', async () => {
    const pickle = Uint8Array.from([0x80, 0x02, 0x4b, 0x01, 0x2e]); // PROTO 2, BININT1 1, STOP
    const f = await bytes(new Uint8Array(Buffer.concat([pickle, Buffer.alloc(64), EVIL_FILE])), 'x.pkl');
    // Scanned both ways a loader could read it.
    expect(f.formats).toEqual(['pickle', 'arrow-ipc']);
    expect(rule(f, 'ARROW_MALFORMED')[0]!.message).toMatch(/does not start with ARROW1/);
    expect(dangerous(f)).toEqual(['os.system']);
  });

  it('a broken record-batch vector in the footer does not hide the fields', async () => {
    const b = Buffer.from(EVIL_FILE);
    const start = b.length - 10 - footerOf(EVIL_FILE).length;
    // Footer.recordBatches is slot 3 of the root table: point its offset 2 GiB away.
    const root = start + b.readUInt32LE(start);
    const vt = root - b.readInt32LE(root);
    b.writeUInt32LE(0x7fffff00, root + b.readUInt16LE(vt + 4 + 2 * 3));
    const f = await bytes(new Uint8Array(b));
    expect(rule(f, 'ARROW_MALFORMED')[0]!.message).toMatch(/^Footer: .*outside/);
    expect(rules(f)).toContain('ARROW_PY_EXTENSION_TYPE');
    expect(dangerous(f)).toEqual(['os.system']);
  });

  it('the type without metadata to unpickle is reported at medium, with no pickle', async () => {
    const renamed = Buffer.from(EVIL_STREAM);
    renamed.write('ARROW:extension:metadatX', renamed.indexOf('ARROW:extension:metadata'), 'latin1');
    const f = await bytes(new Uint8Array(renamed));
    const [ext] = rule(f, 'ARROW_PY_EXTENSION_TYPE');
    expect(ext!.severity).toBe('medium');
    expect(ext!.message).toMatch(/no ARROW:extension:metadata/);
    expect(rules(f)).not.toContain('PICKLE_DANGEROUS_GLOBAL');
  });

  it('other extension names are facts, not findings', async () => {
    const renamed = Buffer.from(EVIL_FILE);
    const at = renamed.lastIndexOf('arrow.py_extension_type');
    renamed.write('modelgate.uuid_typeXXXX', at, 'latin1');
    const f = await bytes(new Uint8Array(renamed));
    expect(rules(f)).toEqual([]);
    expect(f.facts['arrow.extension_types']).toEqual(['modelgate.uuid_typeXXXX']);
  });
});

describe('Arrow IPC: damaged files are ARROW_MALFORMED, never clean', () => {
  const malformed = async (b: Uint8Array) => {
    const f = await bytes(b);
    expect(rules(f)).not.toContain('SCAN_ERROR');
    expect(f.formats).toContain('arrow-ipc');
    return rule(f, 'ARROW_MALFORMED').map((x) => x.message).join('\n');
  };

  it('the anomaly fixtures: truncated stream and file, offsets out of bounds', async () => {
    expect(await malformed(fixture('anomalies/arrow_stream_truncated.arrows'))).toMatch(/declares 312 metadata bytes, only 156 follow/);
    expect(await malformed(fixture('anomalies/arrow_file_truncated.arrow'))).toMatch(/does not end with ARROW1/);
    expect(await malformed(fixture('anomalies/arrow_file_bad_offsets.arrow'))).toMatch(/^Footer: .*outside/);
    expect(await malformed(fixture('anomalies/arrow_stream_bad_offsets.arrows'))).toMatch(/^Schema message: .*outside/);
  });

  it('too short, a footer without a schema, a footer length out of bounds', async () => {
    expect(await malformed(Buffer.from('ARROW1\0\0ARROW1', 'latin1'))).toMatch(/too short/);
    // Root table with an empty vtable: no version, no schema.
    const empty = Uint8Array.from([8, 0, 0, 0, 4, 0, 4, 0, 4, 0, 0, 0]);
    expect(await malformed(ipcFile(empty))).toMatch(/Footer has no schema/);
    const f = Buffer.from(CLEAN_FILE);
    f.writeInt32LE(-5, f.length - 10);
    expect(await malformed(new Uint8Array(f))).toMatch(/footer length -5 is not within/);
  });

  it('a footer length of any 32-bit value is checked, never trusted', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), async (len) => {
        const b = Buffer.from(CLEAN_FILE);
        b.writeInt32LE(len, b.length - 10);
        const f = await bytes(new Uint8Array(b));
        expect(rules(f)).not.toContain('SCAN_ERROR');
        if (len <= 0 || len > b.length - 16) expect(rules(f)).toContain('ARROW_MALFORMED');
      }),
      { numRuns: 100 },
    );
  });

  it('mutated and cut real files and streams end in a verdict, and a partial read is never clean', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(CLEAN_FILE, EVIL_FILE, CLEAN_STREAM, EVIL_STREAM),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.option(fc.nat({ max: 400 })),
        async (base, edits, cut) => {
          const b = base.slice(0, cut === null ? base.length : Math.max(5, base.length - cut));
          // Edits land where the analyzer reads: the footer and trailer, or the first message.
          const [start, end] = schemaRegion(base);
          for (const [at, v] of edits) {
            const i = start + (at % (end - start));
            if (i < b.length) b[i] = v;
          }
          const f = await bytes(b);
          expect(rules(f)).not.toContain('SCAN_ERROR');
          if (!f.complete) expect(rules(f).some((r) => r === 'ARROW_MALFORMED' || r === 'SCAN_INCOMPLETE')).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('the sniffing peek never throws on arbitrary bytes, and text is not Arrow', async () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), (b) => {
        expect(typeof isSchemaMessage(b)).toBe('boolean');
        expect(typeof isFooter(b)).toBe('boolean');
        expect(() => arrowIpcAnalyzer.sniff({ head: b, tail: b, size: b.length, name: 'x' })).not.toThrow();
      }),
      { numRuns: 500 },
    );
    expect((await bytes(new TextEncoder().encode('ARROW1 is a gene; see ARROW1'))).formats).not.toContain('arrow-ipc');
    expect((await bytes(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 16, 0, 0, 0, ...Array(16).fill(7)]))).formats).not.toContain('arrow-ipc');
  });
});

describe('Arrow IPC: reads only the schema', () => {

  const analyze = async (data: Uint8Array) => {
    const src = new RecordingSource('big.arrow', data);
    const { ctx, rec } = stubContext();
    const claim = arrowIpcAnalyzer.sniff({ head: await src.read(0, 65536), tail: await src.read(Math.max(0, data.length - 65536), 65536), size: data.length, name: src.name });
    src.reads.length = 0;
    const before = src.bytesRead();
    await arrowIpcAnalyzer.analyze(src, ctx, claim!);
    return { claim, reads: src.reads, read: src.bytesRead() - before, rec };
  };

  it('the file format: the last 10 bytes, then exactly the footer', async () => {
    const footer = footerOf(EVIL_FILE);
    const padded = ipcFile(footer, new Uint8Array(16 << 20));
    const { claim, reads, read, rec } = await analyze(padded);
    expect(claim).toMatchObject({ format: 'arrow-ipc', confidence: 0.9 });
    expect(reads).toEqual([
      [padded.length - 10, 10],
      [padded.length - 10 - footer.length, footer.length],
    ]);
    expect(read).toBe(10 + footer.length);
    expect(rec.findings.map((x) => x.rule)).toEqual(['ARROW_PY_EXTENSION_TYPE']);
    expect(rec.members.map((m) => m.name)).toEqual(['ARROW:extension:metadata of field payload']);
  });

  it('the stream format: the framing, then the first message, never the record batches', async () => {
    const { reads, rec } = await analyze(EVIL_STREAM);
    expect(reads).toEqual([
      [0, 8],
      [0, schemaEnd(EVIL_STREAM)],
    ]);
    expect(rec.findings.map((x) => x.rule)).toEqual(['ARROW_PY_EXTENSION_TYPE']);
  });

  it('a whole scan of a 16 MiB file reads a few KiB beyond the sniffing window', async () => {
    const big = ipcFile(footerOf(EVIL_FILE), new Uint8Array(16 << 20));
    const f = await new Engine().scanSource(new BufferSource('big.arrow', big));
    expect(dangerous(f)).toEqual(['os.system']);
    expect(f.bytesRead).toBeLessThan(256 * 1024);
  });

  it('a schema above maxArrowSchemaBytes is not read: the scan is incomplete', async () => {
    for (const data of [CLEAN_FILE, CLEAN_STREAM]) {
      const f = (await scanBytes(data, 'x.arrow', { limits: { maxArrowSchemaBytes: 100 } })).files[0]!;
      expect(rule(f, 'SCAN_INCOMPLETE')[0]!.message).toMatch(/maxArrowSchemaBytes/);
      expect(f.complete).toBe(false);
    }
  });

  it('a gzipped IPC file (a stream of unknown size) is measured, then read the same way', async () => {
    const f = await bytes(new Uint8Array(gzipSync(EVIL_FILE)), 'train.arrow.gz');
    expect(rule(f, 'ARROW_PY_EXTENSION_TYPE')).toHaveLength(1);
    expect(dangerous(f)).toEqual(['os.system']);
  });
});
