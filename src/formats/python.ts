/**
 * Python source among model files (modeling_*.py that trust_remote_code=True imports, setup
 * scripts) and TorchScript code (`code/**.py` members of a torch.jit.save archive, which the zip
 * analyzer passes on). Both are claimed by content. Python: the first code line (after comments
 * and a docstring) is an import, def, class, decorator or assignment, and some line at column 0
 * is an import/def/class. TorchScript: the same, plus `__torch__` or `ops.<ns>.` references;
 * it is claimed with a slightly higher confidence so the extra TorchScript checks run.
 * Findings: dangerous calls (rules/python-calls.yaml `calls`) with line numbers; for TorchScript
 * also host operations and operators/classes outside PyTorch's own namespaces.
 */
import { isUtf8 } from 'node:buffer';
import type { AnalysisContext, Analyzer } from './types.js';
import { pythonCatalogue } from './python/catalogue.js';
import { scanPython } from './python/scanner.js';

/** Source files larger than this are read only up to it (real modeling files are < 1 MB). */
const MAX_SOURCE_BYTES = 8 * 1024 * 1024;
const MAX_FINDINGS = 100;

const FIRST_CODE_LINE = /^(import\s+[\w.]+|from\s+\.*[\w.]*\s+import\b|def\s+\w+\s*\(|async\s+def\s|class\s+\w+\s*[(:]|@[\w.]+|if\s+__name__\s*==|try\s*:|[A-Za-z_][\w.]*\s*(:\s*[^=\n]+)?=[^=]|__all__\s*=)/;
const ANCHOR_LINE = /^(import\s+[\w.]+|from\s+\.*[\w.]*\s+import\s|def\s+\w+\s*\(|async\s+def\s+\w+|class\s+\w+\s*[(:])/m;
/** `ops.<ns>.<op>` (TorchScript writes operators without the `torch.` prefix) and `torch.classes.<ns>.<Class>`. */
const CUSTOM_REF = /^(?:(?:torch\.)?ops\.(\w+)\.(\w+)|(?:__torch__\.)?torch\.classes\.(\w+)\.(\w+))/;
const TORCHSCRIPT_HINT = /__torch__\.|\bops\.\w+\.\w+\(|\btorch\.classes\.|\btorch\.from_file\(/;

const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true });

function decodeHead(head: Uint8Array): string | null {
  if (head.subarray(0, 8192).indexOf(0) !== -1) return null;
  const bytes = head.subarray(0, 65536);
  // A head cut from a longer file may end inside a multi-byte character: drop up to three bytes.
  // Checked with isUtf8, not a throwing decode: most files sniffed here are binary, and a
  // thrown and caught TypeError each cost more than the check.
  for (let cut = 0; cut <= Math.min(3, bytes.length); cut++) {
    const part = bytes.subarray(0, bytes.length - cut);
    if (isUtf8(part)) return UTF8_STRICT.decode(part);
    if (bytes.length < 65536) return null;
  }
  return null;
}

/** 'python' | 'torchscript' | null, and whether a python shebang opens the file. */
export function sniffPython(head: Uint8Array): { kind: 'python' | 'torchscript'; shebang: boolean } | null {
  const text = decodeHead(head);
  if (text === null) return null;
  const lines = text.replace(/^\uFEFF/, '').split('\n').slice(0, 400);
  const shebang = /^#!.*\bpython[\d.]*\b/.test(lines[0] ?? '');
  let inDoc: string | null = null;
  for (const raw of lines) {
    const line = raw.replace(/\r$/, '');
    if (inDoc !== null) {
      if (line.includes(inDoc)) inDoc = null;
      continue;
    }
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const doc = /^[rRuU]?("""|''')/.exec(t);
    if (doc) {
      const rest = t.slice(doc[0].length);
      if (!rest.includes(doc[1]!)) inDoc = doc[1]!;
      continue;
    }
    if (/^\s/.test(line)) return null;
    if (!FIRST_CODE_LINE.test(line)) return null;
    if (!ANCHOR_LINE.test(text)) return null;
    return { kind: /^(def|class)\s/.test(line) && TORCHSCRIPT_HINT.test(text) ? 'torchscript' : 'python', shebang };
  }
  return null;
}

function torchscriptChecks(ctx: AnalysisContext, scan: ReturnType<typeof scanPython>, emitted: { n: number }): void {
  const cat = pythonCatalogue();
  const seen = new Set<string>();
  for (const { resolved, line } of scan.names) {
    if (emitted.n >= MAX_FINDINGS) return;
    const host = cat.match('torchscript_host_ops', resolved);
    if (host) {
      if (seen.has(`host|${resolved}`)) continue;
      seen.add(`host|${resolved}`);
      emitted.n++;
      ctx.emit({
        rule: 'TORCHSCRIPT_HOST_OP',
        severity: host.severity,
        message: `TorchScript code calls ${resolved} (line ${line})`,
        evidence: { matched: host.pattern, reason: host.reason, details: { name: resolved, line } },
        references: host.references,
      });
      continue;
    }
    const m = CUSTOM_REF.exec(resolved);
    if (!m) continue;
    const op = m[1] !== undefined;
    const ns = (op ? m[1] : m[3])!;
    const member = (op ? m[2] : m[4])!;
    if (cat.isCoreNamespace(ns)) continue;
    const what = op ? `custom operator ${ns}::${member}` : `custom class ${ns}.${member}`;
    if (seen.has(what)) continue;
    seen.add(what);
    emitted.n++;
    ctx.emit({
      rule: 'TORCHSCRIPT_CUSTOM_OP',
      message: `TorchScript code uses ${what} (line ${line}); it runs native code from a library the loader must have loaded`,
      evidence: { details: { name: resolved, namespace: ns, line } },
      references: ['https://pytorch.org/tutorials/advanced/torch_script_custom_ops.html'],
    });
  }
}

export const pythonAnalyzer: Analyzer = {
  id: 'python',
  version: '2',
  description: 'Python source and TorchScript code: calls that reach the host (os.system, subprocess, eval/exec, network, pickle, ctypes), custom TorchScript operators',
  sniff(input) {
    const s = sniffPython(input.head);
    if (!s) return null;
    // A python shebang makes the file an executable script too: both analyzers must run.
    const confidence = s.shebang ? 0.86 : s.kind === 'torchscript' ? 0.65 : 0.6;
    return { format: s.kind === 'torchscript' ? 'torchscript-code' : 'python', confidence };
  },
  async analyze(source, ctx, claim) {
    const bytes = await source.read(0, MAX_SOURCE_BYTES + 1);
    if (bytes.length > MAX_SOURCE_BYTES) ctx.incomplete(`Python source larger than ${MAX_SOURCE_BYTES} bytes; the rest was not read`);
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, MAX_SOURCE_BYTES));
    const cat = pythonCatalogue();
    const torchscript = claim.format === 'torchscript-code';
    const scan = scanPython(text, {
      keepCall: (resolved, bare) => cat.matchCall(resolved, bare) !== null,
      keepName: (resolved) => torchscript && (cat.match('torchscript_host_ops', resolved) !== null || CUSTOM_REF.test(resolved)),
    });
    if (scan.truncated) ctx.incomplete('Python source has more tokens or calls than the scan limit');
    const emitted = { n: 0 };
    const seen = new Set<string>();
    for (const call of scan.calls) {
      const entry = cat.matchCall(call.resolved, call.bare);
      if (!entry) continue;
      const key = `${call.resolved}|${call.line}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (++emitted.n > MAX_FINDINGS) {
        ctx.emit({ rule: 'PYTHON_DANGEROUS_CALL', message: `more than ${MAX_FINDINGS} dangerous calls; the rest are not listed`, evidence: {} });
        break;
      }
      const alias = call.written !== call.resolved ? ` (written ${call.written})` : '';
      ctx.emit({
        rule: 'PYTHON_DANGEROUS_CALL',
        severity: entry.severity,
        message: `calls ${call.resolved}${alias} at line ${call.line}`,
        evidence: {
          matched: entry.pattern,
          reason: entry.reason,
          chain: `${call.written}(…)`,
          verb: 'calls',
          phrase: `calls ${call.resolved} at line ${call.line}`,
          details: { call: call.resolved, line: call.line },
        },
        references: entry.references,
      });
    }
    ctx.fact(torchscript ? 'torchscript.calls' : 'python.calls', scan.callCount);
    if (torchscript) torchscriptChecks(ctx, scan, emitted);
  },
};
