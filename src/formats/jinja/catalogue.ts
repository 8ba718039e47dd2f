/**
 * The chat-template catalogue (rules/templates.yaml), loaded once. See the file's header for
 * what each section means; this module only answers "is this name or string listed, and why".
 */
import { SEVERITY_RANK } from '../../core/findings.js';
import { bestMatch, loadPatternCatalogue, type PatternEntry } from '../../rules/patterns.js';

export type TemplateSection = 'attributes' | 'strings' | 'globals' | 'filters' | 'statements';

const SECTIONS: readonly TemplateSection[] = ['attributes', 'strings', 'globals', 'filters', 'statements'];

export interface TemplateCatalogue {
  readonly version: string;
  /** The entry for a name in a name section (exact or glob), or null. */
  name(section: Exclude<TemplateSection, 'strings'>, name: string): PatternEntry | null;
  /** String-constant patterns (regular expressions) matching `value`, worst first. */
  strings(value: string): PatternEntry[];
}

let cached: TemplateCatalogue | null = null;

export function templateCatalogue(): TemplateCatalogue {
  if (cached) return cached;
  const cat = loadPatternCatalogue('templates.yaml', SECTIONS);
  const regexes = (cat.sections.get('strings') ?? []).map((e) => ({ e, re: new RegExp(e.pattern, 'u') }));
  cached = {
    version: cat.version,
    name: (section, name) => bestMatch(cat.sections.get(section) ?? [], name),
    strings: (value) =>
      regexes
        .filter(({ re }) => re.test(value))
        .map(({ e }) => e)
        .sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]),
  };
  return cached;
}
