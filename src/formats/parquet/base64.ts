/**
 * The base64 pyarrow wraps around the Arrow schema it stores in a Parquet footer (key
 * `ARROW:schema`), decoded the way readers have decoded it.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const SEXTET = new Int8Array(256).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) SEXTET[ALPHABET.charCodeAt(i)] = i;

export interface Base64Result {
  bytes: Uint8Array;
  /** Why the text is not canonical base64 (null when it is), with the offset of the first bad byte. */
  error: { message: string; offset: number } | null;
}

/**
 * Decodes the longest valid prefix, as Arrow's decoder (before it checked its input) did: it
 * stopped at the first '=' or non-alphabet byte and returned what it had. Anything else after
 * that prefix but well-formed padding is reported, so a scan sees what an old pyarrow decodes and
 * still flags text a strict decoder refuses.
 */
export function decodeBase64(text: Uint8Array): Base64Result {
  const out = new Uint8Array(Math.floor((text.length * 3) / 4) + 3);
  let n = 0;
  let acc = 0;
  let bits = 0;
  let i = 0;
  for (; i < text.length; i++) {
    const v = SEXTET[text[i]!]!;
    if (v < 0) break;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  const bytes = out.subarray(0, n);
  const digits = i;
  let pad = 0;
  while (i + pad < text.length && text[i + pad] === 0x3d && pad < 2) pad++;
  if (i + pad < text.length) {
    return { bytes, error: { message: `byte ${text[i + pad]} at ${i + pad} is not base64`, offset: i + pad } };
  }
  if ((digits + pad) % 4 !== 0 || digits % 4 === 1 || (pad > 0 && digits % 4 === 0)) {
    return { bytes, error: { message: `${digits} base64 digits and ${pad} padding characters do not form whole groups`, offset: digits } };
  }
  return { bytes, error: null };
}
