/**
 * Standalone chat templates (chat_template.jinja, which transformers prefers over the
 * template in tokenizer_config.json), claimed by content: text that opens with a Jinja tag.
 * Markdown, Python and JSON never start with `{%`, `{{` or `{#`.
 */
import type { Analyzer } from '../types.js';
import { MAX_TEMPLATE_CHARS, checkTemplate } from './check.js';

function opensWithTag(head: Uint8Array): boolean {
  let i = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x0a || head[i] === 0x0d || head[i] === 0x09)) i++;
  if (head[i] !== 0x7b || (head[i + 1] !== 0x25 && head[i + 1] !== 0x7b && head[i + 1] !== 0x23)) return false;
  for (const c of head.subarray(0, 8192)) if (c === 0) return false;
  return true;
}

export const jinjaTemplateAnalyzer: Analyzer = {
  id: 'jinja-template',
  version: '1',
  description: 'Jinja chat templates in their own file (chat_template.jinja): sandbox escapes, suspicious names, include/import/extends, parse failures',
  sniff(input) {
    return opensWithTag(input.head) ? { format: 'jinja', confidence: 0.6 } : null;
  },
  async analyze(source, ctx) {
    // Template bytes are read up to the limit (UTF-8 takes at most 4 bytes a character).
    const limit = MAX_TEMPLATE_CHARS * 4;
    const bytes = await source.read(0, limit + 1);
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, limit)).replace(/^\uFEFF/, '');
    const declared = source.size ?? bytes.length;
    checkTemplate(ctx, text, { label: source.name.split('/').pop() ?? source.name, declaredLength: declared > limit ? declared : text.length });
    ctx.fact('chat_templates', [source.name.split('/').pop() ?? source.name]);
  },
};
