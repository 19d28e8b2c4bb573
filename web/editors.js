// The job form for any task, built from what the task declares: one editor per input
// (a grid for 1-D and 2-D numeric specs, JSON for the rest), a field per parameter of its
// params_schema, a backend selector when it runs on several backends.
//
// Dimensions are named in specs ("f32[m,k]", "f32[k,n]"): every grid that uses the same
// letter shares one size, so a's columns and b's rows of linalg.matmul cannot disagree.
//
// Submitting needs a token with the submit scope (session.js): signed out, the form offers
// "Sign in to submit" in place of its button; the daemon's 401, 402 or 403 is shown as it came.
//
// Price: the going rate (no field sent: the daemon bids the lowest ask of a connected worker),
// a bid in credits per million work units, or a maximum total in credits; sent as integer
// micro-credits ("bid", "max_price"). A quote (POST /api/v1/jobs/quote, no token) follows the
// form QUOTE_DELAY_MS after the last change and when workers come and go; only the answer to
// the latest request is shown, and its errors stay in the quote box, never in the way of typing.
//
// Beside the price: replicas (1 to MAX_REPLICAS, sent as "replicas" when above 1: the job runs on
// that many donors' workers, whose results must agree, and each is paid), and, for an account
// that belongs to organisations, who pays: the account itself, or one of them (sent as the
// X-Potluck-Bill-To header, which the curl shows too).

import { api, on } from './api.js';
import { fmtCredits, fmtDuration, fmtInt, fmtPrice, html, parseCredits, plural } from './format.js';
import { onSession, ready, session } from './session.js';

const NUMERIC = new Set(['f16', 'bf16', 'f32', 'f64', 'i8', 'i32', 'i64', 'u8']);
const INTEGER = new Set(['i8', 'i32', 'i64', 'u8']);
const DEFAULT_SIZE = 2;
const MAX_GRID = 32;
const QUOTE_DELAY_MS = 300;
const MAX_REPLICAS = 5;  // the daemon's max_replicas

// The two priced modes of the Price section; the limits are the daemon's (protocol/credits.hpp).
const PRICE_MODES = {
  bid: {
    field: 'bid', name: 'The bid', label: 'Bid', unit: 'credits per million work units', placeholder: '0.5',
    max: 1_000_000 * 1_000_000,
    tooLarge: 'The bid may be at most 1,000,000 credits per million work units.',
    empty: 'Enter a bid in credits per million work units, such as 0.5 (0 asks for a free job).',
    hint: 'The job pays the ask of the worker that runs it, never more than this; up to 6 decimals.',
  },
  max: {
    field: 'max_price', name: 'The maximum', label: 'Maximum', unit: 'credits for the whole job', placeholder: '1',
    max: 1_000_000_000 * 1_000_000,
    tooLarge: 'The maximum may be at most 1,000,000,000 credits.',
    empty: 'Enter the most the whole job may cost, in credits, such as 1.',
    hint: 'Reserved from your balance until the job ends; what it does not cost comes back. Up to 6 decimals.',
  },
};

// "f32[m,k]" → {dtype: "f32", dims: ["m", "k"]}; "i64[1]" → dims [1]; "any[...]" → dims ["..."].
export function parseSpec(spec) {
  const m = /^\s*([A-Za-z0-9_]+)\s*\[(.*)\]\s*$/.exec(spec ?? '');
  if (!m) return { dtype: 'any', dims: null };
  const inner = m[2].trim();
  const dims = inner === '' ? [] : inner.split(',').map((d) => d.trim()).map((d) => (/^\d+$/.test(d) ? Number(d) : d));
  return { dtype: m[1].toLowerCase(), dims };
}

function isGrid(parsed) {
  return NUMERIC.has(parsed.dtype) && parsed.dims && (parsed.dims.length === 1 || parsed.dims.length === 2) &&
    parsed.dims.every((d) => typeof d === 'number' || /^[A-Za-z_]\w*$/.test(d));
}

// A sensible starting tensor for the JSON editor.
function exampleTensor(parsed, sizeOf) {
  if (!parsed.dims || !NUMERIC.has(parsed.dtype) || parsed.dims.some((d) => String(d).includes('.'))) {
    return { dtype: NUMERIC.has(parsed.dtype) ? parsed.dtype : 'f32', shape: [2, 2], data: [1, 2, 3, 4] };
  }
  const shape = parsed.dims.map(sizeOf);
  const count = shape.reduce((a, b) => a * b, 1);
  return { dtype: parsed.dtype, shape, data: Array.from({ length: Math.min(count, 64) }, (_, i) => i + 1) };
}

function describeSchemaField(prop, required) {
  const bits = [];
  if (prop.type) bits.push(prop.type);
  const hasMin = typeof prop.minimum === 'number';
  const hasMax = typeof prop.maximum === 'number';
  if (hasMin && hasMax) bits.push(`${fmtInt(prop.minimum)} to ${fmtInt(prop.maximum)}`);
  else if (hasMin) bits.push(`at least ${fmtInt(prop.minimum)}`);
  else if (hasMax) bits.push(`at most ${fmtInt(prop.maximum)}`);
  if (prop.default !== undefined) bits.push(`default ${JSON.stringify(prop.default)}`);
  bits.push(required ? 'required' : 'optional');
  return bits.join(' · ');
}

// Parses pasted text as rows of numbers: JSON ([[1,2],[3,4]] or [1,2]) or lines of cells
// separated by tabs, commas, semicolons or spaces (a spreadsheet, a CSV, a console print).
function parsePastedMatrix(text) {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    try {
      const v = JSON.parse(trimmed);
      if (Array.isArray(v) && v.every(Array.isArray)) return v.map((r) => r.map(String));
      if (Array.isArray(v)) return [v.map(String)];
    } catch { /* fall through to text */ }
  }
  const rows = trimmed.split(/\r?\n/).map((l) => l.trim().replace(/^\[|\]$/g, '').trim()).filter((l) => l !== '');
  return rows.map((l) => l.split(/[\t,;]+|\s+/).map((c) => c.trim()).filter((c) => c !== ''));
}

let formCounter = 0;

export function mountTaskForm(root, task, { onSubmitted }) {
  const formId = `f${++formCounter}`;
  const sizes = new Map();  // dimension letter → size
  const inputs = (task.inputs ?? []).map((decl) => {
    const parsed = parseSpec(decl.spec);
    const grid = isGrid(parsed);
    return { decl, parsed, grid, values: [], json: '' };
  });
  const sizeOf = (d) => (typeof d === 'number' ? d : (sizes.get(d) ?? DEFAULT_SIZE));
  for (const input of inputs) {
    for (const d of input.parsed.dims ?? []) if (typeof d === 'string' && !d.includes('.') && !sizes.has(d)) sizes.set(d, DEFAULT_SIZE);
    if (!input.grid) input.json = JSON.stringify(exampleTensor(input.parsed, sizeOf));
  }
  const rowsOf = (input) => (input.parsed.dims.length === 2 ? sizeOf(input.parsed.dims[0]) : 1);
  const colsOf = (input) => sizeOf(input.parsed.dims[input.parsed.dims.length - 1]);
  const rowDim = (input) => (input.parsed.dims.length === 2 ? input.parsed.dims[0] : null);
  const colDim = (input) => input.parsed.dims[input.parsed.dims.length - 1];

  // Keeps each grid's values as large as its current shape (new cells start empty = 0).
  function fitValues(input) {
    const rows = rowsOf(input);
    const cols = colsOf(input);
    input.values.length = Math.min(input.values.length, rows);
    for (let r = 0; r < rows; r++) {
      const row = (input.values[r] ??= []);
      row.length = Math.min(row.length, cols);
      for (let c = 0; c < cols; c++) row[c] ??= '';
    }
  }
  inputs.filter((i) => i.grid).forEach(fitValues);

  const schema = task.params_schema && typeof task.params_schema === 'object' ? task.params_schema : null;
  const props = schema && schema.properties && typeof schema.properties === 'object' ? Object.entries(schema.properties) : [];
  const required = new Set(Array.isArray(schema?.required) ? schema.required : []);
  const backends = (task.backends ?? []).map((b) => b.backend);

  // Letters used by more than one input, for the "stay in step" hint.
  const letterUse = new Map();
  for (const input of inputs) {
    for (const d of new Set(input.parsed.dims ?? [])) if (typeof d === 'string' && !d.includes('.')) letterUse.set(d, (letterUse.get(d) ?? 0) + 1);
  }
  const shared = [...letterUse].filter(([, n]) => n > 1).map(([d]) => d);

  const stepper = (input, dim, what) => {
    const label = `${what} of ${input.decl.name}${typeof dim === 'string' ? ` (${dim})` : ''}`;
    const fixed = typeof dim === 'number';
    return html`<div class="stepper" role="group" aria-label="${label}">
      <span class="stepper-label">${what}${typeof dim === 'string' ? html` <var>${dim}</var>` : ''}</span>
      <button type="button" class="icon" data-act="dim" data-dim="${dim}" data-delta="-1" aria-label="fewer ${label}" ${fixed ? 'disabled' : ''}>−</button>
      <output data-size="${dim}" aria-live="polite">${sizeOf(dim)}</output>
      <button type="button" class="icon" data-act="dim" data-dim="${dim}" data-delta="1" aria-label="more ${label}" ${fixed ? 'disabled' : ''}>+</button>
    </div>`;
  };

  const gridCells = (input, index) => {
    const name = input.decl.name;
    const rows = rowsOf(input);
    const cols = colsOf(input);
    const inputMode = INTEGER.has(input.parsed.dtype) ? 'numeric' : 'decimal';
    const body = [];
    for (let r = 0; r < rows; r++) {
      const cells = [];
      for (let c = 0; c < cols; c++) {
        cells.push(html`<td><input class="cell" type="text" inputmode="${inputMode}" autocomplete="off" spellcheck="false"
          data-input="${index}" data-r="${r}" data-c="${c}" data-testid="cell-${name}-${r}-${c}"
          aria-label="${name}, row ${r + 1}, column ${c + 1}" placeholder="0" value="${input.values[r][c]}"></td>`);
      }
      body.push(html`<tr>${cells}</tr>`);
    }
    return html`<table class="matrix matrix-edit" data-testid="matrix-${name}"><tbody>${body}</tbody></table>`;
  };

  const inputEditor = (input, index) => {
    const { decl, parsed } = input;
    const id = `${formId}-in-${index}`;
    const legend = html`<legend><code class="input-name">${decl.name}</code> <code class="spec">${decl.spec}</code>
      ${decl.description ? html`<span class="muted">${decl.description}</span>` : ''}</legend>`;
    if (!input.grid) {
      return html`<fieldset class="tensor" data-testid="input-${decl.name}">${legend}
        <label class="sr-only" for="${id}">${decl.name} as JSON</label>
        <textarea id="${id}" class="json" rows="4" spellcheck="false" data-json="${index}" data-testid="json-${decl.name}">${input.json}</textarea>
        <p class="hint">A tensor as JSON: <code>{"dtype": "f32", "shape": [2, 2], "data": [1, 2, 3, 4]}</code>, or nested
          <code>"data": [[1, 2], [3, 4]]</code> without a shape.</p>
      </fieldset>`;
    }
    return html`<fieldset class="tensor" data-testid="input-${decl.name}">${legend}
      <div class="grid-tools">
        ${parsed.dims.length === 2 ? stepper(input, rowDim(input), 'rows') : ''}
        ${stepper(input, colDim(input), parsed.dims.length === 2 ? 'columns' : 'length')}
        <div class="fills" role="group" aria-label="fill ${decl.name}">
          <button type="button" class="link" data-act="fill" data-fill="zeros" data-input="${index}">zeros</button>
          <button type="button" class="link" data-act="fill" data-fill="identity" data-input="${index}">identity</button>
          <button type="button" class="link" data-act="fill" data-fill="random" data-input="${index}">random</button>
        </div>
      </div>
      <div class="matrix-wrap"><div class="brackets" data-grid="${index}">${gridCells(input, index)}</div></div>
    </fieldset>`;
  };

  const paramField = ([key, prop], index) => {
    const id = `${formId}-p-${index}`;
    const isRequired = required.has(key);
    const hint = describeSchemaField(prop, isRequired);
    const placeholder = prop.default !== undefined ? String(prop.default) : '';
    let control;
    if (Array.isArray(prop.enum)) {
      control = html`<select id="${id}" data-param="${key}" data-kind="enum">
        ${isRequired ? '' : html`<option value="">(not set)</option>`}
        ${prop.enum.map((v, i) => html`<option value="${i}">${typeof v === 'string' ? v : JSON.stringify(v)}</option>`)}
      </select>`;
    } else if (prop.type === 'integer' || prop.type === 'number') {
      control = html`<input id="${id}" type="number" data-param="${key}" data-kind="${prop.type}"
        step="${prop.type === 'integer' ? '1' : 'any'}" inputmode="${prop.type === 'integer' ? 'numeric' : 'decimal'}"
        ${typeof prop.minimum === 'number' ? html`min="${prop.minimum}"` : ''} ${typeof prop.maximum === 'number' ? html`max="${prop.maximum}"` : ''}
        placeholder="${placeholder}" data-testid="param-${key}">`;
    } else if (prop.type === 'boolean') {
      control = html`<select id="${id}" data-param="${key}" data-kind="boolean">
        ${isRequired ? '' : html`<option value="">(not set)</option>`}<option value="true">true</option><option value="false">false</option>
      </select>`;
    } else if (prop.type === 'string') {
      control = html`<input id="${id}" type="text" data-param="${key}" data-kind="string" placeholder="${placeholder}" data-testid="param-${key}">`;
    } else {
      control = html`<textarea id="${id}" rows="2" class="json" data-param="${key}" data-kind="json" placeholder="JSON"></textarea>`;
    }
    return html`<div class="field">
      <label for="${id}"><code>${key}</code>${isRequired ? html` <span class="req" aria-hidden="true">*</span>` : ''}</label>
      ${control}
      <span class="hint">${prop.description ? html`${prop.description} · ` : ''}${hint}</span>
    </div>`;
  };

  const outputsPreview = () => (task.outputs ?? []).map((o) => {
    const p = parseSpec(o.spec);
    const known = p.dims && p.dims.every((d) => typeof d === 'number' || sizes.has(d));
    return html`<li><code>${o.name}</code> ${known && p.dims.length
      ? html`<span class="shape">${p.dtype} ${p.dims.map(sizeOf).join(' × ')}</span>`
      : html`<code class="spec">${o.spec}</code>`}${o.description ? html` <span class="muted">${o.description}</span>` : ''}</li>`;
  });

  const priceField = (mode) => {
    const m = PRICE_MODES[mode];
    const id = `${formId}-${mode}`;
    return html`<div class="field price-field" data-price-field="${mode}" hidden>
      <label for="${id}">${m.label} <span class="unit">${m.unit}</span></label>
      <input id="${id}" type="text" inputmode="decimal" autocomplete="off" spellcheck="false" data-price="${mode}"
        placeholder="${m.placeholder}" aria-describedby="${id}-error ${id}-hint" data-testid="price-${mode}">
      <span class="field-error" id="${id}-error" data-price-error="${mode}" data-testid="price-${mode}-error" role="alert" hidden></span>
      <span class="hint" id="${id}-hint">${m.hint}</span>
    </div>`;
  };

  const priceSection = () => html`<section class="form-section price" data-testid="price">
    <h2>Price</h2>
    <fieldset class="price-modes">
      <legend class="sr-only">How this job is priced</legend>
      <label class="choice"><input type="radio" name="${formId}-price" value="market" data-price-mode checked data-testid="price-mode-market">
        <span><strong>Going rate</strong> <span class="muted small">the lowest ask of a connected worker that runs this task</span></span></label>
      <label class="choice"><input type="radio" name="${formId}-price" value="bid" data-price-mode data-testid="price-mode-bid">
        <span><strong>Bid per million units</strong> <span class="muted small">the most it pays per million work units; 0 asks for a free job</span></span></label>
      <label class="choice"><input type="radio" name="${formId}-price" value="max" data-price-mode data-testid="price-mode-max">
        <span><strong>Maximum total</strong> <span class="muted small">the most the whole job may cost</span></span></label>
    </fieldset>
    ${priceField('bid')}
    ${priceField('max')}
    <div class="price-extras">
      <div class="field replicas-field">
        <label for="${formId}-replicas">Replicas</label>
        <input id="${formId}-replicas" type="number" min="1" max="${MAX_REPLICAS}" step="1" value="1" inputmode="numeric" data-replicas
          aria-describedby="${formId}-replicas-error ${formId}-replicas-hint" data-testid="replicas">
        <span class="field-error" id="${formId}-replicas-error" data-replicas-error data-testid="replicas-error" role="alert" hidden></span>
        <span class="hint" id="${formId}-replicas-hint">Runs it on that many donors’ workers; the result a majority agrees on
          stands and each of them is paid, so a bid reserves that many times the cost.</span>
      </div>
      <div class="field bill-field" data-bill-slot hidden></div>
    </div>
    <div class="quote" data-quote data-testid="quote" aria-live="polite"><p class="muted loading">Asking for a quote…</p></div>
  </section>`;

  root.innerHTML = html`<form class="task-form" novalidate data-testid="task-form">
    ${inputs.length ? html`<section class="form-section">
      <h2>Inputs</h2>
      ${shared.length ? html`<p class="hint">Letters that repeat stay in step: ${inputs.filter((i) => i.parsed.dims?.length).map((i, n) =>
        html`${n ? ', ' : ''}<code>${i.decl.name}</code> is ${i.parsed.dims.map((d) => html`<var>${d}</var>`).reduce((a, b) => html`${a} × ${b}`)}`)}.
        Paste rows from a spreadsheet or <code>[[1, 2], [3, 4]]</code> into a cell to fill a grid.</p>` : ''}
      <div class="inputs">${inputs.map(inputEditor)}</div>
    </section>` : html`<p class="hint">This task takes no inputs.</p>`}
    ${props.length ? html`<section class="form-section"><h2>Parameters</h2><div class="fields">${props.map(paramField)}</div></section>` : ''}
    ${backends.length > 1 ? html`<section class="form-section"><h2>Backend</h2><div class="fields"><div class="field">
      <label for="${formId}-backend">Run on</label>
      <select id="${formId}-backend" data-backend data-testid="backend">
        <option value="">any backend (the daemon picks)</option>
        ${backends.map((b) => html`<option value="${b}">${b}</option>`)}
      </select></div></div></section>` : ''}
    ${(task.outputs ?? []).length ? html`<section class="form-section outputs"><h2>Outputs</h2><ul class="plain" data-outputs>${outputsPreview()}</ul></section>` : ''}
    ${priceSection()}
    <div class="form-error" role="alert" data-testid="submit-error" hidden></div>
    <div class="form-actions">
      <div class="submit-slot" data-submit-slot></div>
      <details class="curl"><summary>Same request with curl</summary><pre><code data-curl></code></pre></details>
    </div>
  </form>`;

  const form = root.querySelector('form');
  const errorBox = form.querySelector('[data-testid="submit-error"]');
  const submitSlot = form.querySelector('[data-submit-slot]');
  let submitting = false;
  let submitMarkup = '';

  // The button, or the way to get a token; redrawn when the session changes (only then: the
  // balance changes often, and a redraw would take the focus off the button).
  function renderSubmit() {
    const scopes = session.tokenInfo?.scopes;
    const lacksSubmit = session.state === 'signed-in' && Array.isArray(scopes) && !scopes.includes('submit');
    const markup = String(session.state === 'signed-out'
      ? html`<a class="button primary" href="#/signin" data-testid="submit-signin">Sign in to submit</a>
        <p class="hint">Submitting a job needs an account and its token.</p>`
      : html`<button type="submit" class="primary" data-testid="submit" ${submitting ? 'disabled' : ''}>${submitting ? 'Submitting…' : 'Submit job'}</button>
      ${lacksSubmit ? html`<p class="hint" data-testid="submit-scope-hint">This browser's token “${session.tokenInfo.name}” has no <code>submit</code> scope.
        <a href="#/signin">Use another token</a>.</p>` : ''}`);
    if (markup === submitMarkup) return;
    submitMarkup = markup;
    submitSlot.innerHTML = markup;
  }
  renderSubmit();

  // "Bill to": the account or one of its organisations, offered only when it belongs to one.
  // Redrawn when the names change (a redraw would lose the choice and the focus); the balances
  // in the options follow in place.
  const billSlot = form.querySelector('[data-bill-slot]');
  let billFor = null;
  const billTo = () => form.querySelector('[data-bill-to]')?.value ?? '';
  function renderBillTo() {
    const me = session.state === 'signed-in' ? session.account : null;
    const orgs = me ? session.orgs ?? [] : [];
    const key = JSON.stringify([me?.name, orgs.map((o) => o.name)]);
    const option = (name, balance, what) => `${name} (${what}, ${fmtCredits(balance)} credits)`;
    if (key !== billFor) {
      const chosen = billTo();
      billFor = key;
      billSlot.hidden = !orgs.length;
      billSlot.innerHTML = !orgs.length ? '' : html`<label for="${formId}-bill">Bill to</label>
        <select id="${formId}-bill" data-bill-to data-testid="bill-to" aria-describedby="${formId}-bill-hint">
          <option value="">${option(me.name, me.balance, 'you')}</option>
          ${orgs.map((o) => html`<option value="${o.name}">${option(o.name, o.balance, `organisation, ${o.role}`)}</option>`)}
        </select>
        <span class="hint" id="${formId}-bill-hint">An organisation you belong to pays from its balance and owns the job.</span>`;
      if (orgs.some((o) => o.name === chosen)) billSlot.querySelector('select').value = chosen;
      if (billTo() !== chosen) changed();
      return;
    }
    for (const el of billSlot.querySelectorAll('option')) {
      const who = el.value ? orgs.find((o) => o.name === el.value) : me;
      const text = who && option(who.name, who.balance, el.value ? `organisation, ${who.role}` : 'you');
      if (text && el.textContent !== text) el.textContent = text;
    }
  }

  // The daemon's word on a refused job; a 402 (the balance, or no free jobs here) gets a lead
  // that says what kind of refusal it is, and the way to the balance.
  function showError(message, err) {
    errorBox.hidden = !message;
    if (err?.status === 402) {
      // Billed to an organisation, the balance is the organisation's.
      const org = billTo();
      const lead = err.code !== 'insufficient_funds' ? 'Payment required:' : org ? `Not enough credits in ${org}:` : 'Not enough credits:';
      const more = err.code !== 'insufficient_funds' ? '' : org ? html` <a href="#/account">See its balance, or send it credits</a>`
        : html` <a href="#/account">See your balance and ledger</a>`;
      // One line of markup: the box keeps the message's own line breaks (white-space: pre-wrap).
      errorBox.innerHTML = html`<strong>${lead}</strong> ${message}${/[.!?]$/.test(message) ? '' : '.'}${more}`;
      return;
    }
    errorBox.textContent = message ?? '';
  }

  // ---------------------------------------------------------------- price
  const priceMode = () => form.querySelector('input[data-price-mode]:checked')?.value ?? 'market';

  // The price fields of the chosen mode: {} for the going rate, {bid} or {max_price} in
  // micro-credits, or {error, focus, empty}.
  function readPrice() {
    const mode = priceMode();
    const m = PRICE_MODES[mode];
    if (!m) return {};
    const el = form.querySelector(`[data-price="${mode}"]`);
    if (el.value.trim() === '') return { error: m.empty, focus: el, empty: true };
    const { micro, problem } = parseCredits(el.value);
    if (problem) return { error: `${m.name} ${problem}.`, focus: el };
    if (micro > m.max) return { error: m.tooLarge, focus: el };
    return { [m.field]: micro };
  }

  function showPriceError(mode, message) {
    const line = form.querySelector(`[data-price-error="${mode}"]`);
    const el = form.querySelector(`[data-price="${mode}"]`);
    if (!line) return;
    if (line.textContent !== (message ?? '')) line.textContent = message ?? '';
    line.hidden = !message;
    if (message) el.setAttribute('aria-invalid', 'true'); else el.removeAttribute('aria-invalid');
  }

  // Shows the field of the chosen mode and says what is wrong with it (an empty field only once
  // submitting: not while it waits to be typed in).
  function checkPrice({ onSubmit = false } = {}) {
    const mode = priceMode();
    for (const f of form.querySelectorAll('[data-price-field]')) f.hidden = f.dataset.priceField !== mode;
    const price = readPrice();
    for (const m of Object.keys(PRICE_MODES)) showPriceError(m, m === mode && price.error && (onSubmit || !price.empty) ? price.error : null);
    return price;
  }

  // The replicas field: {replicas} (1 to MAX_REPLICAS) or {error, focus}.
  function readReplicas() {
    const el = form.querySelector('[data-replicas]');
    const text = el.value.trim();
    const n = Number(text);
    if (text === '' || !Number.isInteger(n) || n < 1 || n > MAX_REPLICAS) {
      return { error: `Replicas must be a whole number from 1 to ${MAX_REPLICAS}: the donors’ workers the job runs on.`, focus: el };
    }
    return { replicas: n };
  }

  function checkReplicas() {
    const { error } = readReplicas();
    const line = form.querySelector('[data-replicas-error]');
    if (line.textContent !== (error ?? '')) line.textContent = error ?? '';
    line.hidden = !error;
    const el = form.querySelector('[data-replicas]');
    if (error) el.setAttribute('aria-invalid', 'true'); else el.removeAttribute('aria-invalid');
  }

  function redrawGrids(dim) {
    inputs.forEach((input, index) => {
      if (!input.grid || (dim !== undefined && !input.parsed.dims.includes(dim))) return;
      fitValues(input);
      form.querySelector(`[data-grid="${index}"]`).innerHTML = gridCells(input, index);
    });
    for (const out of form.querySelectorAll('output[data-size]')) out.textContent = sizeOf(out.dataset.size);
    const list = form.querySelector('[data-outputs]');
    if (list) list.innerHTML = html`${outputsPreview()}`;
  }

  function setSize(dim, size) {
    size = Math.max(1, Math.min(MAX_GRID, size));
    if (sizes.get(dim) === size) return false;
    sizes.set(dim, size);
    redrawGrids(dim);
    return true;
  }

  // Builds the request body; returns {job} or {error, focus}.
  function collect() {
    const body = { task: task.name };
    if (inputs.length) body.inputs = {};
    for (const [index, input] of inputs.entries()) {
      const name = input.decl.name;
      if (!input.grid) {
        let v;
        try { v = JSON.parse(input.json); } catch (e) {
          return { error: `Input ${name} is not valid JSON: ${e.message}`, focus: form.querySelector(`[data-json="${index}"]`) };
        }
        if (!v || typeof v !== 'object' || Array.isArray(v)) {
          return { error: `Input ${name} must be a JSON object like {"dtype": "f32", "shape": [2], "data": [1, 2]}`, focus: form.querySelector(`[data-json="${index}"]`) };
        }
        body.inputs[name] = v;
        continue;
      }
      const rows = rowsOf(input);
      const cols = colsOf(input);
      const data = [];
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const text = String(input.values[r][c] ?? '').trim().replace(/,/g, '.');
          const v = text === '' ? 0 : Number(text);
          const bad = !Number.isFinite(v) || (INTEGER.has(input.parsed.dtype) && !Number.isInteger(v));
          if (bad) {
            const cell = form.querySelector(`input[data-input="${index}"][data-r="${r}"][data-c="${c}"]`);
            cell?.setAttribute('aria-invalid', 'true');
            const kind = INTEGER.has(input.parsed.dtype) ? 'a whole number' : 'a number';
            return { error: `${name}, row ${r + 1}, column ${c + 1}: “${text}” is not ${kind}.`, focus: cell };
          }
          data.push(v);
        }
      }
      body.inputs[name] = { dtype: input.parsed.dtype, shape: input.parsed.dims.length === 2 ? [rows, cols] : [cols], data };
    }
    const params = {};
    for (const el of form.querySelectorAll('[data-param]')) {
      const key = el.dataset.param;
      const text = el.value.trim();
      if (text === '') continue;
      const prop = schema.properties[key];
      switch (el.dataset.kind) {
        case 'integer':
        case 'number': {
          const v = Number(text);
          if (!Number.isFinite(v)) return { error: `Parameter ${key} must be a number.`, focus: el };
          params[key] = v;
          break;
        }
        case 'enum': params[key] = prop.enum[Number(text)]; break;
        case 'boolean': params[key] = text === 'true'; break;
        case 'json':
          try { params[key] = JSON.parse(text); } catch (e) { return { error: `Parameter ${key} is not valid JSON: ${e.message}`, focus: el }; }
          break;
        default: params[key] = el.value;
      }
    }
    if (Object.keys(params).length) body.params = params;
    const backend = form.querySelector('[data-backend]')?.value;
    if (backend) body.backend = backend;
    const price = readPrice();
    if (price.error) return { error: price.error, focus: price.focus, price: true, empty: price.empty };
    Object.assign(body, price);
    const { replicas, error, focus } = readReplicas();
    if (error) return { error, focus, replicas: true };
    if (replicas > 1) body.replicas = replicas;  // 1 is the daemon's default
    return { job: body };
  }

  // ---------------------------------------------------------------- quote
  const quoteBox = form.querySelector('[data-quote]');
  let quoteTimer = 0;
  let quoteSeq = 0;
  let quoted = false;  // a quote is on screen (dimmed while the next one is on its way)

  // The quote on screen is dimmed from the change on, until the answer for the new request comes.
  function scheduleQuote({ restart = true } = {}) {
    if (!restart && quoteTimer) return;
    if (quoted) quoteBox.dataset.state = 'loading';
    clearTimeout(quoteTimer);
    quoteTimer = setTimeout(fetchQuote, QUOTE_DELAY_MS);
  }

  function showQuote(markup, state) {
    quoteBox.dataset.state = state;
    quoteBox.innerHTML = markup;
    quoted = state === 'ready';
  }

  async function fetchQuote() {
    quoteTimer = 0;
    const seq = ++quoteSeq;
    const { job, error, price, empty, replicas } = collect();
    if (error) {
      const what = replicas ? `A quote needs from 1 to ${MAX_REPLICAS} replicas.` : !price ? 'A quote needs valid inputs.' : empty
        ? (priceMode() === 'bid' ? 'Enter a bid to see what the job would cost.' : 'Enter a maximum to see what the job would cost.')
        : 'A quote needs a valid price.';
      showQuote(html`<p class="muted" data-testid="quote-waiting">${what}</p>`, 'idle');
      return;
    }
    try {
      const q = await api.quote(job);
      if (seq !== quoteSeq || !form.isConnected) return;
      showQuote(quoteMarkup(q), 'ready');
    } catch (err) {
      if (seq !== quoteSeq || !form.isConnected) return;
      showQuote(html`<p class="quote-error" data-testid="quote-error"><strong>No quote:</strong> ${err.message}</p>`, 'error');
    }
  }

  function quoteMarkup(q) {
    const c = q.cheapest;
    const mode = priceMode();
    const bid = q.free ? 'free' : fmtPrice(q.bid);
    const replicas = q.replicas > 1 ? q.replicas : 0;
    const wait = q.expected_wait_ms === 0 ? 'none: a slot is free'
      : q.expected_wait_ms > 0 ? `about ${fmtDuration(q.expected_wait_ms)}`
        : c ? 'unknown yet' : 'until a worker takes it';
    return html`<div class="quote-head"><h3>Quote</h3><span class="muted small">from the workers connected now</span></div>
      <dl class="facts grid">
        <div><dt>Work units</dt><dd><span data-testid="quote-units">${fmtInt(q.units)}</span>${task.cost ? html` <code class="spec">${task.cost}</code>` : ''}
          ${replicas ? html`<span class="sub muted small" data-testid="quote-replicas">on each of ${replicas} replicas</span>` : ''}</dd></div>
        <div><dt>Bid</dt><dd data-testid="quote-bid">${bid}${mode === 'market' ? html` <span class="sub muted small">the going rate</span>`
          : mode === 'max' && !q.free ? html` <span class="sub muted small">the most this maximum pays per million</span>` : ''}</dd></div>
        <div><dt>Reserved</dt><dd><span data-testid="quote-reserved">${q.free ? 'nothing: a free job' : `${fmtCredits(q.reserved)} credits`}</span>
          ${replicas && !q.free ? html`<span class="sub muted small">for ${replicas === 2 ? 'both' : `all ${replicas}`} replicas</span>` : ''}</dd></div>
        <div><dt>Cheapest worker</dt><dd data-testid="quote-worker">${c ? html`${c.worker} <span class="sub muted small">asks ${c.ask ? fmtPrice(c.ask) : 'nothing'}</span>`
          : html`<span class="muted">none takes it</span>`}</dd></div>
        <div><dt>Cost there</dt><dd><span data-testid="quote-cost">${q.cost == null ? html`<span class="muted">–</span>` : q.cost === 0 ? 'free' : `${fmtCredits(q.cost)} credits`}</span>
          ${replicas && q.cost ? html`<span class="sub muted small">for one replica; each donor is paid its own ask</span>` : ''}</dd></div>
        <div><dt>Expected wait</dt><dd data-testid="quote-wait">${wait}${q.queued_ahead ? html` <span class="sub muted small">${plural(q.queued_ahead, 'job')} ahead</span>` : ''}</dd></div>
      </dl>
      ${q.note ? html`<p class="quote-note" data-testid="quote-note">${q.note}${!c && q.lowest_ask != null && !q.free
        ? html` <span class="muted">(the lowest ask is ${fmtPrice(q.lowest_ask)}).</span>` : ''}</p>` : ''}`;
  }

  // Anything that changes the request: its curl, and a quote once typing pauses.
  function changed() {
    updateCurl();
    scheduleQuote();
  }

  let curlTimer = 0;
  function updateCurl() {
    clearTimeout(curlTimer);
    curlTimer = setTimeout(() => {
      const out = form.querySelector('[data-curl]');
      const { job, error } = collect();
      const shellQuote = (text) => `'${text.replace(/'/g, "'\\''")}'`;
      const org = billTo();
      out.textContent = error ? `# ${error}` : [
        `curl -X POST '${location.origin}/api/v1/jobs?wait=true'`,
        '  -H "Authorization: Bearer $POTLUCK_TOKEN"',
        ...(org ? [`  -H ${shellQuote(`X-Potluck-Bill-To: ${org}`)}`] : []),
        "  -H 'Content-Type: application/json'",
        `  -d ${shellQuote(JSON.stringify(job))}`,
      ].join(' \\\n');
    }, 150);
  }

  form.addEventListener('input', (e) => {
    const el = e.target;
    if (el.classList.contains('cell')) {
      const input = inputs[Number(el.dataset.input)];
      input.values[Number(el.dataset.r)][Number(el.dataset.c)] = el.value;
      el.removeAttribute('aria-invalid');
    } else if (el.dataset.json !== undefined) {
      inputs[Number(el.dataset.json)].json = el.value;
    } else if (el.dataset.price !== undefined || el.dataset.priceMode !== undefined) {
      checkPrice();
    } else if (el.dataset.replicas !== undefined) {
      checkReplicas();
    }
    showError('');
    changed();
  });

  form.addEventListener('click', (e) => {
    const button = e.target.closest('button[data-act]');
    if (!button) return;
    if (button.dataset.act === 'dim') {
      const dim = button.dataset.dim;
      setSize(dim, sizeOf(dim) + Number(button.dataset.delta));
    } else if (button.dataset.act === 'fill') {
      const input = inputs[Number(button.dataset.input)];
      const kind = button.dataset.fill;
      input.values = input.values.map((row, r) => row.map((_, c) => {
        if (kind === 'identity') return r === c ? '1' : '0';
        if (kind === 'random') return String(Math.floor(Math.random() * 10));
        return '0';
      }));
      redrawGrids();
    }
    changed();
  });

  // Pasting rows into a cell fills the grid from that cell, growing its named dimensions.
  form.addEventListener('paste', (e) => {
    const el = e.target;
    if (!el.classList?.contains('cell')) return;
    const text = e.clipboardData?.getData('text') ?? '';
    if (!/[\s,;\t[\]]/.test(text.trim())) return;  // one value: the browser's own paste
    const rows = parsePastedMatrix(text);
    if (!rows.length || (rows.length === 1 && rows[0].length <= 1)) return;
    e.preventDefault();
    const index = Number(el.dataset.input);
    const input = inputs[index];
    const r0 = Number(el.dataset.r);
    const c0 = Number(el.dataset.c);
    const width = Math.max(...rows.map((r) => r.length));
    const rd = rowDim(input);
    const cd = colDim(input);
    if (rd !== null && typeof rd === 'string') sizes.set(rd, Math.min(MAX_GRID, Math.max(sizeOf(rd), r0 + rows.length)));
    if (typeof cd === 'string') sizes.set(cd, Math.min(MAX_GRID, Math.max(sizeOf(cd), c0 + width)));
    fitValues(input);
    rows.forEach((row, r) => row.forEach((v, c) => {
      if (r0 + r < rowsOf(input) && c0 + c < colsOf(input)) input.values[r0 + r][c0 + c] = v;
    }));
    redrawGrids();
    changed();
  });

  // Arrow keys and Enter move between cells like a spreadsheet.
  form.addEventListener('keydown', (e) => {
    const el = e.target;
    if (!el.classList?.contains('cell')) return;
    let dr = 0;
    let dc = 0;
    if (e.key === 'ArrowUp') dr = -1;
    else if (e.key === 'ArrowDown' || (e.key === 'Enter' && !e.shiftKey)) dr = 1;
    else if (e.key === 'Enter' && e.shiftKey) dr = -1;
    else if (e.key === 'ArrowLeft' && el.selectionStart === 0 && el.selectionEnd === 0) dc = -1;
    else if (e.key === 'ArrowRight' && el.selectionStart === el.value.length) dc = 1;
    else return;
    const next = form.querySelector(`input[data-input="${el.dataset.input}"][data-r="${Number(el.dataset.r) + dr}"][data-c="${Number(el.dataset.c) + dc}"]`);
    if (e.key === 'Enter') e.preventDefault();
    if (next) {
      e.preventDefault();
      next.focus();
      next.select();
    }
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submitting) return;
    checkPrice({ onSubmit: true });
    checkReplicas();
    const { job, error, focus } = collect();
    if (error) {
      showError(error);
      focus?.focus();
      return;
    }
    submitting = true;
    renderSubmit();
    try {
      await ready;  // the first page load may still be finding out who this is
      if (session.state === 'signed-out') return;
      const accepted = await api.submit(job, { billTo: billTo() });
      onSubmitted(accepted);
    } catch (err) {
      // 401 (no or a revoked token), 402 (the balance, or no free jobs here) and 403 (a token
      // without submit) come with the daemon's word.
      showError(err.message, err);
    } finally {
      submitting = false;
      renderSubmit();
    }
  });

  renderBillTo();
  updateCurl();
  fetchQuote();
  const offSession = onSession(() => { renderSubmit(); renderBillTo(); });
  // A worker that comes or goes changes who takes the job and what it costs.
  const offWorker = on('worker', () => scheduleQuote({ restart: false }));
  return () => { offSession(); offWorker(); clearTimeout(quoteTimer); clearTimeout(curlTimer); };
}
