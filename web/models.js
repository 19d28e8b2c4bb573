// The model hub's pages: the models published to this daemon, and one model.
//
//   #/models?search=&task=&sort=&page=N  the models, 20 a page, newest change or most downloads
//                first, searched by name, owner, tag and label, filtered by task; the form keeps
//                the URL up to date (history.replaceState, so typing does not rebuild the view) and
//                a reload or a shared link shows the same list. With no model yet: how to publish.
//   #/models/OWNER/NAME?revision=ID  one model at its newest revision, or at ID: its card (the
//                README.md's markdown, markdown.js), what the card says, its files with their sizes
//                and hashes, its revisions (each one a link to the model at that revision), and a
//                panel that runs that revision on inputs typed or picked there (run.js)
//
// Views follow app.js's shape: a function (element, params, query) → cleanup. The hub has no live
// events, so these pages read once, and again when the event stream comes back; the run panel is
// kept across those redraws (what was typed, the job it follows) while the revision stays the same.
// Downloading files (GET /OWNER/NAME/resolve/REV/PATH) comes later: no page offers it yet.

import { api, debounced, on } from './api.js';
import { copyText, fmtBytes, fmtInt, html, plural, timeAgo } from './format.js';
import { renderMarkdown } from './markdown.js';
import { mountRunPanel } from './run.js';
import { onSession, session } from './session.js';

// What a card may name (daemon/hub/model_card.cpp).
const MODEL_TASKS = ['text-classification', 'text-generation', 'image-classification', 'tensor'];
const MODEL_FORMATS = ['torchscript', 'safetensors', 'onnx'];
const SORTS = [['recent', 'Recently updated'], ['downloads', 'Most downloaded']];
const PAGE_SIZE = 20;
const SEARCH_DELAY_MS = 250;     // after the last key, the search goes
const SHORT_SHA_CHARS = 12;
const SHORT_REVISION_CHARS = 10;

function errorBox(e, what) {
  return html`<div class="notice error" role="alert"><strong>${what}</strong> ${e.message}</div>`;
}

// "#/models/OWNER/NAME", at `revision` when one is given.
export function modelHref(id, revision = '') {
  const path = String(id).split('/').map(encodeURIComponent).join('/');
  return `#/models/${path}${revision ? `?revision=${encodeURIComponent(revision)}` : ''}`;
}

function modelsHref({ search, task, sort, page }) {
  const q = new URLSearchParams();
  if (search) q.set('search', search);
  if (task) q.set('task', task);
  if (sort !== 'recent') q.set('sort', sort);
  if (page > 1) q.set('page', String(page));
  const text = String(q);
  return `#/models${text ? `?${text}` : ''}`;
}

// A file's size: fmtBytes, but an empty file is "0 B" (to fmtBytes, 0 bytes means unknown).
function fmtFileSize(bytes) {
  return bytes === 0 ? '0 B' : fmtBytes(bytes);
}

// ------------------------------------------------------------------ #/models
function modelRow(m) {
  const labels = [...(m.cardData?.labels ?? []), ...(m.tags ?? [])];
  return html`<tr data-testid="model-row" data-model-id="${m.id}">
    <td data-label="Model" class="model-name"><a href="${modelHref(m.id)}" data-testid="model-link">${m.id}</a>
      ${labels.length ? html`<span class="chips model-labels">${labels.map((l) => html`<span class="chip">${l}</span>`)}</span>` : ''}</td>
    <td data-label="Task"><span class="chip task-chip" data-testid="model-task">${m.task}</span></td>
    <td data-label="Format"><code>${m.format}</code></td>
    <td data-label="License">${m.license ?? html`<span class="muted">none given</span>`}</td>
    <td data-label="Downloads" class="num" data-testid="model-downloads">${fmtInt(m.downloads)}</td>
    <td data-label="Updated">${timeAgo(m.lastModified)}</td>
  </tr>`;
}

// The first model is published with the CLI; the card's front matter is what the hub lists.
function howToPublish() {
  const owner = session.state === 'signed-in' && session.account?.name ? session.account.name : 'alice';
  return html`<div class="empty" data-testid="models-empty">
    <p><strong>No model is published here yet.</strong> A model is a folder: its weights (TorchScript <code>.pt</code>, safetensors or
      ONNX), any JSON or text files it needs, and a card, <code>README.md</code>. Publish it under your account (or an organisation you
      belong to) with a token that has the <code>publish</code> scope:</p>
    <pre><code>potluck models push ./my-model ${owner}/word-lang</code></pre>
    <p>The card starts with front matter that names the task and the format of the weights; the markdown after it is this hub's page
      for the model:</p>
    <pre><code>---
task: text-classification
format: torchscript
license: mit
labels: [en, fr]
---
# Word language

Tells which language a word is in.</code></pre>
    <p class="muted small">Tasks: ${MODEL_TASKS.join(', ')}. Formats: ${MODEL_FORMATS.join(', ')}. Pickles (<code>pytorch_model.bin</code>)
      are refused, since loading one runs code: export with <code>torch.jit.save</code> or as safetensors.</p>
  </div>`;
}

export function modelsPage(el, _params, query) {
  document.title = 'Models · Potluck';
  const filter = {
    search: (query.get('search') ?? '').trim(),
    task: MODEL_TASKS.includes(query.get('task')) ? query.get('task') : '',
    sort: SORTS.some(([s]) => s === query.get('sort')) ? query.get('sort') : 'recent',
    page: Math.max(1, Math.floor(Number(query.get('page'))) || 1),
  };
  let models = null;    // this page's models, or null before the first answer
  let hasNext = false;  // the daemon had one more than a page
  let error = null;
  let asked = 0;        // answers to older questions are dropped
  let left = false;     // the view is gone: a search still waiting must not rewrite the URL

  el.innerHTML = html`<header class="page-head"><h1>Models</h1>
      <p class="muted">Models published to this hub, with their cards and files. Open one to run it on your own inputs.</p></header>
    <form class="model-filters" role="search" aria-label="Models" data-filters data-testid="model-filters">
      <div class="field search-field">
        <label for="model-search">Search</label>
        <input id="model-search" name="search" type="search" value="${filter.search}" autocomplete="off" autocapitalize="none"
          spellcheck="false" maxlength="200" placeholder="name, owner, tag or label" data-testid="model-search">
      </div>
      <div class="field">
        <label for="model-task">Task</label>
        <select id="model-task" name="task" data-testid="model-task-filter">
          <option value="">any task</option>
          ${MODEL_TASKS.map((t) => html`<option value="${t}" ${t === filter.task ? 'selected' : ''}>${t}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="model-sort">Sort</label>
        <select id="model-sort" name="sort" data-testid="model-sort">
          ${SORTS.map(([s, label]) => html`<option value="${s}" ${s === filter.sort ? 'selected' : ''}>${label}</option>`)}
        </select>
      </div>
    </form>
    <section class="panel"><div data-models data-state="loading" aria-live="polite"></div></section>`;
  const box = el.querySelector('[data-models]');
  const form = el.querySelector('[data-filters]');

  function render() {
    if (!models) {
      box.innerHTML = error ? errorBox(error, 'The models could not be loaded.') : html`<p class="muted loading">Loading models…</p>`;
      return;
    }
    const filtered = filter.search || filter.task;
    if (!models.length) {
      box.innerHTML = filter.page > 1
        ? html`<div class="empty" data-testid="models-none"><p>No models on page ${filter.page}.
            <a href="${modelsHref({ ...filter, page: 1 })}">Back to the first page</a>.</p></div>`
        : filtered
          ? html`<div class="empty" data-testid="models-none"><p><strong>No model matches</strong> ${[
              filter.search ? html`“${filter.search}”` : null, filter.task ? html`the task <code>${filter.task}</code>` : null,
            ].filter(Boolean).map((x, i) => html`${i ? ' for ' : ''}${x}`)}.
              Search looks in names, owners, tags and labels. <a href="#/models">See every model</a>.</p></div>`
          : howToPublish();
      return;
    }
    const first = (filter.page - 1) * PAGE_SIZE + 1;
    box.innerHTML = html`${error ? errorBox(error, 'The models could not be reloaded.') : ''}
      <div class="table-wrap"><table class="data models" data-testid="models">
        <thead><tr><th>Model</th><th>Task</th><th>Format</th><th>License</th><th class="num">Downloads</th><th>Updated</th></tr></thead>
        <tbody>${models.map(modelRow)}</tbody></table></div>
      ${filter.page > 1 || hasNext ? html`<nav class="pager" aria-label="Pages of models" data-testid="models-pager">
        ${filter.page > 1 ? html`<a class="button secondary" href="${modelsHref({ ...filter, page: filter.page - 1 })}" data-testid="models-previous" rel="prev">← Previous</a>` : ''}
        <span class="muted small" data-testid="models-range">${fmtInt(first)}–${fmtInt(first + models.length - 1)}, page ${filter.page}</span>
        ${hasNext ? html`<a class="button secondary" href="${modelsHref({ ...filter, page: filter.page + 1 })}" data-testid="models-next" rel="next">Next →</a>` : ''}
      </nav>` : ''}`;
  }

  async function load() {
    const question = ++asked;
    try {
      const page = await api.models({
        search: filter.search, task: filter.task, sort: filter.sort, limit: PAGE_SIZE + 1, offset: (filter.page - 1) * PAGE_SIZE,
      });
      if (question !== asked) return;
      models = page.slice(0, PAGE_SIZE);
      hasNext = page.length > PAGE_SIZE;
      error = null;
    } catch (e) {
      if (question !== asked) return;
      error = e;
    }
    box.dataset.state = 'loaded';
    render();
  }

  // The form's fields into the filter and the URL; a new filter starts at the first page.
  function apply() {
    const search = form.elements.search.value.trim();
    const { value: task } = form.elements.task;
    const { value: sort } = form.elements.sort;
    if (left || (search === filter.search && task === filter.task && sort === filter.sort)) return;
    Object.assign(filter, { search, task, sort, page: 1 });
    history.replaceState(null, '', modelsHref(filter));
    box.dataset.state = 'loading';
    load();
  }
  const applySoon = debounced(apply, SEARCH_DELAY_MS, SEARCH_DELAY_MS * 4);
  form.addEventListener('input', (e) => { if (e.target.name === 'search') applySoon(); });
  form.addEventListener('change', apply);
  form.addEventListener('submit', (e) => { e.preventDefault(); apply(); });

  const offs = [on('resync', load), onSession(() => { if (models && !models.length) render(); })];
  render();
  load();
  return () => { left = true; offs.forEach((f) => f()); };
}

// ------------------------------------------------------------------ #/models/OWNER/NAME
function fileRow(f) {
  return html`<tr data-testid="model-file" data-path="${f.rfilename}">
    <td data-label="File" class="file-path"><code>${f.rfilename}</code></td>
    <td data-label="Size" class="num" data-testid="file-size" title="${plural(f.size, 'byte')}">${fmtFileSize(f.size)}</td>
    <td data-label="SHA-256" class="file-sha"><code class="sha" title="${f.sha256}" data-testid="file-sha" data-sha="${f.sha256}">${f.sha256.slice(0, SHORT_SHA_CHARS)}…</code>
      <button type="button" class="link" data-copy="${f.sha256}" data-testid="copy-sha" aria-label="Copy the SHA-256 of ${f.rfilename}">Copy</button></td>
  </tr>`;
}

function filesPanel(model) {
  const files = model.siblings ?? [];
  const total = files.reduce((sum, f) => sum + (f.size || 0), 0);
  return html`<section class="panel" aria-labelledby="h-files" data-testid="model-files">
    <header class="panel-head"><h2 id="h-files">Files</h2><span class="muted small">${plural(files.length, 'file')} · ${fmtFileSize(total)}</span></header>
    <div class="table-wrap"><table class="data files">
      <thead><tr><th>File</th><th class="num">Size</th><th>SHA-256</th></tr></thead>
      <tbody>${files.map(fileRow)}</tbody></table></div>
    <p class="muted small">A file’s SHA-256 is the hash of its bytes: check a copy against it. Downloading files from this page comes later.</p>
  </section>`;
}

function chips(list, testid) {
  return (list ?? []).length
    ? html`<span class="chips" data-testid="${testid}">${list.map((x) => html`<span class="chip">${x}</span>`)}</span>`
    : html`<span class="muted" data-testid="${testid}">none</span>`;
}

function aboutPanel(model) {
  const card = model.cardData ?? {};
  return html`<section class="panel" aria-labelledby="h-about" data-testid="model-about">
    <header class="panel-head"><h2 id="h-about">About</h2></header>
    <dl class="facts">
      <div><dt>Task</dt><dd data-testid="about-task"><code>${card.task ?? model.task}</code></dd></div>
      <div><dt>Format</dt><dd data-testid="about-format"><code>${card.format ?? model.format}</code></dd></div>
      <div><dt>License</dt><dd data-testid="about-license">${card.license || model.license || html`<span class="muted">none given</span>`}</dd></div>
      <div><dt>Labels</dt><dd>${chips(card.labels, 'about-labels')}</dd></div>
      <div><dt>Tags</dt><dd>${chips(model.tags, 'about-tags')}</dd></div>
      <div><dt>Downloads</dt><dd data-testid="about-downloads">${fmtInt(model.downloads)}</dd></div>
      <div><dt>Created</dt><dd>${timeAgo(model.createdAt)}</dd></div>
    </dl>
  </section>`;
}

function revisionsPanel(id, revisions, shown, error) {
  let body;
  if (error) body = errorBox(error, 'The revisions could not be loaded.');
  else if (!revisions) body = html`<p class="muted loading">Loading revisions…</p>`;
  else {
    body = html`<ol class="plain revisions" data-testid="revisions">${revisions.map((r, i) => {
      const current = r.id === shown;
      return html`<li data-testid="revision" data-revision="${r.id}" class="${current ? 'current' : ''}">
        <a href="${modelHref(id, i === 0 ? '' : r.id)}" ${current ? html`aria-current="page"` : ''} data-testid="revision-link">
          <span class="revision-message">${r.message || html`<span class="muted">no message</span>`}</span></a>
        <span class="muted small"><code title="${r.id}">${r.id.slice(0, SHORT_REVISION_CHARS)}</code> · ${timeAgo(r.created_at)}${i === 0 ? html` · <span class="chip">newest</span>` : ''}</span>
      </li>`;
    })}</ol>`;
  }
  return html`<section class="panel" aria-labelledby="h-revisions">
    <header class="panel-head"><h2 id="h-revisions">Revisions</h2>${revisions ? html`<span class="muted small">${plural(revisions.length, 'revision')}, newest first</span>` : ''}</header>
    ${body}
  </section>`;
}

export function modelPage(el, { owner, name }, query) {
  const id = `${owner}/${name}`;
  const revision = query.get('revision') ?? '';
  document.title = `${id} · Potluck`;
  let model = null;
  let revisions = null;
  let revisionsError = null;
  let run = null;  // the run panel (run.js), kept while the revision shown stays the same

  const crumbs = html`<nav class="crumbs" aria-label="Breadcrumb"><a href="#/models">Models</a> <span aria-hidden="true">/</span> ${owner}
    <span aria-hidden="true">/</span> ${name}</nav>`;

  function render() {
    const newest = revisions?.[0]?.id;
    const older = newest && model.sha !== newest;
    const shownRevision = revisions?.find((r) => r.id === model.sha);
    el.innerHTML = html`${crumbs}
      <header class="page-head model-head">
        <h1 data-testid="model-id"><span class="model-owner">${owner}/</span>${name}</h1>
        <p class="muted">
          <span class="chip task-chip">${model.task}</span> <code>${model.format}</code>${model.license ? html` · ${model.license}` : ''}
          · updated ${timeAgo(model.lastModified)} · ${plural(model.downloads, 'download')}
          · revision <code title="${model.sha}" data-testid="model-revision">${model.sha.slice(0, SHORT_REVISION_CHARS)}</code>
        </p>
      </header>
      ${older ? html`<div class="notice warn" role="status" data-testid="revision-notice">You are looking at an older revision,
        <code>${model.sha.slice(0, SHORT_REVISION_CHARS)}</code>${shownRevision ? html` (“${shownRevision.message}”, ${timeAgo(shownRevision.created_at)})` : ''}:
        its card and files are as they were then.
        <a href="${modelHref(id)}" data-testid="newest-link">See the newest</a>.</div>` : ''}
      <div class="model-columns">
        <div class="model-main">
          <section class="panel" aria-labelledby="h-card">
            <header class="panel-head"><h2 id="h-card">Model card</h2><span class="muted small">README.md</span></header>
            <div class="md" data-testid="model-card">${model.card?.trim() ? renderMarkdown(model.card, { headingOffset: 2 })
              : html`<p class="muted">The card says nothing beyond its front matter.</p>`}</div>
          </section>
          ${filesPanel(model)}
        </div>
        <div class="side">
          <div data-run-slot></div>
          ${aboutPanel(model)}
          ${revisionsPanel(id, revisions, model.sha, revisionsError)}
        </div>
      </div>`;
    if (run?.sha !== model.sha) {
      run?.destroy();
      run = { sha: model.sha, ...mountRunPanel(model) };
    }
    el.querySelector('[data-run-slot]').replaceWith(run.element);
  }

  async function load() {
    const [m, r] = await Promise.allSettled([api.model(id, revision), api.modelRevisions(id)]);
    if (m.status === 'rejected') {
      const e = m.reason;
      el.innerHTML = e.code === 'model_not_found'
        ? html`${crumbs}<div class="empty" data-testid="model-missing"><h1>No model ${id}</h1>
            <p>Nobody published a model of that name here. <a href="#/models">See the models</a>.</p></div>`
        : e.code === 'revision_not_found'
          ? html`${crumbs}<div class="empty" data-testid="model-missing"><h1>${id} has no revision ${revision}</h1>
              <p>${e.message}. <a href="${modelHref(id)}">See its newest revision</a>.</p></div>`
          : html`${crumbs}${errorBox(e, `${id} could not be loaded.`)}`;
      return;
    }
    model = m.value;
    revisions = r.status === 'fulfilled' ? r.value : null;
    revisionsError = r.status === 'rejected' ? r.reason : null;
    render();
  }

  el.addEventListener('click', async (e) => {
    const button = e.target.closest('[data-copy]');
    if (!button) return;
    const copied = await copyText(button.dataset.copy);
    if (!copied) {
      // Nothing would copy: show the whole hash, selected, for the keyboard to copy.
      const sha = button.closest('td')?.querySelector('[data-sha]');
      if (sha) {
        sha.textContent = sha.dataset.sha;
        getSelection().selectAllChildren(sha);
      }
    }
    button.textContent = copied ? 'Copied' : 'Press Ctrl+C';
    setTimeout(() => { if (button.isConnected) button.textContent = 'Copy'; }, 2500);
  });

  el.innerHTML = html`${crumbs}<p class="muted loading">Loading ${id}…</p>`;
  load();
  const offResync = on('resync', load);
  return () => { offResync(); run?.destroy(); };
}

