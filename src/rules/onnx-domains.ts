/**
 * rules/onnx-domains.yaml: the ONNX operator domains implemented by the specification or
 * compiled into ONNX Runtime. Nodes of any other domain need a custom-op library (native code).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../core/package.js';
import { documentOf, parseCatalogueText } from './catalogue-data.js';
import { ruleFileDigest } from './source-digests.js';
import { str, strList } from './tf-ops.js';

export interface OnnxDomainCatalogue {
  readonly version: string;
  readonly standard: ReadonlySet<string>;
}

export function parseOnnxDomains(text: string, file = 'rules/onnx-domains.yaml'): Set<string> {
  return onnxDomainsOf(parseCatalogueText('onnx-domains.yaml', text), file);
}

function onnxDomainsOf(doc: unknown, file: string): Set<string> {
  const list = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>)['standard_domains'] : undefined;
  if ((doc as Record<string, unknown> | null)?.['version'] !== 1 || !Array.isArray(list)) throw new Error(`${file}: needs version: 1 and a standard_domains list`);
  const out = new Set<string>();
  list.forEach((raw: unknown, i) => {
    const where = `standard_domains[${i}]`;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}: ${where}: must be a mapping`);
    const rec = raw as Record<string, unknown>;
    // The default domain is the empty string, which `str` refuses; check it by hand.
    if (typeof rec['domain'] !== 'string') throw new Error(`${file}: ${where}: "domain" must be a string`);
    str(file, where, rec, 'reason');
    strList(file, where, rec, 'references', true);
    if (out.has(rec['domain'])) throw new Error(`${file}: ${where}: duplicate domain "${rec['domain']}"`);
    out.add(rec['domain']);
  });
  return out;
}

let cached: OnnxDomainCatalogue | null = null;
let text: string | null = null;
let version: string | null = null;

/** The catalogue's version alone, from its file's bytes: analyzer versions need no parsing. */
export function onnxDomainCatalogueVersion(): string {
  text ??= readFileSync(join(packageRoot(), 'rules', 'onnx-domains.yaml'), 'utf8');
  version ??= `1+${ruleFileDigest('onnx-domains.yaml', text).slice(0, 12)}`;
  return version;
}

export function onnxDomainCatalogue(): OnnxDomainCatalogue {
  if (cached) return cached;
  const version = onnxDomainCatalogueVersion();
  cached = { version, standard: onnxDomainsOf(documentOf('onnx-domains.yaml', text!), 'rules/onnx-domains.yaml') };
  return cached;
}
