/** A tiny protobuf encoder for hand-crafted edge cases in tests (the fixtures come from real libraries). */
export function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v ? b | 0x80 : b);
  } while (v);
  return out;
}

export type Part = Uint8Array | number[];

export function cat(...parts: Part[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A varint field. */
export const int = (field: number, v: number | bigint): Uint8Array => cat(varint(field * 8), varint(v));

/** A length-delimited field (string or nested message). */
export function len(field: number, payload: string | Part): Uint8Array {
  const body = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
  return cat(varint(field * 8 + 2), varint(body.length), body);
}

/** A length-delimited field whose declared length is `declared`, not its real one. */
export const lyingLen = (field: number, declared: number | bigint, payload: Part): Uint8Array => cat(varint(field * 8 + 2), varint(declared), payload);

// TensorFlow messages used by the SavedModel tests
export const nodeDef = (name: string, op: string, ...extra: Part[]): Uint8Array => cat(len(1, name), len(2, op), ...extra);
/** NodeDef.attr entry with a string value (AttrValue.s). */
export const strAttr = (key: string, value: string): Uint8Array => len(5, cat(len(1, key), len(2, len(2, value))));
export const functionDef = (name: string, ...nodes: Uint8Array[]): Uint8Array => cat(len(1, len(1, name)), ...nodes.map((n) => len(3, n)));
export function savedModel(opts: { nodes?: Uint8Array[]; functions?: Uint8Array[]; assets?: string[]; tfVersion?: string }): Uint8Array {
  const graph = cat(...(opts.nodes ?? []).map((n) => len(1, n)), ...(opts.functions?.length ? [len(2, cat(...opts.functions.map((f) => len(1, f))))] : []));
  const info = cat(len(4, 'serve'), len(5, opts.tfVersion ?? '2.21.0'));
  const assets = (opts.assets ?? []).map((a) => len(6, cat(len(1, len(1, 'asset:0')), len(2, a))));
  return cat(int(1, 1), len(2, cat(len(1, info), len(2, graph), ...assets)));
}
