// The dashboard: a hash router and its views.
//
//   #/            overview: live charts, jobs, workers, tasks
//   #/jobs        every job, filtered by state, newest first; signed in, also only the jobs
//                 this account submitted (?whose=mine) or its workers ran (?whose=my-workers)
//   #/jobs/ID     one job: state, progress (and a donor's result being checked), timings,
//                 billing, result or error, cancel
//   #/tasks       the tasks connected workers offer
//   #/tasks/NAME  a form for one task, built from its declared inputs and parameters
//   #/models      the models published to the hub: search, task, sort, pages (models.js)
//   #/models/OWNER/NAME  one model: its card, files and revisions; ?revision=ID for an older one
//   #/signin      sign up, or sign in with a token (account.js)
//   #/account     balance, ledger, API tokens, sign out (account.js)
//   #/donate      my workers: what they earned, their settings (donate.js)
//   #/donors      the leaderboard of donors (donate.js)
//   #/admin       the books, grants, the market settings; for a token with admin (admin.js)
//
// The header shows who this browser is signed in as (session.js) and their balance; the
// navigation offers "My workers" once signed in and "Admin" to a token with the admin scope.
// A view is a function (element, params) → cleanup. Views render with `html` (which escapes
// everything from the daemon) and follow the page's one event stream through `on`.

import { accountPage, signInPage } from './account.js';
import { adminPage } from './admin.js';
import {
  api, connectEvents, debounced, on, startSampling, stats, streamState, throttled, TERMINAL, HISTORY_MS, SAMPLE_MS,
} from './api.js';
import { areaChart, niceCeil } from './charts.js';
import { donatePage, donorsPage } from './donate.js';
import { mountTaskForm } from './editors.js';
import {
  esc, fmtBytes, fmtCredits, fmtDateTime, fmtDuration, fmtInt, fmtPrice, fmtRate, html, plural, refreshRelativeTimes, serverNow, timeAgo, toMs,
} from './format.js';
import { modelHref, modelPage, modelsPage } from './models.js';
import { hasScope, onSession, refreshAccount, session } from './session.js';
import { tensorView } from './tensor.js';

const view = document.getElementById('view');
const STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
// The jobs page's second filter: [value of ?whose=, label, the api.jobs option it sets, when empty]
const WHOSE = [
  ['', 'All jobs', null, null],
  ['mine', 'Mine', 'account', 'You have not submitted a job yet.'],
  ['my-workers', 'Run by my workers', 'paidTo', 'Your workers have not finished a job yet.'],
];

// ------------------------------------------------------------------ small helpers

function badge(state) {
  return html`<span class="badge state-${state}" data-testid="job-state">${state}</span>`;
}

// The progress bar every job shows: a share of the bar while running (striped while the
// plugin has not reported any), full and coloured once finished.
function progressBar(job, label = true) {
  const state = job.state;
  const p = Math.max(0, Math.min(1, Number(job.progress) || 0));
  const value = state === 'succeeded' ? 1 : state === 'queued' ? 0 : p;
  const indeterminate = state === 'running' && p === 0;
  const percent = `${Math.round(value * 100)}%`;
  const text = state === 'succeeded' ? 'done' : state === 'queued' ? 'waiting' : state === 'running' || value > 0 ? percent : '';
  return html`<div class="progress state-${state}${indeterminate ? ' indeterminate' : ''}" role="progressbar"
      aria-label="progress of job ${job.id}" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${Math.round(value * 100)}"
      data-testid="job-progress"><span style="width:${(value * 100).toFixed(1)}%"></span></div>
    ${label ? html`<span class="progress-text">${text}</span>` : ''}`;
}

function jobDuration(job) {
  const started = toMs(job.started_at);
  if (TERMINAL.has(job.state)) {
    if (job.timings_ms?.run != null) return fmtDuration(job.timings_ms.run);
    const finished = toMs(job.finished_at);
    return Number.isFinite(started) && Number.isFinite(finished) ? fmtDuration(finished - started) : '–';
  }
  if (job.state === 'running' && Number.isFinite(started)) {
    return html`<span data-elapsed-from="${started}">${fmtDuration(Math.max(0, serverNow() - started))}</span>`;
  }
  return html`<span class="muted">–</span>`;
}

function refreshElapsed(root = document) {
  for (const el of root.querySelectorAll('[data-elapsed-from]')) {
    el.textContent = fmtDuration(Math.max(0, serverNow() - Number(el.dataset.elapsedFrom)));
  }
}

// The worker whose result a trusted worker is running again, while the daemon checks it
// (broker.cpp's live message), else null.
function checkedWorker(job) {
  if (job.state !== 'running') return null;
  return /^checking the result of worker '(.*)' on a trusted worker$/.exec(job.message ?? '')?.[1] ?? null;
}

// Merges a job or progress event ({id, state, progress, message, worker, attempt}) into a job.
function applyEvent(job, e) {
  const wasRunning = job.state === 'running';
  job.state = e.state ?? job.state;
  if (typeof e.progress === 'number') job.progress = e.progress;
  if (e.message !== undefined) job.message = e.message;
  if (e.worker) job.worker = e.worker;
  if (typeof e.attempt === 'number' && e.attempt > 0) job.attempt = e.attempt;
  if (job.state === 'running' && !wasRunning && !job.started_at) job.started_at = new Date(serverNow()).toISOString();
  // Until the list reloads the job, its duration runs to the event's arrival.
  if (TERMINAL.has(job.state) && !job.finished_at) job.finished_at = new Date(serverNow()).toISOString();
}

// What a payment out of escrow is, in words.
const PAYMENT_KINDS = { charge: 'paid to the donor', fee: 'the operator’s fee', refund: 'back to the payer' };

// Where a settled job's credits went: every movement out of escrow for it, in order.
function paymentsTable(payments) {
  return html`<h3 class="sub-head">Where the credits went</h3>
    <div class="table-wrap"><table class="data payments" data-testid="billing-payments">
    <thead><tr><th>Kind</th><th>To</th><th class="num">Credits</th></tr></thead>
    <tbody>${payments.map((p) => html`<tr data-testid="payment" data-kind="${p.kind}">
      <td data-label="Kind"><span class="chip">${p.kind}</span> <span class="muted small">${PAYMENT_KINDS[p.kind] ?? ''}</span></td>
      <td data-label="To" data-testid="payment-to">${p.to}</td>
      <td data-label="Credits" class="num amount" data-testid="payment-amount">${fmtCredits(p.amount)}</td>
    </tr>`)}</tbody></table></div>`;
}

// The job's bill: while it runs, what it reserved; once it ended, what it cost and where the
// credits went. Amounts are micro-credits; prices per million work units. A job with replicas
// reserves each one's cost and pays each donor whose result agreed.
function billingPanel(job) {
  const b = job.billing;
  if (!b) return '';
  const replicas = b.replicas > 1 ? b.replicas : 0;
  const units = html`${plural(b.units, 'work unit')}${replicas ? ` on each of ${replicas} replicas` : ''}`;
  const free = b.bid === 0;
  const payments = b.payments ?? [];
  const paid = [...new Set(payments.filter((p) => p.kind === 'charge').map((p) => p.to))];
  let summary;
  let facts = '';
  if (!b.settled) {
    summary = free ? html`A free job: nothing is reserved (${units}).`
      : html`Reserved <strong>${fmtCredits(b.reserved)} credits</strong> (${units}, bid ${fmtPrice(b.bid)}) until it ends: it pays the ask
        of ${replicas ? 'each donor’s worker that runs a replica' : 'the worker that runs it'} and gets the rest back.`;
  } else if (free) {
    summary = html`A free job: nothing was reserved or charged (${units}).`;
  } else {
    summary = b.charged > 0
      ? replicas
        ? html`Charged <strong>${fmtCredits(b.charged)} credits</strong> for ${units}: ${plural(paid.length || 1, 'donor')} paid.`
        : html`Charged <strong>${fmtCredits(b.charged)} credits</strong> for ${units} at ${fmtPrice(b.price)}.`
      : html`Nothing was charged${job.worker ? '' : ': it never ran'}; the reserve went back.`;
    facts = html`<dl class="facts grid">
      <div><dt>Charged</dt><dd data-testid="billing-charged">${fmtCredits(b.charged)} <span class="unit">credits</span></dd></div>
      <div><dt>Fee</dt><dd data-testid="billing-fee">${fmtCredits(b.fee)} <span class="unit">credits</span></dd></div>
      <div><dt>Refunded</dt><dd data-testid="billing-refunded">${fmtCredits(b.refunded)} <span class="unit">credits</span></dd></div>
      <div><dt>Paid to</dt><dd data-testid="billing-paid-to">${paid.length ? paid.join(', ') : b.paid_to ?? html`<span class="muted">nobody</span>`}</dd></div>
      <div><dt>Price</dt><dd data-testid="billing-price">${replicas && b.charged > 0 ? html`each donor’s own ask <span class="unit">below</span>`
        : b.charged > 0 || job.worker ? fmtPrice(b.price) : html`<span class="muted">–</span>`}</dd></div>
      <div><dt>Reserved</dt><dd>${fmtCredits(b.reserved)} <span class="unit">credits at a bid of ${fmtPrice(b.bid)}</span></dd></div>
      ${replicas ? html`<div><dt>Replicas</dt><dd data-testid="billing-replicas">${replicas} <span class="unit">donors’ workers</span></dd></div>` : ''}
    </dl>
    ${payments.length ? paymentsTable(payments) : ''}`;
  }
  return html`<section class="panel billing" data-testid="job-billing" data-settled="${b.settled ? 'true' : 'false'}" aria-labelledby="h-billing">
    <header class="panel-head"><h2 id="h-billing">Billing</h2><span class="muted small" data-testid="billing-state">${b.settled ? 'settled' : 'reserved until the job ends'}</span></header>
    <p class="billing-summary" data-testid="billing-summary">${summary}</p>
    ${facts}
  </section>`;
}

function errorBox(e, what) {
  return html`<div class="notice error" role="alert"><strong>${what}</strong> ${e.message}</div>`;
}

// A model job's model ("owner/name@revision"): {id, revision}, else null.
function modelOf(job) {
  const m = /^([^@]+)@?(.*)$/.exec(job.model ?? '');
  return m ? { id: m[1], revision: m[2] } : null;
}

// ------------------------------------------------------------------ the live job list
function jobRow(job) {
  const sub = [job.worker ? `on ${job.worker}` : null, job.attempt > 1 ? `attempt ${job.attempt} of ${job.max_attempts}` : null]
    .filter(Boolean).join(' · ');
  // The plugin's last word while a job runs, its error once it failed.
  const checking = checkedWorker(job);
  const note = job.state === 'failed' ? job.error?.message : TERMINAL.has(job.state) ? ''
    : checking !== null ? `Checking ${checking}’s result on a trusted worker…` : job.message;
  return html`<li><a class="job-row" href="#/jobs/${job.id}" data-testid="job-row" data-job-id="${job.id}" data-state="${job.state}">
    <span class="job-id">#${job.id}</span>
    <span class="job-task"><code>${job.task ?? '…'}</code>${sub ? html`<small>${sub}</small>` : ''}</span>
    <span class="job-state">${badge(job.state)}</span>
    <span class="job-progress">${progressBar(job)}${note ? html`<small class="job-note" title="${note}">${note}</small>` : ''}</span>
    <span class="job-when">${timeAgo(job.created_at)}</span>
    <span class="job-dur">${jobDuration(job)}</span>
  </a></li>`;
}

// `account` / `paidTo`: only the jobs that account submitted / its workers ran.
function mountJobList(el, { limit = 50, state = '', account = '', paidTo = '', paged = false, emptyHint }) {
  let jobs = [];
  let nextCursor = null;
  let error = null;
  let loaded = false;
  let loadingMore = false;
  let extra = [];  // pages loaded with "show more"

  const render = throttled(() => {
    const all = jobs.concat(extra);
    if (error && !all.length) {
      el.innerHTML = errorBox(error, 'Jobs could not be loaded.');
      return;
    }
    if (!loaded) {
      el.innerHTML = html`<p class="muted loading">Loading jobs…</p>`;
      return;
    }
    if (!all.length) {
      el.innerHTML = state
        ? html`<div class="empty" data-testid="jobs-empty"><p>${account ? `None of your jobs is ${state}.`
          : paidTo ? `Your workers ran no job that is ${state}.` : `No ${state} jobs.`}</p></div>`
        : html`<div class="empty" data-testid="jobs-empty">${emptyHint}</div>`;
      return;
    }
    el.innerHTML = html`<div class="job-head-row" aria-hidden="true"><span>Job</span><span>Task</span><span>State</span><span>Progress</span><span>Submitted</span><span>Ran for</span></div>
      <ul class="job-list" data-testid="job-list">${all.map(jobRow)}</ul>
      ${paged && nextCursor ? html`<div class="more"><button type="button" class="secondary" data-more ${loadingMore ? 'disabled' : ''}>${loadingMore ? 'Loading…' : 'Show older jobs'}</button></div>` : ''}`;
  });

  let eventsSeen = 0;
  async function load() {
    const seenAtStart = eventsSeen;
    try {
      const page = await api.jobs({ state, limit, account, paidTo });
      jobs = page.jobs;
      if (!extra.length) nextCursor = page.next_cursor;
      const shown = new Set(jobs.map((j) => j.id));
      extra = extra.filter((j) => !shown.has(j.id) && (!jobs.length || j.id < jobs[jobs.length - 1].id));
      error = null;
    } catch (e) {
      error = e;
    }
    loaded = true;
    render();
    if (eventsSeen !== seenAtStart) reload();  // the answer may predate them
  }
  const reload = debounced(load, 250, 1000);

  async function more() {
    if (!nextCursor || loadingMore) return;
    loadingMore = true;
    render();
    try {
      const page = await api.jobs({ state, limit, account, paidTo, cursor: nextCursor });
      extra = extra.concat(page.jobs);
      nextCursor = page.next_cursor;
    } catch (e) {
      error = e;
    }
    loadingMore = false;
    render();
  }
  el.addEventListener('click', (e) => { if (e.target.closest('[data-more]')) more(); });

  const offJob = on('job', (e) => {
    eventsSeen++;
    const job = jobs.find((j) => j.id === e.id) ?? extra.find((j) => j.id === e.id);
    if (job) {
      applyEvent(job, e);
      if (state && job.state !== state) reload();
      if (TERMINAL.has(job.state)) reload();  // for timings and the error message
      render();
    } else if (!state || e.state === state) {
      reload();  // a new job: the list has its task and times
    }
  });
  const offResync = on('resync', reload);
  load();
  render();
  return () => { offJob(); offResync(); };
}

// ------------------------------------------------------------------ workers and tasks
function workerCard(w) {
  const cpu = w.devices?.cpu;
  const gpus = w.devices?.gpus ?? [];
  const backends = Object.keys(w.slots ?? {});
  const prices = Object.entries(w.prices ?? {});
  return html`<article class="worker" data-testid="worker" data-worker-id="${w.id}">
    <header>
      <h3><span class="dot ok" aria-hidden="true"></span>${w.name}</h3>
      <span class="muted small">${w.hostname && w.hostname !== w.name ? `${w.hostname} · ` : ''}connected ${timeAgo(w.connected_at)}</span>
    </header>
    <dl class="facts compact">
      <div><dt>CPU</dt><dd data-testid="worker-cpu">${cpu ? `${cpu.model || 'CPU'} · ${plural(cpu.cores, 'core')} · ${fmtBytes(cpu.memory_bytes)}` : 'unknown'}</dd></div>
      <div><dt>GPU</dt><dd data-testid="worker-gpus">${gpus.length ? gpus.map((g, i) => html`${i ? html`<br>` : ''}${g.name}${g.memory_bytes ? ` · ${fmtBytes(g.memory_bytes)}` : ''}`) : html`<span class="muted">none</span>`}</dd></div>
      <div><dt>Slots</dt><dd class="slots">${backends.length ? backends.map((b) => {
        const total = w.slots[b] ?? 0;
        const busy = w.busy?.[b] ?? 0;
        return html`<span class="slot-meter" title="${busy} of ${total} ${b} slots busy"><span class="slot-name">${b}</span>
          <span class="slot-bar" aria-hidden="true">${Array.from({ length: Math.min(total, 16) }, (_, i) => html`<i class="${i < busy ? 'busy' : ''}"></i>`)}</span>
          <span data-testid="worker-busy">${busy} / ${total} busy</span></span>`;
      }) : html`<span class="muted">none</span>`}</dd></div>
      <div><dt>Price</dt><dd class="prices" data-testid="worker-prices">${prices.map(([b, ask]) =>
        html`<span class="price-ask" title="${ask ? `asks ${fmtCredits(ask)} credits per million work units of a ${b} job` : `runs ${b} jobs for nothing`}"><span class="slot-name">${b}</span> ${fmtPrice(ask)}</span>`)}
        <span class="${w.accepts_free ? 'muted' : 'text-queued'} small" data-testid="worker-free">${w.accepts_free ? 'takes free jobs' : 'no free jobs'}</span></dd></div>
      <div><dt>Owner</dt><dd data-testid="worker-owner">${w.owner ?? html`<span class="muted">nobody: no donor token</span>`}</dd></div>
      <div><dt>Jobs</dt><dd>${fmtInt(w.jobs_done)} done${w.jobs_failed ? html` · <span class="text-failed">${fmtInt(w.jobs_failed)} failed</span>` : ''}</dd></div>
      ${w.checks?.passed || w.checks?.failed ? html`<div><dt>Checks</dt><dd data-testid="worker-checks"
        title="its results run again on a trusted worker and compared">${fmtInt(w.checks.passed)} passed, <span class="${w.checks.failed ? 'text-failed' : ''}">${fmtInt(w.checks.failed)} failed</span></dd></div>` : ''}
      <div><dt>Plugins</dt><dd class="chips" data-testid="worker-plugins">${(w.plugins ?? []).map((p) =>
        html`<span class="chip${p.tasks?.length ? '' : ' dim'}" title="${p.tasks?.length ? p.tasks.join(', ') : 'no task on this machine'}">${p.name} <small>${p.version}</small></span>`)}</dd></div>
    </dl>
    ${(w.load_errors ?? []).length ? html`<div class="notice warn small"><strong>Plugins not loaded:</strong><ul class="plain">${w.load_errors.map((e) => html`<li>${e}</li>`)}</ul></div>` : ''}
  </article>`;
}

// The endpoint workers connect to, for the "start a worker" hint; read once per page.
let workersEndpoint = 'tcp://127.0.0.1:5555';
const healthRead = api.health().then((h) => { if (h?.workers_endpoint) workersEndpoint = h.workers_endpoint; }).catch(() => {});

function noWorkers() {
  return html`<div class="empty" data-testid="workers-empty">
    <p><strong>No worker connected.</strong> Lend this machine's CPU (and GPUs) by starting a worker; it appears here within a second:</p>
    <pre><code>potluck-worker --daemon ${workersEndpoint} --token-file TOKEN_FILE</code></pre>
    <p class="muted small">TOKEN_FILE holds an API token with the <code>donate</code> scope: make one on your <a href="#/account">account page</a>, or use <code>var/admin-token</code> on the daemon's machine. On another machine, run potluckd with <code>--public</code> and point the worker at this host with the daemon's public key: <code>--server-key-file worker-link.pub</code> (potluckd prints it and keeps it in its data folder).</p>
  </div>`;
}

function taskCard(t, compact = false) {
  const backends = (t.backends ?? []).map((b) => b.backend);
  const plugins = [...new Set((t.backends ?? []).map((b) => `${b.plugin} ${b.plugin_version}`))];
  const io = (list) => (list ?? []).length
    ? (list ?? []).map((x, i) => html`${i ? ', ' : ''}<code>${x.name}</code> <span class="spec">${x.spec}</span>`)
    : html`<span class="muted">none</span>`;
  const offline = !t.workers;
  return html`<article class="task${compact ? ' compact' : ''}${offline ? ' offline-task' : ''}" data-testid="task" data-task="${t.name}">
    <div class="task-main">
      <h3><a href="#/tasks/${encodeURIComponent(t.name)}" data-testid="task-link-${t.name}"><code>${t.name}</code></a></h3>
      <p>${t.description || html`<span class="muted">No description.</span>`}</p>
      ${compact ? '' : html`<p class="io small"><span class="muted">in</span> ${io(t.inputs)} <span class="arrow" aria-hidden="true">→</span> <span class="muted">out</span> ${io(t.outputs)}</p>`}
      <p class="small muted">${backends.map((b) => html`<span class="chip backend">${b}</span> `)}${plugins.join(', ')} ·
        ${offline ? html`<span class="text-queued" data-testid="task-offline">no worker online</span>` : plural(t.workers, 'worker')}</p>
    </div>
    <a class="button secondary" href="#/tasks/${encodeURIComponent(t.name)}" aria-label="Run ${t.name}">Run</a>
  </article>`;
}

function noTasks() {
  return html`<div class="empty" data-testid="tasks-empty"><p><strong>No tasks yet.</strong> Tasks come from the plugins of
    connected workers: start a worker and its tasks appear here.</p></div>`;
}

// Keeps workers and tasks fresh: on worker events, after jobs finish (busy slots and jobs
// done change), and every few seconds for "last seen".
function followCatalog(onWorkers, onTasks) {
  let lastWorkers = '';
  let lastTasks = '';
  const load = async () => {
    try {
      const [workers, tasks] = await Promise.all([api.workers(), onTasks ? api.tasks() : null, healthRead]);
      const w = JSON.stringify(workers);
      if (w !== lastWorkers) { lastWorkers = w; onWorkers(workers, null); }
      if (onTasks) {
        const t = JSON.stringify(tasks);
        if (t !== lastTasks) { lastTasks = t; onTasks(tasks, null); }
      }
    } catch (e) {
      lastWorkers = lastTasks = '';
      onWorkers(null, e);
      onTasks?.(null, e);
    }
  };
  const soon = debounced(load, 150, 600);
  const offs = [on('worker', soon), on('resync', soon), on('job', (e) => { if (e.state !== 'queued') soon(); })];
  const timer = setInterval(load, 5000);
  load();
  return () => { offs.forEach((f) => f()); clearInterval(timer); };
}

// ------------------------------------------------------------------ overview
function chartCard(key, title, value, sub, chart, windowMs) {
  return html`<article class="chart-card" data-testid="chart-${key}">
    <header><h3>${title}</h3><span class="chart-value" data-testid="value-${key}">${value}</span></header>
    <p class="chart-sub">${sub}</p>
    ${chart}
    <div class="chart-axis" aria-hidden="true"><span>${Math.round(windowMs / 60000)} min ago</span><span>now</span></div>
  </article>`;
}

function renderCharts(el) {
  const s = stats.latest;
  if (!s) {
    el.innerHTML = stats.error ? errorBox(stats.error, 'Statistics are unavailable.') : html`<p class="muted loading">Reading statistics…</p>`;
    return;
  }
  const now = serverNow();
  // The last five minutes; less while the page has not been open that long, so that a fresh
  // page does not show four empty minutes.
  const since = stats.samples.length ? stats.samples[0].t : now;
  const windowMs = Math.min(HISTORY_MS, Math.max(60_000, Math.ceil((now - since) / 60_000) * 60_000));
  const opts = { now, windowMs, maxHoleMs: SAMPLE_MS * 3 };
  const span = `${Math.round(windowMs / 60_000)} min`;
  const peak = (key) => stats.samples.reduce((m, p) => (Number.isFinite(p[key]) ? Math.max(m, p[key]) : m), 0);
  const ratePeak = peak('rate');
  const queuePeak = peak('queue');
  const slotsTop = Math.max(1, ...stats.samples.map((p) => p.slots || 0));
  el.innerHTML = html`
    ${chartCard('rate', 'Jobs finished', fmtRate(s.rate ?? 0), `per second · peak ${fmtRate(ratePeak)}`,
      areaChart(stats.samples, 'rate', { ...opts, top: niceCeil(Math.max(ratePeak, 1)), label: `Jobs finished per second over the last ${span}; now ${fmtRate(s.rate ?? 0)}` }), windowMs)}
    ${chartCard('queue', 'Queue depth', fmtInt(s.queue_depth), `jobs waiting · peak ${fmtInt(queuePeak)}`,
      areaChart(stats.samples, 'queue', { ...opts, top: niceCeil(Math.max(queuePeak, 1)), label: `Queued jobs over the last ${span}; now ${fmtInt(s.queue_depth)}` }), windowMs)}
    ${chartCard('busy', 'Busy slots', html`${fmtInt(s.slots_busy)}<small> / ${fmtInt(s.slots_total)}</small>`,
      `${plural(s.jobs_running, 'job')} running on ${plural(s.workers, 'worker')}`,
      areaChart(stats.samples, 'busy', { ...opts, top: slotsTop, label: `Busy slots over the last ${span}; now ${s.slots_busy} of ${s.slots_total}` }), windowMs)}`;
}

function renderTotals(el) {
  const s = stats.latest;
  if (!s) { el.innerHTML = ''; return; }
  const item = (n, label, cls = '') => html`<span class="total ${cls}"><b>${fmtInt(n)}</b> ${label}</span>`;
  el.innerHTML = html`${item(s.jobs_submitted, 'submitted')}${item(s.jobs_succeeded, 'succeeded', 'text-succeeded')}${item(s.jobs_failed, 'failed', s.jobs_failed ? 'text-failed' : '')}${item(s.jobs_cancelled, 'cancelled')}
    <span class="total muted">since the daemon started ${fmtDuration(s.uptime_s * 1000)} ago</span>`;
}

function overview(el) {
  document.title = 'Potluck';
  el.innerHTML = html`
    <section class="charts" aria-label="Live statistics" data-charts></section>
    <p class="totals" data-totals></p>
    <div class="columns">
      <section class="panel" aria-labelledby="h-jobs">
        <header class="panel-head"><h2 id="h-jobs">Live jobs</h2><a href="#/jobs">All jobs →</a></header>
        <div data-jobs></div>
      </section>
      <div class="side">
        <section class="panel" aria-labelledby="h-workers">
          <header class="panel-head"><h2 id="h-workers">Workers</h2><span class="muted" data-worker-count></span></header>
          <div data-workers class="workers"><p class="muted loading">Loading workers…</p></div>
        </section>
        <section class="panel" aria-labelledby="h-tasks">
          <header class="panel-head"><h2 id="h-tasks">Tasks</h2><a href="#/tasks">Run a task →</a></header>
          <div data-tasks class="tasks"><p class="muted loading">Loading tasks…</p></div>
        </section>
      </div>
    </div>`;
  const charts = el.querySelector('[data-charts]');
  const totals = el.querySelector('[data-totals]');
  const drawStats = () => { renderCharts(charts); renderTotals(totals); };
  drawStats();
  const offStats = on('stats', drawStats);
  const stopJobs = mountJobList(el.querySelector('[data-jobs]'), {
    limit: 12,
    emptyHint: html`<p><strong>No jobs yet.</strong> Pick a task under <a href="#/tasks">Tasks</a> and submit one, or from a shell:</p>
      <pre><code>curl -X POST ${location.origin}/api/v1/jobs -H "Authorization: Bearer $POTLUCK_TOKEN" -d '{"task": "linalg.matmul", "inputs": {
  "a": {"dtype": "f32", "data": [[1, 2], [3, 4]]},
  "b": {"dtype": "f32", "data": [[5, 6], [7, 8]]}}}'</code></pre>`,
  });
  const workersEl = el.querySelector('[data-workers]');
  const tasksEl = el.querySelector('[data-tasks]');
  const countEl = el.querySelector('[data-worker-count]');
  const stopCatalog = followCatalog((workers, e) => {
    if (e) { workersEl.innerHTML = errorBox(e, 'Workers could not be loaded.'); return; }
    countEl.textContent = workers.length ? `${plural(workers.length, 'connected', 'connected')}` : '';
    workersEl.innerHTML = workers.length ? html`${workers.map(workerCard)}` : noWorkers();
  }, (tasks, e) => {
    if (e) { tasksEl.innerHTML = errorBox(e, 'Tasks could not be loaded.'); return; }
    tasksEl.innerHTML = tasks.length ? html`${tasks.map((t) => taskCard(t, true))}` : noTasks();
  });
  return () => { offStats(); stopJobs(); stopCatalog(); };
}

// ------------------------------------------------------------------ jobs
function jobsHref(state, whose) {
  const q = new URLSearchParams();
  if (state) q.set('state', state);
  if (whose) q.set('whose', whose);
  const text = String(q);
  return `#/jobs${text ? `?${text}` : ''}`;
}

function jobsPage(el, params, query) {
  const state = STATES.includes(query.get('state')) ? query.get('state') : '';
  const [whose, , option, emptyText] = WHOSE.find(([w]) => w && w === query.get('whose')) ?? WHOSE[0];
  document.title = 'Jobs · Potluck';
  el.innerHTML = html`<header class="page-head"><h1>Jobs</h1>
      <nav class="filters" aria-label="Whose jobs" data-testid="jobs-whose" hidden>
        ${WHOSE.map(([w, label]) => html`<a href="${jobsHref(state, w)}" class="${w === whose ? 'active' : ''}" ${w === whose ? html`aria-current="page"` : ''}
          data-whose="${w || 'all'}">${label}</a>`)}
      </nav>
      <nav class="filters" aria-label="Filter by state">
        <a href="${jobsHref('', whose)}" class="${state ? '' : 'active'}" ${state ? '' : html`aria-current="page"`}>all</a>
        ${STATES.map((s) => html`<a href="${jobsHref(s, whose)}" class="${s === state ? 'active' : ''}" ${s === state ? html`aria-current="page"` : ''}>${s}</a>`)}
      </nav></header>
    <section class="panel"><div data-jobs></div></section>`;
  const whoseNav = el.querySelector('[data-testid="jobs-whose"]');
  const box = el.querySelector('[data-jobs]');
  let stopList = null;
  let shown = null;  // 'all', 'of:NAME', or what is shown instead of a list: 'wait', 'signed-out'

  // The list follows the session: "Mine" is the signed-in account's, and needs one.
  const follow = () => {
    whoseNav.hidden = session.state !== 'signed-in';
    const name = session.state === 'signed-in' ? session.account?.name : null;
    const wanted = !whose ? 'all' : name ? `of:${name}` : session.state === 'signed-out' ? 'signed-out' : 'wait';
    if (wanted === shown) return;  // a new balance, not a new account
    stopList?.();
    stopList = null;
    shown = wanted;
    if (!whose || name) {
      // A fresh element per list: an answer the last list still awaits renders into its own.
      const list = document.createElement('div');
      box.replaceChildren(list);
      stopList = mountJobList(list, {
        limit: 50,
        state,
        ...(option ? { [option]: name } : {}),
        paged: true,
        emptyHint: emptyText ? html`<p><strong>${emptyText}</strong> <a href="${jobsHref(state, '')}">See all jobs</a>.</p>`
          : html`<p><strong>No jobs yet.</strong> <a href="#/tasks">Pick a task</a> and submit one.</p>`,
      });
    } else {
      box.innerHTML = wanted === 'signed-out'
        ? html`<div class="empty" data-testid="jobs-signin"><p><a href="#/signin">Sign in</a> to see
            ${whose === 'mine' ? 'the jobs you submitted' : 'the jobs your workers ran'}, or see <a href="${jobsHref(state, '')}">all jobs</a>.</p></div>`
        : html`<p class="muted loading">Loading jobs…</p>`;
    }
  };
  const offSession = onSession(follow);
  follow();
  return () => { offSession(); stopList?.(); };
}

function jobPage(el, { id }) {
  document.title = `Job #${id} · Potluck`;
  let job = null;
  let cancelling = false;
  let cancelError = null;

  const render = throttled(() => {
    if (!job) return;
    const live = !TERMINAL.has(job.state);
    const created = toMs(job.created_at);
    const finished = toMs(job.finished_at);
    const outputs = Object.entries(job.result?.outputs ?? {});
    const queuedFor = job.timings_ms?.queued ?? (job.state === 'queued' ? null : undefined);
    const checking = checkedWorker(job);
    el.innerHTML = html`
      <nav class="crumbs" aria-label="Breadcrumb"><a href="#/jobs">Jobs</a> <span aria-hidden="true">/</span> #${job.id}</nav>
      <header class="job-page-head">
        <div>
          <h1>Job #${job.id} <code class="task-name">${job.task}</code></h1>
          <p class="muted">Submitted ${timeAgo(job.created_at)}${Number.isFinite(created) ? html` <span class="small">(${fmtDateTime(created)})</span>` : ''}</p>
        </div>
        <div class="head-actions">
          ${badge(job.state)}
          ${!live ? '' : session.state === 'signed-out' ? html`<a class="button secondary" href="#/signin" data-testid="cancel-signin">Sign in to cancel</a>`
            : html`<button type="button" class="danger" data-cancel data-testid="cancel-job" ${cancelling ? 'disabled' : ''}>${cancelling ? 'Cancelling…' : 'Cancel job'}</button>`}
        </div>
      </header>
      ${cancelError ? html`<div class="notice error" role="alert">${cancelError}</div>` : ''}
      <section class="panel progress-panel">
        <div class="progress-line">${progressBar(job)}</div>
        ${checking !== null ? html`<div class="notice checking" data-testid="job-message" data-checking="${checking}">
            <strong>Checking the result of worker ${checking}.</strong> It finished the job; one of the operator’s trusted workers is
            running it again, and the job ends once the two results are compared. If they disagree, the trusted worker’s result is the
            one you get, and the donor is not paid.</div>`
          : html`<p class="progress-message" data-testid="job-message">${job.message || (job.state === 'queued' ? 'Waiting for a free slot on a worker with this task…'
          : job.state === 'running' ? 'Running…' : job.state === 'succeeded' ? 'Finished.' : job.state === 'cancelled' ? 'Stopped.' : 'Stopped with an error.')}</p>`}
        <dl class="facts grid">
          <div><dt>Worker</dt><dd data-testid="job-worker">${job.worker ?? html`<span class="muted">not yet</span>`}</dd></div>
          <div><dt>Attempt</dt><dd>${job.attempt ? `${job.attempt} of ${job.max_attempts}` : html`<span class="muted">not started</span>`}</dd></div>
          <div><dt>Backend</dt><dd>${job.backend ?? html`<span class="muted">any</span>`}</dd></div>
          <div><dt>Waited</dt><dd>${queuedFor != null ? fmtDuration(queuedFor) : html`<span class="muted">–</span>`}</dd></div>
          <div><dt>Ran for</dt><dd data-testid="job-runtime">${jobDuration(job)}</dd></div>
          <div><dt>Finished</dt><dd>${Number.isFinite(finished) ? timeAgo(finished) : html`<span class="muted">–</span>`}</dd></div>
        </dl>
      </section>
      ${job.state === 'failed' || (job.state === 'cancelled' && job.error) ? html`<section class="notice ${job.state === 'failed' ? 'error' : 'muted-box'}" data-testid="job-error" role="status">
        <h2>${job.state === 'failed' ? 'The job failed' : 'The job was cancelled'}</h2>
        <p class="error-message" data-testid="job-error-message">${job.error?.message || (loading ? 'Loading the message…' : 'No message was given.')}</p>
        ${job.error?.code ? html`<p class="small muted">code <code>${job.error.code}</code></p>` : ''}
      </section>` : ''}
      ${job.state === 'succeeded' ? html`<section class="panel" data-testid="job-result"><header class="panel-head"><h2>Result</h2>
          <a href="/api/v1/jobs/${job.id}" target="_blank" rel="noopener">raw JSON</a></header>
        ${!job.result ? html`<p class="muted loading">Loading the result…</p>`
          : outputs.length ? outputs.map(([name, t]) => tensorView(name, t)) : html`<p class="muted">This task returns no outputs.</p>`}
      </section>` : ''}
      ${billingPanel(job)}
      <section class="panel">
        <header class="panel-head"><h2>Request</h2>${modelOf(job)
          ? html`<a href="${modelHref(modelOf(job).id, modelOf(job).revision)}" data-testid="job-model-link">Run ${modelOf(job).id} again →</a>`
          : html`<a href="#/tasks/${encodeURIComponent(job.task)}">Run ${job.task} again →</a>`}</header>
        <dl class="facts grid">
          ${modelOf(job) ? html`<div class="wide"><dt>Model</dt><dd data-testid="job-model"><a href="${modelHref(modelOf(job).id, modelOf(job).revision)}">${modelOf(job).id}</a>
            ${modelOf(job).revision ? html`<span class="shape">@${modelOf(job).revision.slice(0, 10)}</span>` : ''}</dd></div>` : ''}
          <div><dt>Inputs</dt><dd>${(job.inputs ?? []).length ? job.inputs.map((t, i) => html`${i ? html`<br>` : ''}<code>${t.name}</code> <span class="shape">${t.dtype} ${(t.shape ?? []).map(fmtInt).join(' × ') || 'scalar'}</span>`) : html`<span class="muted">none</span>`}</dd></div>
          <div class="wide"><dt>Parameters</dt><dd>${job.params && Object.keys(job.params).length ? html`<code class="wrap">${JSON.stringify(job.params)}</code>` : html`<span class="muted">none</span>`}</dd></div>
        </dl>
      </section>`;
  });

  // One request at a time; an event that arrives meanwhile asks for one more, so a state
  // change that happens while a (now stale) answer is on its way is never lost.
  let loading = false;
  let again = false;
  async function load() {
    if (loading) { again = true; return; }
    loading = true;
    again = false;
    try {
      job = await api.job(id);
      render();
    } catch (e) {
      el.innerHTML = e.status === 404
        ? html`<div class="empty"><h1>Job #${id} does not exist</h1><p>It may belong to another daemon. <a href="#/jobs">See all jobs</a>.</p></div>`
        : errorBox(e, `Job #${id} could not be loaded.`);
    }
    loading = false;
    if (again) load();
  }

  el.addEventListener('click', async (e) => {
    if (!e.target.closest('[data-cancel]') || cancelling) return;
    cancelling = true;
    cancelError = null;
    render();
    try {
      const r = await api.cancel(id);
      if (job && r?.state) job.state = r.state;
      load();
    } catch (err) {
      cancelError = err.message;
      load();
    }
    cancelling = false;
    render();
  });

  const offJob = on('job', (e) => {
    if (String(e.id) !== String(id)) return;
    if (loading) { again = true; return; }
    if (!job) return;
    applyEvent(job, e);
    render();
    if (TERMINAL.has(e.state)) load();  // the result, the error and the timings
  });
  const offResync = on('resync', load);
  const offSession = onSession(render);
  el.innerHTML = html`<p class="muted loading">Loading job #${id}…</p>`;
  load();
  return () => { offJob(); offResync(); offSession(); };
}

// ------------------------------------------------------------------ tasks
function tasksPage(el) {
  document.title = 'Tasks · Potluck';
  el.innerHTML = html`<header class="page-head"><h1>Tasks</h1><p class="muted">What the connected workers can run. Pick one to fill in its inputs and submit a job.</p></header>
    <div class="task-grid" data-tasks><p class="muted loading">Loading tasks…</p></div>`;
  const tasksEl = el.querySelector('[data-tasks]');
  return followCatalog(() => {}, (tasks, e) => {
    if (e) { tasksEl.innerHTML = errorBox(e, 'Tasks could not be loaded.'); return; }
    tasksEl.innerHTML = tasks.length ? html`${tasks.map((t) => taskCard(t))}` : noTasks();
  });
}

function taskPage(el, { name }) {
  document.title = `${name} · Potluck`;
  let mounted = false;
  let stopForm = null;
  el.innerHTML = html`<nav class="crumbs" aria-label="Breadcrumb"><a href="#/tasks">Tasks</a> <span aria-hidden="true">/</span> ${name}</nav>
    <div data-task><p class="muted loading">Loading ${name}…</p></div>`;
  const body = el.querySelector('[data-task]');
  const stop = followCatalog(() => {}, (tasks, e) => {
    if (mounted) return;  // keep what the user typed; the form stays as it was built
    if (e) { body.innerHTML = errorBox(e, 'Tasks could not be loaded.'); return; }
    const task = tasks.find((t) => t.name === name);
    if (!task) {
      body.innerHTML = html`<div class="empty" data-testid="task-missing"><h1><code>${name}</code></h1>
        <p><strong>No connected worker offers this task right now.</strong> It appears as soon as a worker with its plugin connects;
        this page updates by itself. <a href="#/tasks">See the tasks on offer</a>.</p></div>`;
      return;
    }
    mounted = true;
    const backends = (task.backends ?? []);
    body.innerHTML = html`<header class="page-head">
        <h1><code>${task.name}</code></h1>
        <p>${task.description}</p>
        <p class="small muted">${backends.map((b) => html`<span class="chip backend">${b.backend}</span> ${b.plugin} ${b.plugin_version} · ${plural(b.slots, 'slot')} `)}
          · ${plural(task.workers, 'worker')}${task.cost ? html` · cost <code>${task.cost}</code>` : ''}</p>
      </header>
      ${task.workers ? '' : html`<div class="notice warn" data-testid="task-offline">No connected worker offers this task right now:
        a job you submit waits in the queue until one connects.</div>`}
      <div class="panel" data-form></div>`;
    stopForm = mountTaskForm(body.querySelector('[data-form]'), task, {
      onSubmitted: (accepted) => { location.hash = `#/jobs/${accepted.id}`; },
    });
  });
  return () => { stop(); stopForm?.(); };
}

// ------------------------------------------------------------------ router and shell
const routes = [
  [/^\/?$/, overview, 'overview'],
  [/^\/jobs\/?$/, jobsPage, 'jobs'],
  [/^\/jobs\/(?<id>\d+)\/?$/, jobPage, 'jobs'],
  [/^\/tasks\/?$/, tasksPage, 'tasks'],
  [/^\/tasks\/(?<name>[^/]+)\/?$/, taskPage, 'tasks'],
  [/^\/models\/?$/, modelsPage, 'models'],
  [/^\/models\/(?<owner>[^/]+)\/(?<name>[^/]+)\/?$/, modelPage, 'models'],
  [/^\/signin\/?$/, signInPage, 'signin'],
  [/^\/account\/?$/, accountPage, 'account'],
  [/^\/donate\/?$/, donatePage, 'donate'],
  [/^\/donors\/?$/, donorsPage, 'donors'],
  [/^\/admin\/?$/, adminPage, 'admin'],
];

let cleanup = null;
// Where "Continue" goes after signing in: the page the user was on before #/signin.
let returnTo = '#/account';

function continueTo() {
  const target = returnTo;
  returnTo = '#/account';
  if (location.hash === target) route(); else location.hash = target;
}

function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, search = ''] = hash.split('?');
  cleanup?.();
  cleanup = null;
  for (const [pattern, fn, section] of routes) {
    const m = pattern.exec(path);
    if (!m) continue;
    const params = Object.fromEntries(Object.entries(m.groups ?? {}).map(([k, v]) => [k, decodeURIComponent(v)]));
    for (const a of document.querySelectorAll('.top nav a')) {
      const active = a.dataset.section === section;
      a.classList.toggle('active', active);
      if (active) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    view.dataset.view = section;
    // A fresh element per visit: a request the last view left running renders into its own,
    // detached element, never over this one.
    const el = document.createElement('div');
    el.className = `view view-${section}`;
    view.replaceChildren(el);
    cleanup = fn(el, params, new URLSearchParams(search), { continueTo }) ?? null;
    return;
  }
  view.innerHTML = html`<div class="empty"><h1>Nothing here</h1><p><a href="#/">Back to the overview</a>.</p></div>`;
}

function showStream(state) {
  const el = document.querySelector('[data-testid="connection"]');
  el.dataset.state = state;
  el.querySelector('.conn-text').textContent = state === 'live' ? 'live' : state === 'reconnecting' ? 'reconnecting…' : 'connecting…';
  el.title = state === 'live' ? 'Receiving live events from the daemon' : 'The event stream is down; retrying';
  document.querySelector('[data-testid="offline"]').hidden = state !== 'reconnecting';
}

// The header's account: the name and balance linking to #/account, or "Sign in". Redrawn only
// when it changes, so that a focused link keeps its focus.
let whoMarkup = '';
function showWho() {
  const here = location.hash.replace(/^#\/?/, '').split(/[/?]/)[0];
  const current = (section) => (here === section ? html`aria-current="page"` : '');
  let markup = '';
  if (session.state === 'signed-in') {
    const a = session.account;
    markup = html`<a class="who-link" href="#/account" data-section="account" data-testid="account-link" ${current('account')}
        title="${a ? `Signed in as ${a.name}: your account, ledger and tokens` : 'Your account'}">
      <span class="who-name" data-testid="header-account">${a?.name ?? 'account'}</span>
      ${a ? html`<span class="who-balance" data-testid="header-balance">${fmtCredits(a.balance)} <span class="unit">credits</span></span>` : ''}</a>`;
  } else if (session.state === 'signed-out') {
    markup = html`<a class="button secondary who-signin" href="#/signin" data-section="signin" data-testid="signin-link" ${current('signin')}>Sign in</a>`;
  }
  markup = String(markup);
  if (markup === whoMarkup) return;
  whoMarkup = markup;
  document.querySelector('[data-who]').innerHTML = markup;
}

// Links for who this browser is: "My workers" once signed in, "Admin" with the admin scope.
function showNav() {
  document.querySelector('[data-nav-signed-in]').hidden = session.state !== 'signed-in';
  document.querySelector('[data-nav-admin]').hidden = !hasScope('admin');
}

onSession((kind) => {
  showWho();
  showNav();
  if (kind === 'renewed') route();  // the view's requests failed with the old token
  if (kind !== 'expired') return;
  // A 401 to the stored token: it is gone; say why on the sign-in page, then come back here.
  if (!location.hash.startsWith('#/signin')) {
    returnTo = location.hash || '#/';
    location.hash = '#/signin';
  } else {
    route();
  }
});
showWho();
showNav();

// The balance changes when jobs finish (charges and payouts) and may have while the stream was down.
const refreshBalance = debounced(refreshAccount, 1000, 5000);
on('job', (e) => { if (TERMINAL.has(e.state)) refreshBalance(); });
on('resync', refreshBalance);

on('stream', showStream);
showStream(streamState);
window.addEventListener('hashchange', (e) => {
  const from = new URL(e.oldURL).hash;
  if (location.hash.startsWith('#/signin') && !from.startsWith('#/signin')) returnTo = from || '#/';
  route();
  showWho();
  window.scrollTo(0, 0);
});
setInterval(() => { refreshRelativeTimes(); refreshElapsed(); }, 1000);
connectEvents();
startSampling();
route();

// For the console: window.potluck.api.job(1).then(console.log)
window.potluck = { api, esc };
