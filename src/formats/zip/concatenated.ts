/**
 * Files made of complete zip archives laid end to end. torch.distributed.checkpoint writes its
 * .distcp shards this way (torch/distributed/checkpoint/filesystem.py, _write_item): every tensor
 * and every non-tensor object of the state dict is torch.save'd, one after another, into the shard;
 * the checkpoint's .metadata pickle records each item's offset and length (_StorageInfo), and the
 * loader torch.load()s each slice — tensors with weights_only=True, other objects with
 * weights_only=False (default_planner.load_bytes), so each item is a pickle that must be judged.
 *
 * Seen from the end, such a file is the last item's zip with the earlier items as bytes before
 * it. When those bytes are themselves, back to offset 0, whole archives each ending exactly where
 * the next begins, every item is scanned as a zip of its own instead of calling the lot
 * "prepended data". Anything else (a stream transform such as DCP's zstd extension, a pickle or
 * junk in front) is not a concatenation and keeps the prepended-data finding.
 */
import { SliceSource } from '../../source/slice.js';
import type { ByteSource } from '../../source/types.js';
import { EOCD_SIZE, SIG_LOCAL, findEnd, u16, u32 } from './structure.js';

export interface ArchiveSpan {
  start: number;
  length: number;
}

/** The archives that make up bytes [0, before), in file order, or null when they are not exactly that. */
export async function concatenatedArchives(source: ByteSource, before: number, maxArchives: number): Promise<ArchiveSpan[] | null> {
  const spans: ArchiveSpan[] = [];
  let endAt = before;
  while (endAt > 0) {
    if (spans.length >= maxArchives) return null;
    const view = new SliceSource('<archive>', source, 0, endAt);
    const end = await findEnd(view, endAt);
    if (!end || end.shift >= endAt) return null;
    const eocd = await source.read(end.eocdOffset, EOCD_SIZE);
    if (eocd.length < EOCD_SIZE || end.eocdOffset + EOCD_SIZE + u16(eocd, 20) !== endAt) return null;
    const head = await source.read(end.shift, 4);
    if (head.length < 4 || u32(head, 0) !== SIG_LOCAL) return null;
    spans.unshift({ start: end.shift, length: endAt - end.shift });
    endAt = end.shift;
  }
  return spans;
}
