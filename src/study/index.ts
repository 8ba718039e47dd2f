/**
 * The study report (`modelgate report`): a crawl store turned into the numbers and lists a
 * security team or a journalist wants. See docs/study.md.
 */
import { renderStudyHtml } from './html.js';
import { renderStudyMarkdown } from './markdown.js';
import type { Study, StudyFormat } from './types.js';

export { buildStudy, DEFAULT_STUDY_OPTIONS, MAX_LIST_LIMIT, type BuildStudyOptions, type StudySource } from './build.js';
export { renderStudyHtml } from './html.js';
export { renderStudyMarkdown } from './markdown.js';
export * from './types.js';


export function renderStudy(study: Study, format: StudyFormat): string {
  if (format === 'json') return JSON.stringify(study, null, 2) + '\n';
  if (format === 'html') return renderStudyHtml(study);
  return renderStudyMarkdown(study);
}
