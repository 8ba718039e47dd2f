import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeField, decodeMessage, decodeVarint, headPrefix, WireError, WireReader, type Span } from '../../src/formats/protobuf/wire.js';
import { BufferSource } from '../../src/source/buffer.js';
import type { ByteSource } from '../../src/source/types.js';
import { cat, int, len, lyingLen, varint } from '../helpers/protobuf.js';

function wireError(f: () => unknown): WireError {
  try {
    f();
  } catch (e) {
    if (e instanceof WireError) return e;
    throw e;
  }
  throw new Error('expected a WireError');
}

async function collect(r: WireReader, span: Span, depth = 0) {
  const out = [];
  for await (const f of r.fields(span, depth)) out.push(f);
  return out;
}

/** A source of unknown size, like a decompressing archive member. */
class StreamLike implements ByteSource {
  readonly size = null;
  constructor(
    readonly name: string,
    private readonly b: Uint8Array,
  ) {}
  async read(offset: number, length: number) {
    return this.b.subarray(Math.min(offset, this.b.length), Math.min(this.b.length, offset + length));
  }
  bytesRead() {
    return 0;
  }
}

describe('protobuf wire reader', () => {
  it('decodes a 10-byte varint (2^63) and refuses an 11-byte one', () => {
    const ten = Uint8Array.from(varint(2n ** 63n));
    expect(ten.length).toBe(10);
    expect(decodeVarint(ten, 0, ten.length).value).toBe(2 ** 63);
    const eleven = Uint8Array.from([...Array(10).fill(0x80), 0x01]);
    expect(wireError(() => decodeVarint(eleven, 0, eleven.length)).kind).toBe('varint-too-long');
    expect(wireError(() => decodeVarint(Uint8Array.from([0x80, 0x80]), 0, 2)).kind).toBe('truncated');
  });

  it('checks a declared length against what is left of the enclosing message', () => {
    const msg = lyingLen(1, 2n ** 62n, [1, 2, 3]);
    const e = wireError(() => decodeMessage(msg));
    expect(e.kind).toBe('length-out-of-bounds');
    expect(e.message).toContain('field 1 declares');
    // The same field inside a message that is shorter than its own bytes.
    const outer = lyingLen(2, 3, len(1, 'abcdef'));
    expect(wireError(() => decodeMessage(outer)).kind).toBe('length-out-of-bounds');
  });

  it('refuses group wire types and field number 0', () => {
    expect(wireError(() => decodeField(Uint8Array.from([0x0b]), 0, 1)).kind).toBe('bad-wire-type');
    expect(wireError(() => decodeField(Uint8Array.from([0x02, 0x00]), 0, 2)).kind).toBe('bad-field-number');
  });

  it('skips a large length-delimited field without reading it', async () => {
    const big = new Uint8Array(10 << 20);
    const data = cat(len(1, big), int(2, 42));
    const src = new BufferSource('big.pb', data);
    const r = new WireReader(src);
    const fields = await collect(r, r.root());
    expect(fields.map((f) => f.field)).toEqual([1, 2]);
    expect(fields[1]).toMatchObject({ wire: 'varint', value: 42 });
    expect(src.bytesRead()).toBeLessThan(64 * 1024);
  });

  it('stops at the nesting limit with too-deep', async () => {
    let msg: Uint8Array = int(1, 1);
    for (let i = 0; i < 150; i++) msg = len(1, msg);
    const r = new WireReader(new BufferSource('deep.pb', msg), { maxDepth: 100 });
    async function walk(span: Span, depth: number): Promise<void> {
      for await (const f of r.fields(span, depth)) if (f.wire === 'len') await walk(r.span(f), depth + 1);
    }
    await expect(walk(r.root(), 0)).rejects.toMatchObject({ kind: 'too-deep' });
  });

  it('reads a source of unknown size to its end, and reports a field that runs past it', async () => {
    const ok = cat(int(1, 7), len(2, 'abc'));
    const r = new WireReader(new StreamLike('s', ok));
    expect((await collect(r, r.root())).map((f) => f.field)).toEqual([1, 2]);
    const cut = cat(int(1, 7), lyingLen(2, 100, [0x61]));
    const r2 = new WireReader(new StreamLike('s', cut));
    await expect(collect(r2, r2.root())).rejects.toMatchObject({ kind: 'truncated' });
  });

  it('headPrefix keeps the valid fields and describes the broken one', () => {
    const b = cat(int(1, 1), lyingLen(2, 2n ** 62n, [0]));
    const p = headPrefix(b, 0, b.length);
    expect(p.fields).toHaveLength(1);
    expect(p.broken).toMatchObject({ field: 2, wire: 2, error: 'length-out-of-bounds' });
  });

  it('fails only with WireError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (b) => {
        try {
          decodeMessage(b);
        } catch (e) {
          expect(e).toBeInstanceOf(WireError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
