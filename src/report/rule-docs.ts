/**
 * The documentation of a finding kind, read from docs/rules/<ID>.md in the installed package so
 * that SARIF's help text and the Markdown links match the version that produced the report.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot, packageVersion } from '../core/package.js';
import { RULES, ruleDocPath } from '../core/rules.js';

export interface RuleDoc {
  id: string;
  title: string;
  /** The page as written, or null when the package ships no page for this id. */
  markdown: string | null;
  /** `## Heading` → body, in page order. */
  sections: Map<string, string>;
}

/** Where the source repository lives: package.json's `repository` or `homepage`, else the project's default. */
const FALLBACK_REPOSITORY = 'https://github.com/modelgate/modelgate';

let repoCache: string | null = null;

export function repositoryUrl(): string {
  if (repoCache !== null) return repoCache;
  let url = FALLBACK_REPOSITORY;
  try {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
      repository?: string | { url?: string };
      homepage?: string;
    };
    const raw = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url ?? pkg.homepage;
    if (raw) {
      // npm's shorthand and git URLs both appear in package.json; links need https.
      const cleaned = raw.replace(/^git\+/, '').replace(/^git:\/\//, 'https://').replace(/^github:/, 'https://github.com/').replace(/\.git$/, '').replace(/#.*$/, '');
      if (/^https:\/\//.test(cleaned)) url = cleaned.replace(/\/+$/, '');
      else if (/^[\w.-]+\/[\w.-]+$/.test(cleaned)) url = `https://github.com/${cleaned}`;
    }
  } catch {
    // A missing or odd package.json only costs us the precise link.
  }
  repoCache = url;
  return url;
}

/** The documentation page on the repository's web view. */
export function ruleHelpUri(id: string): string {
  return `${repositoryUrl()}/blob/main/${ruleDocPath(id)}`;
}

export function toolInformationUri(): string {
  return repositoryUrl();
}

export function toolVersion(): string {
  return packageVersion();
}

const cache = new Map<string, RuleDoc>();

export function ruleDoc(id: string): RuleDoc {
  const hit = cache.get(id);
  if (hit) return hit;
  const title = RULES.get(id)?.title ?? id;
  let markdown: string | null = null;
  // Ids come from our own findings, but a path is still built from them: keep them to the id alphabet.
  if (/^[A-Z0-9_]+$/.test(id)) {
    try {
      markdown = readFileSync(join(packageRoot(), ruleDocPath(id)), 'utf8');
    } catch {
      markdown = null;
    }
  }
  const doc: RuleDoc = { id, title, markdown, sections: markdown === null ? new Map() : splitSections(markdown) };
  cache.set(id, doc);
  return doc;
}

function splitSections(md: string): Map<string, string> {
  const out = new Map<string, string>();
  let current: string | null = null;
  let body: string[] = [];
  const flush = () => {
    if (current !== null) out.set(current, body.join('\n').trim());
  };
  for (const line of md.split(/\r?\n/)) {
    const h = /^##\s+(.+?)\s*#*\s*$/.exec(line);
    if (h && h[1] !== undefined) {
      flush();
      current = h[1];
      body = [];
    } else if (current !== null) body.push(line);
  }
  flush();
  return out;
}

/** The page without its `# Title` line: tools show their own title above the help. */
export function docBody(doc: RuleDoc): string | null {
  if (doc.markdown === null) return null;
  return absoluteLinks(doc.markdown.replace(/^\s*#\s+[^\n]*\n+/, '').trim());
}

/** Relative links in a page (`[globals.md](globals.md)`) mean nothing once the text is inside a SARIF file. */
function absoluteLinks(md: string): string {
  const base = `${repositoryUrl()}/blob/main/docs/rules/`;
  return md.replace(/(\]\()([^)\s]+)(\))/g, (m, open: string, target: string, close: string) => {
    if (/^([a-z][a-z0-9+.-]*:|#|\/)/i.test(target)) return m;
    return `${open}${new URL(target, base).href}${close}`;
  });
}

/** First paragraph of a section, as plain text. */
export function firstParagraph(doc: RuleDoc, section: string): string | null {
  const body = doc.sections.get(section);
  if (!body) return null;
  const para = body.split(/\n\s*\n/)[0]?.trim();
  return para ? markdownToText(absoluteLinks(para)) : null;
}

/** Enough Markdown removed that the text reads well where Markdown is not rendered. */
export function markdownToText(md: string): string {
  return md
    .replace(/```[^\n]*\n([\s\S]*?)```/g, (_m, code: string) => code.replace(/^/gm, '    '))
    .replace(/^#{1,6}\s+(.*)$/gm, (_m, h: string) => h.toUpperCase())
    .replace(/!?\[([^\]]*)\]\(([^)\s]+)\)/g, (_m, text: string, url: string) => (text === url ? url : `${text} (${url})`))
    .replace(/`([^`\n]+)`/g, '$1')
    .replace(/\*\*([^*\n]+)\*\*/g, '$1')
    .replace(/(^|\s)[*_]([^*_\n]+)[*_](?=\s|[.,;:]|$)/g, '$1$2')
    .trim();
}
