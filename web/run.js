// The run panel of a model's page (#/models/OWNER/NAME, models.js): a form for the model's task,
// the job it submits followed live, and the job's answer in the task's shape.
//
//   text-classification   a text per line → {"text": {"text": [lines]}}; per text, its labels
//                         ranked best first, a bar and a percentage each
//   text-generation       a prompt (may be empty) and max_new_tokens, temperature, top_k, seed
//                         (only those given go in "params") → {"prompt": {"text": prompt}}; the
//                         text grows in an output box as the worker writes it (each 'progress'
//                         event's message is all the text so far), then the answer's
//   image-classification  an image file, decoded here with a canvas, scaled to at most
//                         MAX_IMAGE_SIDE px a side → {"image": {"dtype": "u8", "shape": [h, w, 3],
//                         "b64": RGB bytes}}; a preview, then the labels ranked
//   tensor                one tensor as JSON → {"input": {...}}; the output tensor (tensor.js)
//
// A run is POST /api/v1/jobs {"model": "owner/name@sha", "inputs", "params"} at the going rate,
// with the page's session token, for the revision the page shows. The panel follows the job on
// its own event stream (api.js followJob): while it is queued it says why it waits (the job's
// "waiting", such as no worker with a plugin for the model's format), with a Cancel button; a
// refused submit (the daemon's 4xx) shows in the form, a failed job's error below it, and the job
// page is a link away. Signed out, the form is disabled and offers sign-in, as the task form does.
// Below the panel: the same from code, with curl (the Hugging Face-compatible POST
// /models/OWNER/NAME, which runs the newest revision) and with the CLI.

import { api, debounced, followJob, on, TERMINAL } from './api.js';
import { copyText, fmtDuration, html } from './format.js';
import { onSession, ready, session } from './session.js';
import { tensorView } from './tensor.js';

export const RUN_TASKS = ['text-classification', 'text-generation', 'image-classification', 'tensor'];
const MAX_IMAGE_SIDE = 512;
const SHORT_REVISION_CHARS = 10;
const percent = new Intl.NumberFormat(undefined, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 });

// text-generation's parameters: the daemon checks the ranges (and answers 422), the form only
// that a number is one.
const GENERATION_PARAMS = [
  { key: 'max_new_tokens', integer: true, min: 1, max: 1024, placeholder: '32', hint: '1 to 1,024 · default 32: the most bytes it writes' },
  { key: 'temperature', integer: false, min: 0, max: 10, placeholder: '1', hint: '0 to 10 · default 1; 0 always takes the likeliest (greedy)' },
  { key: 'top_k', integer: true, min: 0, max: 256, placeholder: '0', hint: '0 to 256 · default 0 (off); else it samples among the k likeliest' },
  { key: 'seed', integer: true, min: 0, placeholder: 'random', hint: 'optional, 0 or more: the same seed writes the same text again' },
];

// What the CLI and curl examples send, per task.
const CODE_EXAMPLES = {
  'text-classification': { json: '"bonjour"', cli: '--input text=bonjour' },
  'text-generation': { json: '"bonjour"', cli: '--input prompt=bonjour' },
  'image-classification': { json: '{"dtype": "u8", "shape": [224, 224, 3], "b64": "…"}', cli: '--input image=@image.json' },
  tensor: { json: '{"dtype": "f32", "data": [1, 2, 3]}', cli: "--input input='[1, 2, 3]'" },
};

let panelCounter = 0;

// Bytes to base64, a chunk at a time (String.fromCharCode takes only so many arguments).
function toBase64(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

// A u8 tensor of the job's JSON ({b64} or {data}) as text.
function tensorText(t) {
  if (!t) return null;
  let bytes;
  if (typeof t.b64 === 'string') {
    try { bytes = Uint8Array.from(atob(t.b64), (c) => c.charCodeAt(0)); } catch { return null; }
  } else if (Array.isArray(t.data)) {
    bytes = Uint8Array.from(t.data.flat(Infinity));
  } else {
    return null;
  }
  return new TextDecoder().decode(bytes);
}

// An image file into RGB bytes, at most MAX_IMAGE_SIDE px a side; transparency on white. The
// canvas is the preview: it shows the very pixels that are sent.
async function readImage(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new Error(`“${file.name}” is not an image this browser can read.`);
  }
  const scale = Math.min(1, MAX_IMAGE_SIDE / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.drawImage(bitmap, 0, 0, width, height);
  const original = { width: bitmap.width, height: bitmap.height };
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return { canvas, width, height, original, name: file.name, tensor: { dtype: 'u8', shape: [height, width, 3], b64: toBase64(rgb) } };
}

// Labels and scores, best first, a bar each.
function ranked(list, label) {
  const sorted = [...(list ?? [])].sort((a, b) => b.score - a.score);
  return html`<ol class="ranked" aria-label="${label}">${sorted.map((x) => {
    const p = Math.max(0, Math.min(1, Number(x.score) || 0));
    return html`<li data-testid="run-label" data-label="${x.label}" data-score="${x.score}">
      <span class="ranked-label">${x.label}</span>
      <span class="ranked-bar" aria-hidden="true"><span style="width:${(p * 100).toFixed(1)}%"></span></span>
      <span class="ranked-score">${percent.format(p)}</span>
    </li>`;
  })}</ol>`;
}

// mountRunPanel(model) → {element, destroy}: the Run panel and the "Use it from code" panel for
// `model` (the hub's JSON of one revision), in an element the page places where it wants.
export function mountRunPanel(model) {
  const id = model.id;
  const task = model.task;
  const labels = model.cardData?.labels ?? [];
  const ref = `${id}@${model.sha}`;
  const taskName = `${model.format}.${task}`;
  const pid = `run${++panelCounter}`;
  const element = document.createElement('div');
  element.className = 'run-panels';

  let submitting = false;
  let run = null;           // {id, job, texts, prompt, streamed, cancelling, cancelError}
  let stopFollowing = null;
  let image = null;         // readImage's answer for the file picked
  let imageError = null;

  const example = CODE_EXAMPLES[task] ?? CODE_EXAMPLES.tensor;
  const curl = `curl -X POST ${location.origin}/models/${id} -H "Authorization: Bearer $POTLUCK_TOKEN" -d '{"inputs": ${example.json}}'`;
  const cli = `potluck run ${id} ${example.cli}`;

  function fields() {
    if (task === 'text-classification') {
      return html`<div class="field">
        <label for="${pid}-texts">Texts <span class="unit">one per line</span></label>
        <textarea id="${pid}-texts" name="texts" rows="4" spellcheck="false" placeholder="${'bonjour\nhello there'}"
          aria-describedby="${pid}-texts-hint" data-testid="run-texts"></textarea>
        <span class="hint" id="${pid}-texts-hint">Each line is classified on its own${labels.length
          ? html`, into ${labels.map((l, i) => html`${i ? ', ' : ''}<code>${l}</code>`)}` : ''}.</span>
      </div>`;
    }
    if (task === 'text-generation') {
      return html`<div class="field">
        <label for="${pid}-prompt">Prompt</label>
        <textarea id="${pid}-prompt" name="prompt" rows="2" spellcheck="false" aria-describedby="${pid}-prompt-hint" data-testid="run-prompt"></textarea>
        <span class="hint" id="${pid}-prompt-hint">May be empty: the model then starts from its own start token.</span>
      </div>
      <div class="run-params">${GENERATION_PARAMS.map((p) => html`<div class="field">
        <label for="${pid}-${p.key}"><code>${p.key}</code></label>
        <input id="${pid}-${p.key}" name="${p.key}" type="number" step="${p.integer ? '1' : 'any'}" inputmode="${p.integer ? 'numeric' : 'decimal'}"
          min="${p.min}" ${p.max !== undefined ? html`max="${p.max}"` : ''} placeholder="${p.placeholder}" data-param="${p.key}"
          aria-describedby="${pid}-${p.key}-hint" data-testid="run-${p.key}">
        <span class="hint" id="${pid}-${p.key}-hint">${p.hint}</span>
      </div>`)}</div>`;
    }
    if (task === 'image-classification') {
      return html`<div class="field">
        <label for="${pid}-image">Image</label>
        <input id="${pid}-image" name="image" type="file" accept="image/*" aria-describedby="${pid}-image-hint" data-testid="run-image">
        <span class="hint" id="${pid}-image-hint">Read here, in your browser: scaled down to at most ${MAX_IMAGE_SIDE} px a side and sent as
          RGB bytes${labels.length ? html`; the labels are ${labels.map((l, i) => html`${i ? ', ' : ''}<code>${l}</code>`)}` : ''}.</span>
      </div>
      <figure class="run-preview" data-run-preview hidden><figcaption class="muted small" data-run-preview-caption></figcaption></figure>`;
    }
    return html`<div class="field">
      <label for="${pid}-tensor">Input tensor <span class="unit">as JSON</span></label>
      <textarea id="${pid}-tensor" name="tensor" class="json" rows="4" spellcheck="false" aria-describedby="${pid}-tensor-hint"
        data-testid="run-tensor">{"dtype": "f32", "shape": [3], "data": [1, 2, 3]}</textarea>
      <span class="hint" id="${pid}-tensor-hint"><code>{"dtype": "f32", "shape": [2, 2], "data": [1, 2, 3, 4]}</code>, or nested
        <code>"data": [[1, 2], [3, 4]]</code> without a shape.</span>
    </div>`;
  }

  element.innerHTML = html`<section class="panel run-panel" aria-labelledby="${pid}-h" data-testid="run-panel" data-task="${task}">
      <header class="panel-head"><h2 id="${pid}-h">Run</h2>
        <span class="muted small">revision <code title="${model.sha}">${model.sha.slice(0, SHORT_REVISION_CHARS)}</code></span></header>
      <p class="notice warn small run-offline" data-run-offline data-testid="run-offline" hidden>No connected worker runs
        <code>${model.format}</code> ${task} models right now: a job waits in the queue until one connects.</p>
      ${RUN_TASKS.includes(task) ? html`<form class="run-form" novalidate data-testid="run-form">
        <fieldset class="run-fields" data-run-fields>
          <legend class="sr-only">What to run ${id} on</legend>
          ${fields()}
        </fieldset>
        <div class="form-error" role="alert" data-testid="run-error" data-run-error hidden></div>
        <div class="run-actions" data-run-submit></div>
      </form>
      <div class="run-result" data-run-result data-testid="run-result">
        <div data-run-status></div>
        <div data-run-output></div>
      </div>` : html`<p class="muted">This page cannot run the task <code>${task}</code>.</p>`}
    </section>
    <section class="panel run-code" aria-labelledby="${pid}-code-h" data-testid="run-code">
      <header class="panel-head"><h2 id="${pid}-code-h">Use it from code</h2>
        <button type="button" class="link" data-copy-curl aria-label="Copy the curl command">Copy</button></header>
      <p class="small muted">The Hugging Face Inference API’s shape, with a token that has the <code>submit</code> scope; it runs
        the newest revision:</p>
      <pre><code data-testid="run-curl">${curl}</code></pre>
      <p class="small muted">With the CLI:</p>
      <pre><code data-testid="run-cli">${cli}</code></pre>
    </section>`;

  const offlineNote = element.querySelector('[data-run-offline]');
  const copyButton = element.querySelector('[data-copy-curl]');
  copyButton.addEventListener('click', async () => {
    const copied = await copyText(curl);
    copyButton.textContent = copied ? 'Copied' : 'Select it to copy';
    setTimeout(() => { if (copyButton.isConnected) copyButton.textContent = 'Copy'; }, 2500);
  });

  // Whether a connected worker runs this model's task: a note when none does.
  let asked = 0;
  async function checkOffered() {
    const question = ++asked;
    try {
      const tasks = await api.tasks();
      if (question !== asked) return;
      const offered = tasks.find((t) => t.name === taskName);
      offlineNote.hidden = Boolean(offered?.workers);
    } catch {
      /* the note stays as it was; the job's own "waiting" says the same */
    }
  }
  const checkSoon = debounced(checkOffered, 200, 1000);
  const offs = [on('worker', checkSoon), on('resync', checkSoon)];
  checkOffered();

  const form = element.querySelector('form');
  if (!form) return { element, destroy: () => offs.forEach((f) => f()) };
  const fieldset = form.querySelector('[data-run-fields]');
  const errorBox = form.querySelector('[data-run-error]');
  const submitSlot = form.querySelector('[data-run-submit]');
  const statusBox = element.querySelector('[data-run-status]');
  const outputBox = element.querySelector('[data-run-output]');

  const live = () => run && !TERMINAL.has(run.job.state);

  // The button, or the way to a token; the fields are disabled signed out.
  let submitMarkup = '';
  function renderSubmit() {
    const signedOut = session.state === 'signed-out';
    fieldset.disabled = signedOut;
    const scopes = session.tokenInfo?.scopes;
    const lacksSubmit = session.state === 'signed-in' && Array.isArray(scopes) && !scopes.includes('submit');
    const busy = submitting || live();
    const markup = String(signedOut
      ? html`<a class="button primary" href="#/signin" data-testid="run-signin">Sign in to run</a>
        <p class="hint">Running a model submits a job, which needs an account and its token.</p>`
      : html`<button type="submit" class="primary" data-testid="run-submit" ${busy ? 'disabled' : ''}>${submitting ? 'Submitting…' : live() ? 'Running…' : 'Run'}</button>
        ${lacksSubmit ? html`<p class="hint" data-testid="run-scope-hint">This browser’s token “${session.tokenInfo.name}” has no <code>submit</code> scope.
          <a href="#/signin">Use another token</a>.</p>` : ''}`);
    if (markup === submitMarkup) return;
    submitMarkup = markup;
    submitSlot.innerHTML = markup;
  }

  function showError(message, field) {
    errorBox.hidden = !message;
    errorBox.textContent = message ?? '';
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    if (field) {
      field.setAttribute('aria-invalid', 'true');
      field.focus();
    }
  }

  // The request body, or {error, field}.
  function collect() {
    const body = { model: ref, inputs: {} };
    const extra = {};
    if (task === 'text-classification') {
      const el = form.elements.texts;
      const texts = el.value.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== '');
      if (!texts.length) return { error: 'Type a text to classify: one per line.', field: el };
      body.inputs.text = { text: texts };
      extra.texts = texts;
    } else if (task === 'text-generation') {
      const prompt = form.elements.prompt.value;
      body.inputs.prompt = { text: prompt };
      extra.prompt = prompt;
      const params = {};
      for (const p of GENERATION_PARAMS) {
        const el = form.elements[p.key];
        const text = el.value.trim();
        if (text === '') {
          // A number input holds '' for what is not a number, such as "1e": say so rather than drop it.
          if (el.validity?.badInput) return { error: `${p.key} must be ${p.integer ? 'a whole number' : 'a number'}.`, field: el };
          continue;
        }
        const v = Number(text);
        if (!Number.isFinite(v) || (p.integer && !Number.isInteger(v))) {
          return { error: `${p.key} must be ${p.integer ? 'a whole number' : 'a number'}, not “${text}”.`, field: el };
        }
        params[p.key] = v;
      }
      if (Object.keys(params).length) body.params = params;
    } else if (task === 'image-classification') {
      const el = form.elements.image;
      if (imageError) return { error: imageError, field: el };
      if (!image) return { error: 'Pick an image to classify.', field: el };
      body.inputs.image = image.tensor;
    } else {
      const el = form.elements.tensor;
      let v;
      try { v = JSON.parse(el.value); } catch (e) { return { error: `The input tensor is not valid JSON: ${e.message}`, field: el }; }
      if (!v || typeof v !== 'object' || Array.isArray(v)) {
        return { error: 'The input tensor must be a JSON object like {"dtype": "f32", "shape": [2], "data": [1, 2]}.', field: el };
      }
      body.inputs.input = v;
    }
    return { body, extra };
  }

  // ---------------------------------------------------------------- the job
  function renderStatus() {
    if (!run) { statusBox.innerHTML = ''; return; }
    const { job } = run;
    const state = job.state;
    const ran = job.timings_ms?.run;
    let note = '';
    if (state === 'queued') note = job.waiting || job.message || 'Queued: waiting for a free slot on a worker…';
    else if (state === 'running') note = task === 'text-generation' ? 'Writing…' : job.message || 'Running…';
    else if (state === 'succeeded') note = Number.isFinite(ran) ? `Done in ${fmtDuration(ran)}${job.worker ? ` on ${job.worker}` : ''}.` : 'Done.';
    else if (state === 'cancelled') note = 'Cancelled.';
    const waiting = state === 'queued' && job.waiting;
    statusBox.innerHTML = html`<div class="run-status" data-testid="run-status" data-state="${state}">
        <span class="badge state-${state}" data-testid="run-state">${state}</span>
        <a href="#/jobs/${run.id}" data-testid="run-job-link">Job #${run.id}</a>
        ${!waiting && note ? html`<span class="muted small run-note">${note}</span>` : ''}
        ${live() ? html`<button type="button" class="danger small-button" data-run-cancel data-testid="run-cancel" ${run.cancelling ? 'disabled' : ''}>${run.cancelling ? 'Cancelling…' : 'Cancel'}</button>` : ''}
      </div>
      ${waiting ? html`<p class="notice warn run-waiting" role="status" data-testid="run-waiting">${job.waiting}</p>` : ''}
      ${run.cancelError ? html`<p class="notice error" role="alert" data-testid="run-cancel-error">${run.cancelError}</p>` : ''}
      ${state === 'failed' || (state === 'cancelled' && job.error) ? html`<div class="notice ${state === 'failed' ? 'error' : 'muted-box'} run-job-error" role="alert" data-testid="run-job-error">
        <strong>${state === 'failed' ? 'The job failed.' : 'The job was cancelled.'}</strong>
        <p class="error-message" data-testid="run-job-error-message">${job.error?.message || 'No message was given.'}</p>
        ${job.error?.code ? html`<p class="small muted">code <code>${job.error.code}</code></p>` : ''}
      </div>` : ''}`;
  }

  // The generated text: the prompt, then what the model wrote after it.
  function generationBox(text, busy) {
    return html`<div class="gen-output" role="log" aria-live="polite" aria-busy="${busy ? 'true' : 'false'}" aria-label="Generated text" data-testid="run-output"
      ><span class="gen-prompt" data-testid="run-output-prompt">${run.prompt}</span><span class="gen-text" data-generated>${text}</span></div>`;
  }

  function renderOutput() {
    if (!run) { outputBox.innerHTML = ''; return; }
    const { job } = run;
    if (task === 'text-generation') {
      if (job.state === 'succeeded') {
        const full = job.result?.answer?.[0]?.generated_text;
        const written = typeof full === 'string'
          ? (full.startsWith(run.prompt) ? full.slice(run.prompt.length) : full)
          : tensorText(job.result?.outputs?.text) ?? run.streamed;
        outputBox.innerHTML = generationBox(written, false);
      } else if (TERMINAL.has(job.state)) {
        outputBox.innerHTML = run.streamed ? generationBox(run.streamed, false) : '';
      } else {
        outputBox.innerHTML = generationBox(run.streamed, true);
      }
      return;
    }
    if (job.state !== 'succeeded') { outputBox.innerHTML = ''; return; }
    const answer = job.result?.answer;
    if (task === 'text-classification' && Array.isArray(answer) && answer.every(Array.isArray)) {
      outputBox.innerHTML = html`<ol class="plain run-answer" data-testid="run-answer">${answer.map((labelsOf, i) => {
        const text = run.texts?.[i] ?? `text ${i + 1}`;
        return html`<li class="run-text-result" data-testid="run-text-result" data-text="${text}">
          <p class="run-text-quote">“${text}”</p>${ranked(labelsOf, `Labels for “${text}”, best first`)}</li>`;
      })}</ol>`;
    } else if (task === 'image-classification' && Array.isArray(answer)) {
      outputBox.innerHTML = html`<div class="run-answer" data-testid="run-answer">${ranked(answer, 'Labels for the image, best first')}</div>`;
    } else {
      const outputs = Object.entries(job.result?.outputs ?? {});
      outputBox.innerHTML = html`<div class="run-answer" data-testid="run-answer">${outputs.length
        ? outputs.map(([name, t]) => tensorView(name, t)) : html`<p class="muted">The job returned no outputs.</p>`}</div>`;
    }
  }

  // A job or progress event of the run's job: its whole JSON (when the stream starts and when the
  // job ends) or the fields that changed.
  function onJobEvent(kind, data) {
    if (!run || String(data.id) !== String(run.id)) return;
    const wasState = run.job.state;
    if (kind === 'job' && 'created_at' in data) {
      run.job = data;
    } else {
      const { job } = run;
      if (data.state) job.state = data.state;
      if (typeof data.progress === 'number') job.progress = data.progress;
      if (data.message !== undefined) job.message = data.message;
      if (data.worker) job.worker = data.worker;
    }
    if (run.job.state !== 'queued') delete run.job.waiting;
    // A running generation's message is all the text written so far.
    if (task === 'text-generation' && typeof data.message === 'string' && data.message && run.job.state === 'running') {
      run.streamed = data.message;
      // Only the text changes: the box stays, for screen readers and for whoever watches it grow.
      const span = outputBox.querySelector('[data-generated]');
      if (span) {
        if (span.textContent !== run.streamed) span.textContent = run.streamed;
        if (wasState === run.job.state) return;
      }
    }
    renderStatus();
    if (TERMINAL.has(run.job.state) || wasState !== run.job.state) renderOutput();
    if (TERMINAL.has(run.job.state)) renderSubmit();
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submitting || live()) return;
    const { body, extra, error, field } = collect();
    if (error) { showError(error, field); return; }
    showError('');
    submitting = true;
    renderSubmit();
    try {
      await ready;  // the first page load may still be finding out who this is
      if (session.state === 'signed-out') return;
      const accepted = await api.submit(body);
      stopFollowing?.();
      run = { id: accepted.id, job: { id: accepted.id, state: accepted.state ?? 'queued' }, streamed: '', ...extra };
      stopFollowing = followJob(accepted.id, onJobEvent);
      renderStatus();
      renderOutput();
    } catch (err) {
      // The daemon's word: a 422 names the parameter or input it refused.
      const named = /parameter '([a-z_]+)'/.exec(err.message)?.[1];
      showError(err.message, named && form.elements[named] ? form.elements[named] : null);
    } finally {
      submitting = false;
      renderSubmit();
    }
  });

  form.addEventListener('input', (e) => {
    if (e.target.type === 'file') return;
    if (!errorBox.hidden) showError('');
  });

  if (task === 'image-classification') {
    const preview = form.querySelector('[data-run-preview]');
    const caption = form.querySelector('[data-run-preview-caption]');
    let reading = 0;
    form.elements.image.addEventListener('change', async (e) => {
      const file = e.target.files?.[0];
      const read = ++reading;
      image = null;
      imageError = null;
      showError('');
      preview.querySelector('canvas')?.remove();
      preview.hidden = true;
      if (!file) return;
      try {
        const got = await readImage(file);
        if (read !== reading) return;
        image = got;
        got.canvas.setAttribute('role', 'img');
        got.canvas.setAttribute('aria-label', `The image that is sent: ${got.name}, ${got.width} × ${got.height} pixels`);
        got.canvas.dataset.testid = 'run-preview';
        preview.prepend(got.canvas);
        caption.textContent = got.width === got.original.width && got.height === got.original.height
          ? `${got.width} × ${got.height} px`
          : `${got.width} × ${got.height} px (scaled from ${got.original.width} × ${got.original.height})`;
        preview.hidden = false;
      } catch (err) {
        if (read !== reading) return;
        imageError = err.message;
        showError(err.message, e.target);
      }
    });
  }

  element.addEventListener('click', async (e) => {
    if (!e.target.closest('[data-run-cancel]') || !run || run.cancelling) return;
    const current = run;
    current.cancelling = true;
    current.cancelError = null;
    renderStatus();
    try {
      const r = await api.cancel(current.id);
      // The stream brings the job's end; say it at once all the same.
      if (run === current && r?.state && !TERMINAL.has(current.job.state)) onJobEvent('job', { id: current.id, state: r.state });
    } catch (err) {
      // It ended meanwhile (409 job_finished): the stream brings how; anything else is said.
      if (err.code !== 'job_finished') current.cancelError = err.message;
    }
    current.cancelling = false;
    if (run === current) renderStatus();
  });

  renderSubmit();
  const offSession = onSession(renderSubmit);
  return {
    element,
    destroy() {
      stopFollowing?.();
      offSession();
      offs.forEach((f) => f());
    },
  };
}
