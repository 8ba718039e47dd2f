/**
 * Inline SVG charts for the HTML study: horizontal bars and one stacked bar. Generated here so
 * the page needs no script, library or network. Every chart is an `img` for assistive
 * technology, named by its <title> and described by a <desc> that spells out every number
 * (the tables next to the charts carry the same data). Every label is escaped: formats are
 * ours, but globals come from pickles and are chosen by attackers.
 */
import { esc } from './escape.js';
import { int } from './words.js';

export interface Bar {
  label: string;
  value: number;
  color: string;
  /** Shown after the value (e.g. "files"). */
  note?: string;
}

export interface Segment {
  label: string;
  value: number;
  color: string;
}

const BAR_WIDTH = 600;
const STACK_WIDTH = 900;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="12"';

function clipLabel(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/**
 * Horizontal bar chart; bars scale to the largest value. `id` (a fixed word of ours, unique in
 * the page) names the <title> and <desc> for aria-labelledby.
 */
export function barChart(opts: { id: string; title: string; unit: string; bars: readonly Bar[]; labelWidth?: number }): string {
  const id = opts.id;
  const labelWidth = opts.labelWidth ?? 210;
  const row = 24;
  const top = 8;
  const height = top + Math.max(1, opts.bars.length) * row + 8;
  const valueRoom = 70;
  const barMax = BAR_WIDTH - labelWidth - valueRoom;
  const max = Math.max(1, ...opts.bars.map((b) => b.value));
  const desc = opts.bars.length ? opts.bars.map((b) => `${b.label}: ${int(b.value)} ${opts.unit}`).join('; ') : 'no data';
  const parts: string[] = [];
  opts.bars.forEach((b, i) => {
    const y = top + i * row;
    const w = b.value === 0 ? 0 : Math.max(2, Math.round((b.value / max) * barMax));
    parts.push(
      `<g class="bar"><title>${esc(`${b.label}: ${int(b.value)} ${opts.unit}`)}</title>` +
        `<text x="${labelWidth - 8}" y="${y + 16}" text-anchor="end" fill="#1f2328">${esc(clipLabel(b.label, 30))}</text>` +
        `<rect x="${labelWidth}" y="${y + 4}" width="${w}" height="${row - 8}" rx="2" fill="${esc(b.color)}"/>` +
        `<text x="${labelWidth + w + 6}" y="${y + 16}" fill="#1f2328">${esc(int(b.value))}${b.note ? ` ${esc(b.note)}` : ''}</text></g>`,
    );
  });
  if (!opts.bars.length) parts.push(`<text x="${labelWidth}" y="${top + 16}" fill="#57606a">no data</text>`);
  return (
    `<svg class="chart" role="img" aria-labelledby="${id}-t ${id}-d" viewBox="0 0 ${BAR_WIDTH} ${height}" width="${BAR_WIDTH}" height="${height}" ${FONT} xmlns="http://www.w3.org/2000/svg">` +
    `<title id="${id}-t">${esc(opts.title)}</title><desc id="${id}-d">${esc(desc)}</desc>${parts.join('')}</svg>`
  );
}

/** One stacked bar per row (e.g. repositories, files), each normalised to 100%, with a legend. */
export function stackedBars(opts: { id: string; title: string; rows: ReadonlyArray<{ label: string; unit: string; segments: readonly Segment[] }> }): string {
  const id = opts.id;
  const labelWidth = 110;
  const barWidth = STACK_WIDTH - labelWidth - 20;
  const row = 34;
  const legendItems = opts.rows[0]?.segments ?? [];
  const legendRows = Math.ceil(legendItems.length / 2);
  const height = 8 + opts.rows.length * row + 10 + legendRows * 20 + 6;
  const parts: string[] = [];
  const descs: string[] = [];
  opts.rows.forEach((r, i) => {
    const y = 8 + i * row;
    const total = r.segments.reduce((a, s) => a + s.value, 0);
    descs.push(`${r.label}: ${r.segments.map((s) => `${s.label} ${int(s.value)}`).join(', ')} (of ${int(total)} ${r.unit})`);
    parts.push(`<text x="${labelWidth - 8}" y="${y + 18}" text-anchor="end" fill="#1f2328">${esc(r.label)}</text>`);
    let x = labelWidth;
    for (const s of r.segments) {
      if (s.value === 0 || total === 0) continue;
      const w = (s.value / total) * barWidth;
      parts.push(
        `<g class="segment"><title>${esc(`${r.label}, ${s.label}: ${int(s.value)} of ${int(total)} ${r.unit}`)}</title>` +
          `<rect x="${x.toFixed(2)}" y="${y + 4}" width="${w.toFixed(2)}" height="${row - 10}" fill="${esc(s.color)}"/>` +
          (w >= 28 ? `<text x="${(x + w / 2).toFixed(2)}" y="${y + 20}" text-anchor="middle" fill="#fff" stroke="#0006" stroke-width="2" paint-order="stroke">${esc(int(s.value))}</text>` : '') +
          `</g>`,
      );
      x += w;
    }
    if (total === 0) parts.push(`<text x="${labelWidth}" y="${y + 18}" fill="#57606a">no data</text>`);
  });
  const ly = 8 + opts.rows.length * row + 10;
  legendItems.forEach((s, i) => {
    const x = labelWidth + (i % 2) * (barWidth / 2);
    const y = ly + Math.floor(i / 2) * 20;
    parts.push(`<rect x="${x}" y="${y}" width="12" height="12" fill="${esc(s.color)}"/><text x="${x + 18}" y="${y + 10}" fill="#1f2328">${esc(s.label)}</text>`);
  });
  return (
    `<svg class="chart" role="img" aria-labelledby="${id}-t ${id}-d" viewBox="0 0 ${STACK_WIDTH} ${height}" width="${STACK_WIDTH}" height="${height}" ${FONT} xmlns="http://www.w3.org/2000/svg">` +
    `<title id="${id}-t">${esc(opts.title)}</title><desc id="${id}-d">${esc(descs.join('. '))}</desc>${parts.join('')}</svg>`
  );
}
