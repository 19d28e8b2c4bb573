// Hand-written SVG charts: area charts for the overview (one series over a sliding time
// window) and bar charts for one value per day (a donor's earnings).
//
// The SVG stretches to its box (preserveAspectRatio="none") with strokes that do not scale,
// so one drawing fits a phone and a wide monitor; labels live in HTML around it.

import { html } from './format.js';

const W = 600;
const H = 100;
const TOP_PAD = 8;

// The smallest of 1, 2, 5 × 10^n that is at least v.
export function niceCeil(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v - 1e-9) return m * p;
  return 10 * p;
}

// samples: [{t, [key]: number|null, gap?}], oldest first. A gap, a missing value or a hole
// longer than maxHoleMs starts a new segment, so a daemon restart shows as a break.
export function areaChart(samples, key, { now, windowMs, top, maxHoleMs, label }) {
  const start = now - windowMs;
  const x = (t) => Math.max(0, ((t - start) / windowMs) * W);
  const y = (v) => H - (Math.min(v, top) / top) * (H - TOP_PAD);
  const segments = [];
  let current = null;
  let lastT = -Infinity;
  for (const s of samples) {
    const v = s[key];
    if (s.t < start - maxHoleMs) { lastT = s.t; continue; }
    if (v === null || v === undefined || !Number.isFinite(v)) { current = null; lastT = s.t; continue; }
    if (!current || s.gap || s.t - lastT > maxHoleMs) {
      current = [];
      segments.push(current);
    }
    current.push([x(s.t), y(v)]);
    lastT = s.t;
  }
  const f = (n) => n.toFixed(1);
  let line = '';
  let area = '';
  for (const seg of segments) {
    if (seg.length === 1) seg.push([seg[0][0] + 0.5, seg[0][1]]);
    line += seg.map(([px, py], i) => `${i ? 'L' : 'M'}${f(px)} ${f(py)}`).join('');
    area += `M${f(seg[0][0])} ${H}` + seg.map(([px, py]) => `L${f(px)} ${f(py)}`).join('') +
      `L${f(seg[seg.length - 1][0])} ${H}Z`;
  }
  return html`<svg class="chart" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="${label}">
    <line class="grid" x1="0" x2="${W}" y1="${TOP_PAD}" y2="${TOP_PAD}" vector-effect="non-scaling-stroke"/>
    <line class="grid" x1="0" x2="${W}" y1="${(H + TOP_PAD) / 2}" y2="${(H + TOP_PAD) / 2}" vector-effect="non-scaling-stroke"/>
    <line class="base" x1="0" x2="${W}" y1="${H - 0.5}" y2="${H - 0.5}" vector-effect="non-scaling-stroke"/>
    <path class="area" d="${area}"/>
    <path class="line" d="${line}" vector-effect="non-scaling-stroke"/>
  </svg>`;
}

// bars: [{value, title}], oldest first, one per period (a day). A bar of 0 is drawn as a thin
// tick on the base line, so that a day with nothing reads as a day and not as a hole, and a
// chart of only zeros still shows its days. `top` is the value at the top grid line (niceCeil
// of the largest); a value above 0 gets at least a sliver, however small next to the top.
export function barChart(bars, { top, label }) {
  const slot = W / Math.max(1, bars.length);
  const gap = Math.min(slot * 0.25, 6);
  const f = (n) => n.toFixed(2);
  const rects = bars.map((b, i) => {
    const v = Math.max(0, Number(b.value) || 0);
    const h = v > 0 ? Math.max(2, (Math.min(v, top) / top) * (H - TOP_PAD)) : 1;
    return html`<rect class="bar${v > 0 ? '' : ' zero'}" x="${f(i * slot + gap / 2)}" y="${f(H - h)}" width="${f(slot - gap)}" height="${f(h)}"
      data-value="${v}"><title>${b.title}</title></rect>`;
  });
  return html`<svg class="chart bars" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="${label}">
    <line class="grid" x1="0" x2="${W}" y1="${TOP_PAD}" y2="${TOP_PAD}" vector-effect="non-scaling-stroke"/>
    <line class="grid" x1="0" x2="${W}" y1="${(H + TOP_PAD) / 2}" y2="${(H + TOP_PAD) / 2}" vector-effect="non-scaling-stroke"/>
    ${rects}
    <line class="base" x1="0" x2="${W}" y1="${H - 0.5}" y2="${H - 0.5}" vector-effect="non-scaling-stroke"/>
  </svg>`;
}
