// Escaping and number, size, duration, time and credit formatting for the dashboard, and the
// parsing of amounts of credits typed into a form.
//
// Every string that comes from the daemon (task names, plugin messages, worker names) is
// text typed by someone else: `html` escapes each interpolated value unless it is already
// markup built by `html` itself, so a view cannot forget to.

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

// Markup that is known to be safe (built by `html`).
class Markup {
  constructor(text) { this.text = text; }
  toString() { return this.text; }
}

function part(value) {
  if (value instanceof Markup) return value.text;
  if (Array.isArray(value)) return value.map(part).join('');
  if (value === null || value === undefined || value === false) return '';
  return esc(value);
}

// html`<p>${text}</p>`: interpolated values are escaped; arrays are joined; null, undefined
// and false render nothing, so `${cond && html`...`}` works.
export function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += part(values[i]) + strings[i + 1];
  return new Markup(out);
}

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const precise = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 6 });

// 1234567 → "1,234,567"
export function fmtInt(n) {
  return Number.isFinite(n) ? integer.format(n) : '–';
}

// A value from a tensor: integers with separators, others with 6 significant digits,
// very large or small magnitudes in exponent form.
export function fmtValue(v) {
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return integer.format(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e9 || a < 1e-4)) return v.toExponential(4).replace(/\.?0+e/, 'e');
  return precise.format(v);
}

// Jobs per second: "0", "0.4/s", "12/s", "1,234/s"
export function fmtRate(perSecond) {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return '0/s';
  if (perSecond < 10) return `${compact.format(perSecond)}/s`;
  return `${integer.format(perSecond)}/s`;
}

// 25276026880 → "23.5 GiB"
export function fmtBytes(bytes) {
  if (!Number.isFinite(bytes) || bytes <= 0) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i++; }
  return `${i === 0 ? integer.format(bytes) : compact.format(bytes)} ${units[i]}`;
}

// 11 → "11 ms", 1502 → "1.5 s", 125000 → "2 min 5 s", 7380000 → "2 h 3 min"
export function fmtDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${integer.format(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${compact.format(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${integer.format(Math.floor(h / 24))} d ${h % 24} h`;
}

// The daemon's clock minus ours, learnt from /api/v1/stats, so that "2 s ago" is right even
// when the browser's clock is off.
let clockSkewMs = 0;
export function setServerTime(serverMs) {
  if (Number.isFinite(serverMs)) clockSkewMs = serverMs - Date.now();
}
export function serverNow() {
  return Date.now() + clockSkewMs;
}

export function toMs(time) {
  if (time === null || time === undefined || time === '') return NaN;
  return typeof time === 'number' ? time : Date.parse(time);
}

// "just now", "12 s ago", "3 min ago", "2 h ago", "3 d ago", or "in 5 s" for the future.
export function fmtRelative(time) {
  const t = toMs(time);
  if (!Number.isFinite(t)) return '–';
  const diff = serverNow() - t;
  const a = Math.abs(diff) / 1000;
  let text;
  if (a < 5) return 'just now';
  if (a < 60) text = `${Math.floor(a)} s`;
  else if (a < 3600) text = `${Math.floor(a / 60)} min`;
  else if (a < 86400) text = `${Math.floor(a / 3600)} h`;
  else text = `${integer.format(Math.floor(a / 86400))} d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

// A local, absolute date and time for tooltips.
export function fmtDateTime(time) {
  const t = toMs(time);
  if (!Number.isFinite(t)) return '';
  return new Date(t).toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

// A day as the daemon names it, in UTC ("2026-11-30") → "Nov 30"; with the weekday, "Mon, Nov 30".
export function fmtDay(date, { weekday = false } = {}) {
  const t = Date.parse(`${date}T00:00:00Z`);
  if (!Number.isFinite(t)) return String(date ?? '');
  return new Date(t).toLocaleDateString(undefined, {
    month: 'short', day: 'numeric', timeZone: 'UTC', ...(weekday ? { weekday: 'short' } : {}),
  });
}

// <time> that the app's ticker keeps up to date (see refreshRelativeTimes).
export function timeAgo(time) {
  const t = toMs(time);
  if (!Number.isFinite(t)) return html`<span class="muted">–</span>`;
  return html`<time datetime="${new Date(t).toISOString()}" title="${fmtDateTime(t)}" data-relative>${fmtRelative(t)}</time>`;
}

export function refreshRelativeTimes(root = document) {
  for (const el of root.querySelectorAll('time[data-relative]')) {
    const text = fmtRelative(el.getAttribute('datetime'));
    if (el.textContent !== text) el.textContent = text;
  }
}

export function plural(n, one, many = `${one}s`) {
  return `${fmtInt(n)} ${n === 1 ? one : many}`;
}

// Amounts are integers in micro-credits (1 credit = 1,000,000).
const MICRO = 1_000_000;
const credits = new Intl.NumberFormat(undefined, { maximumFractionDigits: 6 });

// 100000000 → "100", 1500000 → "1.5", 1 → "0.000001"; with sign: "+100", "−2.5" (a real minus).
export function fmtCredits(micro, { sign = false } = {}) {
  if (!Number.isFinite(micro)) return '–';
  const text = credits.format(Math.abs(micro) / MICRO);
  if (!sign) return micro < 0 ? `−${text}` : text;
  return micro > 0 ? `+${text}` : micro < 0 ? `−${text}` : text;
}

// A price: micro-credits per million work units (a donor's ask, a job's bid).
// 0 → "free", 2500000 → "2.5 per million units".
export function fmtPrice(micro) {
  if (!Number.isFinite(micro)) return '–';
  return micro === 0 ? 'free' : `${fmtCredits(micro)} per million units`;
}

// Typed credits to integer micro-credits, as the daemon and the CLI read them
// (protocol/credits.hpp): "2.5" → {micro: 2500000}, "1,234.5" (separators in groups of three),
// ".5"; else {problem} to follow the field's name: "cannot be negative", "has more than 6 decimals…".
// A trailing dot ("5.") is taken as it is typed on the way to "5.25".
export function parseCredits(text) {
  const t = String(text ?? '').trim();
  if (t === '') return { problem: 'is empty' };
  if (/^[-−]/.test(t)) return { problem: 'cannot be negative' };
  const m = /^(\d{1,3}(?:,\d{3})+|\d*)(?:\.(\d*))?$/.exec(t);
  if (!m || (m[1] === '' && !m[2])) return { problem: 'is not an amount of credits like 2.5 or 1000' };
  const whole = m[1].replace(/,/g, '');
  const decimals = m[2] ?? '';
  if (decimals.length > 6) return { problem: 'has more than 6 decimals: the smallest amount is 0.000001 credits' };
  // Past ten digits it is over any limit, and a double would round it.
  if (whole.replace(/^0+/, '').length > 10) return { problem: 'is too large' };
  return { micro: Number(whole || '0') * MICRO + Number(decimals.padEnd(6, '0')) };
}

// Copies `text`: the clipboard API where the page is a secure context (https, or loopback), else
// a hidden selection and execCommand for a plain-http LAN address. Whether it worked.
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'sr-only';
    document.body.append(area);
    area.select();
    try { return document.execCommand('copy'); } catch { return false; } finally { area.remove(); }
  }
}
