/**
 * transformers' `auto_map` (config.json, tokenizer_config.json, processor and feature-extractor
 * configs) and `custom_pipelines`: class references that only load with trust_remote_code=True,
 * which imports Python files from the repository (or from another repository, `org/repo--module.Class`)
 * and runs them with the user's rights.
 */

export interface RemoteClassRef {
  /** The auto class or pipeline task that refers to it, e.g. `AutoModel`. */
  slot: string;
  /** As written, e.g. `modeling_x.XModel` or `org/repo--modeling_x.XModel`. */
  reference: string;
  /** Repository the code comes from when it is not this one. */
  repository?: string;
  /** The Python file that is imported, relative to the repository root, e.g. `modeling_x.py`. */
  file: string;
  className: string;
}

const MODULE_PART = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses one class reference; null when it is not `module[.sub].Class`. */
export function parseClassRef(slot: string, reference: string): RemoteClassRef | null {
  let ref = reference.trim();
  let repository: string | undefined;
  const sep = ref.indexOf('--');
  if (sep > 0) {
    repository = ref.slice(0, sep);
    ref = ref.slice(sep + 2);
  }
  const parts = ref.split('.');
  if (parts.length < 2) return null;
  const className = parts.pop()!;
  // Anything that is not a plain dotted name is still code to load: keep it, named as written.
  const file = parts.every((p) => MODULE_PART.test(p)) ? `${parts.join('/')}.py` : `${parts.join('.')}.py`;
  return { slot, reference, file, className, ...(repository !== undefined ? { repository } : {}) };
}

/** Every class reference of an `auto_map` value (strings, or lists such as [slow, fast] with nulls). */
export function autoMapRefs(autoMap: unknown): RemoteClassRef[] {
  const out: RemoteClassRef[] = [];
  if (autoMap === null || typeof autoMap !== 'object' || Array.isArray(autoMap)) return out;
  for (const [slot, v] of Object.entries(autoMap as Record<string, unknown>).slice(0, 1000)) {
    const values = Array.isArray(v) ? v : [v];
    for (const x of values.slice(0, 10)) {
      if (typeof x !== 'string') continue;
      const ref = parseClassRef(slot, x);
      if (ref) out.push(ref);
    }
  }
  return out;
}

/** `custom_pipelines: {task: {impl: "module.Class", pt: [...], tf: [...]}}` */
export function customPipelineRefs(pipelines: unknown): RemoteClassRef[] {
  const out: RemoteClassRef[] = [];
  if (pipelines === null || typeof pipelines !== 'object' || Array.isArray(pipelines)) return out;
  for (const [task, v] of Object.entries(pipelines as Record<string, unknown>).slice(0, 1000)) {
    const impl = (v as { impl?: unknown } | null)?.impl;
    if (typeof impl !== 'string') continue;
    const ref = parseClassRef(`pipeline ${task}`, impl);
    if (ref) out.push(ref);
  }
  return out;
}
