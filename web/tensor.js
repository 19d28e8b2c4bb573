// Shows a result tensor ({dtype, shape, data} or {dtype, shape, b64}) as a scalar, a row or
// a matrix table; tensors of three or more dimensions as a list of 2-D slices. Large tensors
// are cut to their top-left corner with a note saying how much is shown.

import { fmtInt, fmtValue, html } from './format.js';

const MAX_ROWS = 100;
const MAX_COLS = 50;
const MAX_SLICES = 8;

const SIZES = { f16: 2, bf16: 2, f32: 4, f64: 8, i32: 4, i64: 8, u8: 1, i8: 1, bool: 1 };

function f16ToNumber(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

// Element i of a tensor, whichever way it is encoded; undefined when it cannot be read.
function reader(t) {
  if (Array.isArray(t.data)) {
    const flat = t.data.flat(Infinity);
    return (i) => flat[i];
  }
  if (typeof t.b64 !== 'string') return () => undefined;
  let bytes;
  try {
    const bin = atob(t.b64);
    bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  } catch {
    return () => undefined;
  }
  const view = new DataView(bytes.buffer);
  const size = SIZES[t.dtype];
  if (!size) return () => undefined;
  return (i) => {
    const at = i * size;
    if (at + size > bytes.length) return undefined;
    switch (t.dtype) {
      case 'f32': return view.getFloat32(at, true);
      case 'f64': return view.getFloat64(at, true);
      case 'i32': return view.getInt32(at, true);
      case 'i64': {
        const v = view.getBigInt64(at, true);
        return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
      }
      case 'u8': return view.getUint8(at);
      case 'i8': return view.getInt8(at);
      case 'bool': return view.getUint8(at) !== 0;
      case 'f16': return f16ToNumber(view.getUint16(at, true));
      case 'bf16': return new Float32Array(new Uint32Array([view.getUint16(at, true) << 16]).buffer)[0];
      default: return undefined;
    }
  };
}

function shapeOf(t) {
  if (Array.isArray(t.shape)) return t.shape;
  if (Array.isArray(t.data)) {
    const shape = [];
    let d = t.data;
    while (Array.isArray(d)) { shape.push(d.length); d = d[0]; }
    return shape;
  }
  return [];
}

function matrix(at, offset, rows, cols, testid) {
  const shownRows = Math.min(rows, MAX_ROWS);
  const shownCols = Math.min(cols, MAX_COLS);
  const head = [];
  for (let c = 0; c < shownCols; c++) head.push(html`<th scope="col">${c}</th>`);
  const body = [];
  for (let r = 0; r < shownRows; r++) {
    const cells = [];
    for (let c = 0; c < shownCols; c++) {
      const v = at(offset + r * cols + c);
      cells.push(html`<td title="${v === undefined ? '' : `[${r}, ${c}] = ${v}`}">${v === undefined ? '?' : fmtValue(v)}</td>`);
    }
    body.push(html`<tr><th scope="row">${r}</th>${cells}</tr>`);
  }
  const cut = rows > shownRows || cols > shownCols;
  return html`<div class="matrix-wrap"><table class="matrix matrix-view" data-testid="${testid}">
      <thead><tr><th></th>${head}</tr></thead><tbody>${body}</tbody></table></div>
    ${cut ? html`<p class="hint">Showing ${fmtInt(shownRows)} of ${fmtInt(rows)} rows and ${fmtInt(shownCols)} of ${fmtInt(cols)} columns; the whole tensor is in the job's JSON.</p>` : ''}`;
}

export function tensorView(name, t) {
  const shape = shapeOf(t);
  const count = shape.reduce((a, b) => a * b, 1);
  const at = reader(t);
  const testid = `output-${name}`;
  const title = html`<h3 class="tensor-title"><code>${name}</code> <span class="shape">${t.dtype ?? '?'} ${shape.length ? shape.map(fmtInt).join(' × ') : 'scalar'}</span></h3>`;
  let body;
  if (count === 0) {
    body = html`<p class="muted" data-testid="${testid}">empty (no elements)</p>`;
  } else if (shape.length === 0 || count === 1) {
    const v = at(0);
    body = html`<p class="scalar" data-testid="${testid}">${v === undefined ? '?' : fmtValue(v)}</p>`;
  } else if (shape.length === 1) {
    body = matrix(at, 0, 1, shape[0], testid);
  } else if (shape.length === 2) {
    body = matrix(at, 0, shape[0], shape[1], testid);
  } else {
    // [..., rows, cols]: one table per leading index.
    const rows = shape[shape.length - 2];
    const cols = shape[shape.length - 1];
    const slices = count / (rows * cols);
    const lead = shape.slice(0, -2);
    const parts = [];
    for (let s = 0; s < Math.min(slices, MAX_SLICES); s++) {
      const index = [];
      let rest = s;
      for (let d = lead.length - 1; d >= 0; d--) { index.unshift(rest % lead[d]); rest = Math.floor(rest / lead[d]); }
      parts.push(html`<p class="slice-label"><code>${name}[${index.join(', ')}, :, :]</code></p>${matrix(at, s * rows * cols, rows, cols, `${testid}-${s}`)}`);
    }
    body = html`<div data-testid="${testid}">${parts}${slices > MAX_SLICES ? html`<p class="hint">Showing ${MAX_SLICES} of ${fmtInt(slices)} slices.</p>` : ''}</div>`;
  }
  return html`<div class="tensor-out">${title}${body}</div>`;
}
