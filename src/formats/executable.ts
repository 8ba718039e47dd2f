/**
 * Executables among model files: ELF, PE, Mach-O and scripts with a shebang. Model weights
 * never need one; a repository that ships one (or names it `tokenizer.model`) expects somebody
 * to run it. llamafiles are executables too: Actually Portable Executables (a PE that is also a
 * shell script) with a zip appended that carries the GGUF weights (Guardian PAIT-LMAFL-300).
 * The zip analyzer claims the same bytes through their end-of-central-directory record and scans
 * every member, GGUF included; this analyzer only names the payload in its finding.
 */
import type { ByteSource } from '../source/types.js';
import type { FormatId } from './catalogue.js';
import type { AnalysisContext, Analyzer, Claim, SniffInput } from './types.js';
import { eocdCandidates, readEndRecord, readLocalHeader, walkCentral } from './zip/structure.js';

const ELF_MACHINES: Record<number, string> = { 3: 'x86', 8: 'MIPS', 20: 'PowerPC', 21: 'PowerPC64', 40: 'ARM', 62: 'x86-64', 183: 'AArch64', 243: 'RISC-V' };
const ELF_TYPES: Record<number, string> = { 1: 'relocatable object', 2: 'executable', 3: 'shared object', 4: 'core dump' };
const PE_MACHINES: Record<number, string> = { 0x14c: 'x86', 0x8664: 'x86-64', 0xaa64: 'ARM64', 0x1c4: 'ARMv7' };
const MACHO_MAGICS = new Map<number, string>([
  [0xfeedface, 'Mach-O 32-bit'],
  [0xfeedfacf, 'Mach-O 64-bit'],
  [0xcefaedfe, 'Mach-O 32-bit (byte-swapped)'],
  [0xcffaedfe, 'Mach-O 64-bit (byte-swapped)'],
]);
const MAX_PAYLOAD_ENTRIES = 10_000;

const be32 = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
const le16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const le32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

function describe(h: Uint8Array): { format: FormatId; label: string; confidence: number } | null {
  if (h.length >= 20 && h[0] === 0x7f && h[1] === 0x45 && h[2] === 0x4c && h[3] === 0x46) {
    const bits = h[4] === 2 ? '64-bit' : h[4] === 1 ? '32-bit' : 'unknown-class';
    const little = h[5] !== 2;
    const type = little ? le16(h, 16) : (h[16]! << 8) | h[17]!;
    const machine = little ? le16(h, 18) : (h[18]! << 8) | h[19]!;
    return { format: 'elf', label: `ELF ${bits} ${ELF_TYPES[type] ?? `type ${type}`} (${ELF_MACHINES[machine] ?? `machine ${machine}`})`, confidence: 0.95 };
  }
  if (h.length >= 64 && h[0] === 0x4d && h[1] === 0x5a) {
    const pe = le32(h, 0x3c);
    if (pe + 24 <= h.length && h[pe] === 0x50 && h[pe + 1] === 0x45 && h[pe + 2] === 0 && h[pe + 3] === 0) {
      const machine = le16(h, pe + 4);
      const dll = (le16(h, pe + 22) & 0x2000) !== 0;
      const ape = h[2] === 0x71 && h[3] === 0x46 && h[4] === 0x70 && h[5] === 0x44; // "MZqFpD": Actually Portable Executable
      return { format: 'pe', label: `${ape ? 'Actually Portable Executable (PE + shell script)' : `Windows PE ${dll ? 'DLL' : 'executable'}`} (${PE_MACHINES[machine] ?? `machine 0x${machine.toString(16)}`})`, confidence: 0.95 };
    }
    return { format: 'pe', label: 'DOS/Windows MZ executable (no PE header within the first bytes)', confidence: 0.7 };
  }
  if (h.length >= 8) {
    const magic = be32(h, 0);
    const macho = MACHO_MAGICS.get(magic);
    if (macho) return { format: 'macho', label: macho, confidence: 0.95 };
    // 0xcafebabe is also a Java class file; a fat binary has few architectures, a class file a major version >= 45.
    if (magic === 0xcafebabe && be32(h, 4) > 0 && be32(h, 4) < 20) return { format: 'macho', label: `Mach-O universal binary (${be32(h, 4)} architectures)`, confidence: 0.9 };
  }
  if (h[0] === 0x23 && h[1] === 0x21) {
    const line = new TextDecoder('latin1').decode(h.subarray(2, Math.min(h.length, 256))).split('\n')[0]!.trim();
    const words = line.split(/\s+/);
    const interpreter = words[0]?.endsWith('/env') ? words.find((w, i) => i > 0 && !w.startsWith('-')) ?? 'env' : words[0] ?? '';
    if (!/^[\w./+-]+$/.test(interpreter)) return null;
    return { format: 'script', label: `script for ${interpreter.split('/').pop()} (#!${line.slice(0, 80)})`, confidence: 0.9 };
  }
  return null;
}

/** Names the zip appended to the executable (a llamafile's weights), if there is one. */
async function payload(source: ByteSource, tail: Uint8Array): Promise<{ members: number; gguf: string[] } | null> {
  const size = source.size;
  if (size === null) return null;
  const tailStart = size - tail.length;
  for (const pos of eocdCandidates(tail)) {
    const end = await readEndRecord(source, size, tail, tailStart, pos);
    if (!end) continue;
    let members = 0;
    const gguf: string[] = [];
    for await (const step of walkCentral(source, end)) {
      if (step.kind === 'corrupt' || ++members > MAX_PAYLOAD_ENTRIES) break;
      const e = step.entry;
      let isGguf = /\.gguf$/i.test(e.name);
      if (!isGguf && e.method === 0 && gguf.length < 16 && members <= 64) {
        const local = await readLocalHeader(source, e.localOffset);
        if (!(local instanceof Error)) {
          const magic = await source.read(local.dataOffset, 4);
          isGguf = magic.length === 4 && magic[0] === 0x47 && magic[1] === 0x47 && magic[2] === 0x55 && magic[3] === 0x46;
        }
      }
      if (isGguf && gguf.length < 16) gguf.push(e.name);
    }
    return { members, gguf };
  }
  return null;
}

export const executableAnalyzer: Analyzer = {
  id: 'executable',
  version: '2',
  description: 'ELF, PE, Mach-O executables and shebang scripts (llamafiles: the appended zip and its GGUF are scanned by the zip analyzer)',
  sniff(input: SniffInput): Claim | null {
    const d = describe(input.head);
    return d ? { format: d.format, confidence: d.confidence, hint: { label: d.label } } : null;
  },
  async analyze(source: ByteSource, ctx: AnalysisContext, claim: Claim): Promise<void> {
    const label = String(claim.hint?.['label'] ?? claim.format);
    let zip: Awaited<ReturnType<typeof payload>> = null;
    if (claim.format !== 'script' && source.size !== null) {
      const tailLen = Math.min(source.size, 22 + 65535 + 20);
      zip = await payload(source, await source.read(source.size - tailLen, tailLen));
    }
    const llamafile = zip !== null && zip.gguf.length > 0;
    const extra = zip === null ? '' : llamafile ? `; it is a llamafile: an appended zip carries ${zip.gguf.join(', ')} (scanned as a zip member)` : `; an appended zip of ${zip.members} members is scanned as an archive`;
    ctx.emit({
      rule: 'EXECUTABLE_FILE',
      message: `${label} among model files${extra}`,
      evidence: {
        reason: 'model weights never need an executable; anything that runs it runs native code or a script with the user\'s rights',
        details: { format: claim.format, label, ...(zip ? { zipMembers: zip.members, gguf: zip.gguf.join(', ') } : {}) },
      },
      references: llamafile ? ['Guardian PAIT-LMAFL-300', 'https://github.com/Mozilla-Ocho/llamafile'] : [],
    });
    ctx.fact('executable', label);
    if (llamafile) ctx.fact('llamafile.gguf', zip!.gguf);
  },
};
