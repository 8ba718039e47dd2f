/**
 * Object headers (version 1 and version 2 "OHDR"), with their continuation blocks, read into a
 * flat list of messages. Only the messages are returned; nothing they point to is read here.
 * Continuations are followed breadth-first with a visited set (a block pointing back to an
 * earlier one is a cycle, reported as malformed) and count and size limits.
 */
import { Cursor, H5Error, H5File, malformed } from './io.js';

export const MSG_CONTINUATION = 0x10;
export const MSG_ATTRIBUTE = 0x0c;
export const MSG_ATTRIBUTE_INFO = 0x15;

export interface Message {
  type: number;
  flags: number;
  data: Uint8Array;
  /** Absolute file offset of the message data. */
  at: number;
}

export interface ObjectHeader {
  version: 1 | 2;
  messages: Message[];
}

interface Block {
  addr: number;
  length: number;
}

function parseV1Messages(file: H5File, c: Cursor, out: Message[], next: Block[]): void {
  // Version 1 messages are 8-byte aligned: 8-byte header, data padded to a multiple of 8.
  while (c.left >= 8) {
    const type = c.u16('message type');
    const size = c.u16('message size');
    const flags = c.u8('message flags');
    c.skip(3, 'reserved');
    const at = c.at + c.pos;
    const data = c.bytes(size, `message of type 0x${type.toString(16)}`);
    push(file, { type, flags, data, at }, out, next);
  }
}

function parseV2Messages(file: H5File, c: Cursor, end: number, trackOrder: boolean, out: Message[], next: Block[]): void {
  const headerSize = trackOrder ? 6 : 4;
  // Space too small for a message header at the end of a chunk is a gap, not a message.
  while (end - c.pos >= headerSize) {
    const type = c.u8('message type');
    const size = c.u16('message size');
    const flags = c.u8('message flags');
    if (trackOrder) c.skip(2, 'creation order');
    if (c.pos + size > end) throw malformed(`message of type 0x${type.toString(16)} (${size} bytes) runs past its object header chunk`, c.at + c.pos);
    const at = c.at + c.pos;
    const data = c.bytes(size, 'message data');
    push(file, { type, flags, data, at }, out, next);
  }
}

function push(file: H5File, m: Message, out: Message[], next: Block[]): void {
  if (out.length >= file.limits.maxMessages) throw new H5Error('limit', `object header has more than ${file.limits.maxMessages} messages`, m.at);
  out.push(m);
  if (m.type === MSG_CONTINUATION) {
    const c = new Cursor(m.data, m.at);
    next.push({ addr: file.offset(c, 'continuation address'), length: file.length(c, 'continuation length') });
  }
}

async function follow(file: H5File, version: 1 | 2, trackOrder: boolean, start: Block[], visited: Set<number>, out: Message[]): Promise<void> {
  const queue = [...start];
  let blocks = 0;
  while (queue.length) {
    const b = queue.shift()!;
    if (visited.has(b.addr)) throw malformed(`object header continuation at ${b.addr} is visited twice (a cycle)`, file.base + b.addr);
    visited.add(b.addr);
    if (++blocks > file.limits.maxContinuations) throw new H5Error('limit', `more than ${file.limits.maxContinuations} object header continuation blocks`);
    const c = await file.read(b.addr, b.length, 'object header continuation block');
    const next: Block[] = [];
    if (version === 1) parseV1Messages(file, c, out, next);
    else {
      if (b.length < 8) throw malformed('continuation block too small for its signature and checksum', c.at);
      c.signature('OCHK', 'object header continuation block');
      parseV2Messages(file, c, b.length - 4, trackOrder, out, next);
    }
    queue.push(...next);
  }
}

export async function readObjectHeader(file: H5File, addr: number): Promise<ObjectHeader> {
  if (addr < 0 || file.base + addr + 16 > file.size) throw malformed(`object header address ${addr} lies outside the ${file.size}-byte file`);
  const first = await file.read(addr, 16, 'object header prefix');
  const out: Message[] = [];
  const next: Block[] = [];
  const visited = new Set<number>([addr]);
  if (first.buf.length >= 4 && first.buf[0] === 0x4f && first.buf[1] === 0x48 && first.buf[2] === 0x44 && first.buf[3] === 0x52) {
    // "OHDR": version 2.
    const pre = await file.read(addr, Math.min(64, file.size - file.base - addr), 'object header prefix');
    pre.skip(4, 'signature');
    const version = pre.u8('object header version');
    if (version !== 2) throw malformed(`OHDR object header has version ${version}`, pre.at + 4);
    const flags = pre.u8('object header flags');
    if (flags & 0x20) pre.skip(16, 'object times');
    if (flags & 0x10) pre.skip(4, 'attribute phase change values');
    const chunkSize = pre.uint(1 << (flags & 0x03), 'chunk size');
    const start = pre.pos;
    const c = await file.read(addr + start, chunkSize + 4, 'object header chunk');
    parseV2Messages(file, c, chunkSize, (flags & 0x04) !== 0, out, next);
    await follow(file, 2, (flags & 0x04) !== 0, next, visited, out);
    return { version: 2, messages: out };
  }
  const c = first;
  const version = c.u8('object header version');
  if (version !== 1) throw malformed(`object header version ${version} is neither 1 nor an OHDR header`, c.at);
  c.skip(1, 'reserved');
  c.u16('message count');
  c.skip(4, 'reference count');
  const size = c.u32('object header size');
  // The 12-byte prefix is padded to 16 so messages stay 8-byte aligned.
  const body = await file.read(addr + 16, size, 'object header messages');
  parseV1Messages(file, body, out, next);
  await follow(file, 1, false, next, visited, out);
  return { version: 1, messages: out };
}
