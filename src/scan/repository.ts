/**
 * Repository-level view of a directory scan: when a scanned directory looks like a model
 * repository (config.json, *.safetensors, pytorch_model*.bin, or a model card README.md with
 * YAML front matter), its files' reports are summed up into what a user deciding whether to
 * load the model needs: formats, whether trust_remote_code is needed (and whether the Python
 * files it would import are there), chat templates, licence, executables, and the safest
 * weights to load. File names are used here, and only here, because this is about how
 * transformers and llama.cpp pick files in a repository; formats still come from the analyzers.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { SEVERITY_RANK, type Severity } from '../core/findings.js';
import { lazyModule } from '../core/lazy.js';
import { formatsWhere } from '../formats/catalogue.js';
import type { FileReport, RepositoryReport } from './report.js';

const MODEL_CARD_BYTES = 64 * 1024;
/** Loaded when a model card is met, not at start-up (src/core/lazy.ts). */
const yaml = lazyModule<typeof import('yaml')>('yaml');
// Derived from the format catalogue, which the analyzers' claims are checked against.
const PICKLE_FORMATS: ReadonlySet<string> = formatsWhere('pickle');
const EXECUTABLE_FORMATS: ReadonlySet<string> = formatsWhere('executable');

/** A model card is a README.md opening with YAML front matter; returns that front matter. */
async function modelCard(dir: string): Promise<Record<string, unknown> | null> {
  try {
    const path = join(dir, 'README.md');
    if (!(await stat(path)).isFile()) return null;
    const text = (await readFile(path)).subarray(0, MODEL_CARD_BYTES).toString('utf8');
    const m = /^\uFEFF?---\r?\n([\s\S]*?)\r?\n---\s*(\r?\n|$)/.exec(text);
    if (!m) return null;
    const doc: unknown = yaml().parse(m[1]!, { maxAliasCount: 10 });
    return doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : {};
  } catch {
    return null;
  }
}

function licenseOf(card: Record<string, unknown> | null): string | null {
  const v = card?.['license'];
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join(', ');
  return null;
}

function markersOf(names: readonly string[], card: Record<string, unknown> | null): string[] {
  const m: string[] = [];
  if (names.includes('config.json')) m.push('config.json');
  if (names.some((n) => n.endsWith('.safetensors'))) m.push('*.safetensors');
  if (names.some((n) => /^pytorch_model.*\.bin$/.test(n))) m.push('pytorch_model*.bin');
  if (card !== null) m.push('model card (README.md)');
  return m;
}

function isPickleBased(f: FileReport): boolean {
  return f.formats.some((x) => PICKLE_FORMATS.has(x)) || f.facts['container'] === 'pytorch-zip';
}

function advice(safetensors: string[], pickle: string[], gguf: string[]): string {
  if (safetensors.length && pickle.length) return `safetensors available: prefer it over ${pickle.slice(0, 3).join(', ')}${pickle.length > 3 ? '…' : ''} (from_pretrained(..., use_safetensors=True))`;
  if (safetensors.length) return 'weights are safetensors only: loading them runs no code';
  if (pickle.length) return `only pickle-based weights (${pickle.slice(0, 3).join(', ')}${pickle.length > 3 ? '…' : ''}): loading runs pickle; load with torch.load(weights_only=True) or convert to safetensors in a sandbox`;
  if (gguf.length) return 'GGUF weights: data only, but the chat template they carry is rendered by Jinja2';
  return 'no model weights recognised';
}

function summarise(dir: string, markers: string[], card: Record<string, unknown> | null, files: readonly FileReport[], present: ReadonlyMap<string, FileReport>): RepositoryReport {
  const rel = (p: string) => relative(dir, p).split(sep).join('/');
  const formats: Record<string, number> = {};
  const safetensors: string[] = [];
  const pickle: string[] = [];
  const gguf: string[] = [];
  const executables: string[] = [];
  const chatTemplates: RepositoryReport['chatTemplates'] = [];
  const remoteFiles = new Set<string>();
  const references: string[] = [];
  let maxSeverity: Severity | null = null;
  for (const f of files) {
    for (const x of f.formats) formats[x] = (formats[x] ?? 0) + 1;
    if (f.formats.includes('safetensors')) safetensors.push(rel(f.path));
    else if (isPickleBased(f)) pickle.push(rel(f.path));
    if (f.formats.includes('gguf')) gguf.push(rel(f.path));
    if (f.formats.some((x) => EXECUTABLE_FORMATS.has(x))) executables.push(rel(f.path));
    const templates = f.facts['chat_templates'];
    if (Array.isArray(templates)) for (const t of templates) chatTemplates.push({ file: rel(f.path), template: t });
    const remote = f.facts['remote_code.files'];
    if (Array.isArray(remote)) for (const r of remote) remoteFiles.add(r);
    const refs = f.facts['remote_code.references'];
    if (Array.isArray(refs)) references.push(...refs.map((r) => `${rel(f.path)}: ${r}`));
    if (f.maxSeverity && (maxSeverity === null || SEVERITY_RANK[f.maxSeverity] > SEVERITY_RANK[maxSeverity])) maxSeverity = f.maxSeverity;
  }
  return {
    path: dir,
    markers,
    files: files.length,
    formats,
    remoteCode: {
      needed: remoteFiles.size > 0,
      // Needing the code is the fact; how dangerous loading it is comes from the code file's own findings.
      files: [...remoteFiles].sort().map((file) => {
        const report = file.includes(':') ? undefined : present.get(file);
        return report ? { file, present: true, maxSeverity: report.maxSeverity } : { file, present: false };
      }),
      references: references.slice(0, 100),
    },
    chatTemplates,
    license: licenseOf(card),
    executables,
    weights: { safetensors, pickle, gguf, advice: advice(safetensors, pickle, gguf) },
    maxSeverity,
  };
}

/**
 * Repositories among the scanned directories. `inputs` are the paths the user gave; only
 * directories at or below them are considered. Each file belongs to its deepest repository.
 */
export async function summariseRepositories(inputs: readonly string[], files: readonly FileReport[]): Promise<RepositoryReport[]> {
  const roots = inputs.map((p) => resolve(p));
  const byDir = new Map<string, FileReport[]>();
  for (const f of files) {
    const d = resolve(dirname(f.path));
    if (!roots.some((r) => d === r || d.startsWith(r + sep))) continue;
    byDir.set(d, [...(byDir.get(d) ?? []), f]);
  }
  // Candidate directories: every directory holding a scanned file, and their ancestors up to a root.
  const candidates = new Set<string>();
  for (const d of byDir.keys()) {
    for (let cur = d; ; cur = dirname(cur)) {
      candidates.add(cur);
      if (roots.includes(cur) || dirname(cur) === cur) break;
    }
  }
  const repos = new Map<string, { markers: string[]; card: Record<string, unknown> | null }>();
  for (const d of [...candidates].sort()) {
    const names = (byDir.get(d) ?? []).map((f) => basename(f.path));
    const card = names.includes('README.md') ? await modelCard(d) : null;
    const markers = markersOf(names, card);
    if (markers.length) repos.set(d, { markers, card });
  }
  const members = new Map<string, FileReport[]>();
  for (const f of files) {
    for (let cur = resolve(dirname(f.path)); ; cur = dirname(cur)) {
      if (repos.has(cur)) {
        members.set(cur, [...(members.get(cur) ?? []), f]);
        break;
      }
      if (dirname(cur) === cur) break;
    }
  }
  const out: RepositoryReport[] = [];
  for (const [dir, { markers, card }] of repos) {
    const list = members.get(dir) ?? [];
    const present = new Map(list.map((f) => [relative(dir, resolve(f.path)).split(sep).join('/'), f]));
    const report = summarise(dir, markers, card, list, present);
    // The path as the user gave it (relative stays relative) when a file sits directly in the directory.
    const direct = list.find((f) => resolve(dirname(f.path)) === dir);
    if (direct) report.path = dirname(direct.path);
    out.push(report);
  }
  return out;
}
