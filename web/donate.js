// A donor's page (#/donate) and the public leaderboard of donors (#/donors).
//
//   #/donate?days=N  what the caller's workers earned: a bar chart of credits per day (UTC) over
//                    7, 30 or 90 days, the totals, the latest jobs they ran; and the caller's
//                    workers by name: taking jobs or not, prices, busy slots, and their settings
//                    (pause, most slots, hours, free jobs), saved with PUT /account/workers/settings
//   #/donors?days=N  donors ranked by credits earned, then work units, over 1, 7 or 30 days
//
// Views follow app.js's shape: a function (element, params, query) → cleanup. Worker cards are
// kept by name across reloads (events, a timer): a part is redrawn only when its markup changes,
// and a settings form only while it holds no unsaved change, so that what the donor is typing
// and the focused control survive. Every message from the daemon is shown as it came.

import { api, debounced, on, TERMINAL } from './api.js';
import { barChart, niceCeil } from './charts.js';
import { fmtCredits, fmtDay, fmtInt, fmtPrice, html, plural, serverNow, timeAgo } from './format.js';
import { onSession, ready, session } from './session.js';

const EARNING_PERIODS = [[7, '7 days'], [30, '30 days'], [90, '90 days']];
const DONOR_PERIODS = [[1, 'today'], [7, '7 days'], [30, '30 days']];
const MAX_SLOTS = 256;              // the daemon's max_worker_slots
const DEFAULT_HOURS = [22, 7];      // what "only from … to …" starts with: nights
const RELOAD_EVERY_MS = 10_000;     // hours begin and end with no event; events cover the rest
const STATUS_BADGE = { taking: 'succeeded', paused: 'queued', hours: 'queued', idle: 'queued', offline: 'cancelled' };

function credits(micro) {
  return html`${fmtCredits(micro)} <span class="unit">credits</span>`;
}

function errorBox(e, what) {
  return html`<div class="notice error" role="alert"><strong>${what}</strong> ${e.message}</div>`;
}

function periodFilter(route, periods, current) {
  return html`<nav class="filters" aria-label="Period" data-testid="period">${periods.map(([days, label]) =>
    html`<a href="#/${route}?days=${days}" class="${days === current ? 'active' : ''}" ${days === current ? html`aria-current="page"` : ''}
      data-days="${days}">${label}</a>`)}</nav>`;
}

function periodFrom(query, periods, fallback) {
  const days = Number(query.get('days'));
  return periods.some(([d]) => d === days) ? days : fallback;
}

// The endpoint workers connect to, for the "start a worker" hint; read once, when first needed.
let workersEndpoint = 'tcp://127.0.0.1:5555';
let healthRead = null;
function readEndpoint() {
  healthRead ??= api.health().then((h) => { if (h?.workers_endpoint) workersEndpoint = h.workers_endpoint; }).catch(() => {});
  return healthRead;
}

// ------------------------------------------------------------------ earnings
function earningsPanel(data, days) {
  const list = data.days ?? [];
  const total = data.total ?? { jobs: 0, units: 0, earned: 0 };
  const today = list[list.length - 1] ?? { earned: 0, jobs: 0, units: 0 };
  const best = list.reduce((m, d) => (d.earned > m.earned ? d : m), { earned: 0 });
  const top = niceCeil(Math.max(best.earned, 1));
  const nothing = list.every((d) => !d.earned);
  const bars = list.map((d) => ({
    value: d.earned,
    title: `${fmtDay(d.date, { weekday: true })}: ${fmtCredits(d.earned)} credits · ${plural(d.jobs, 'job')} · ${plural(d.units, 'work unit')}`,
  }));
  const label = `Credits earned per day over the last ${days} days: ${fmtCredits(total.earned)} in all, ${fmtCredits(today.earned)} today`;
  return html`<dl class="facts grid earned-facts">
      <div><dt>Today</dt><dd data-testid="earned-today">${credits(today.earned)}</dd>
        <dd class="sub muted small">${plural(today.jobs, 'job')} · ${plural(today.units, 'work unit')}</dd></div>
      <div><dt>Last ${days} days</dt><dd data-testid="earned-total">${credits(total.earned)}</dd>
        <dd class="sub muted small">${best.earned ? html`best day ${fmtDay(best.date)}: ${fmtCredits(best.earned)}` : 'no paid job yet'}</dd></div>
      <div><dt>Jobs run</dt><dd data-testid="earned-jobs">${fmtInt(total.jobs)}</dd></div>
      <div><dt>Work units</dt><dd data-testid="earned-units">${fmtInt(total.units)}</dd></div>
    </dl>
    <figure class="bar-chart" data-testid="earnings-chart" data-empty="${nothing ? 'true' : 'false'}">
      <div class="bar-plot">
        ${nothing ? '' : html`<span class="bar-top" aria-hidden="true">${fmtCredits(top)} credits</span>`}
        ${barChart(bars, { top, label })}
        ${nothing ? html`<p class="bar-empty">Nothing earned in these ${days} days yet: credits come in as paid jobs on your workers end.</p>` : ''}
      </div>
      <figcaption class="chart-axis"><span>${list.length ? fmtDay(list[0].date) : ''}</span><span>today (UTC)</span></figcaption>
    </figure>`;
}

function earningRow(j) {
  return html`<tr data-testid="earning-row" data-job-id="${j.id}">
    <td data-label="Job"><a href="#/jobs/${j.id}">#${j.id}</a></td>
    <td data-label="Task"><code>${j.task}</code>${j.state === 'succeeded' ? '' : html` <span class="badge state-${j.state}">${j.state}</span>`}</td>
    <td data-label="Worker">${j.worker}</td>
    <td data-label="Units" class="num">${fmtInt(j.units)}</td>
    <td data-label="Price" class="num">${fmtPrice(j.price)}</td>
    <td data-label="Earned" class="num amount${j.earned > 0 ? ' plus' : ''}" data-testid="earning-earned"
      title="${j.fee ? `charged ${fmtCredits(j.charged)}, less the fee of ${fmtCredits(j.fee)}` : `charged ${fmtCredits(j.charged)}`}">${fmtCredits(j.earned)}</td>
    <td data-label="When">${timeAgo(j.finished_at)}</td>
  </tr>`;
}

function recentTable(recent) {
  if (!recent.length) {
    return html`<div class="empty" data-testid="earnings-recent-empty"><p>Your workers have not finished a job yet.</p></div>`;
  }
  return html`<div class="table-wrap"><table class="data earnings" data-testid="earnings-recent">
    <thead><tr><th>Job</th><th>Task</th><th>Worker</th><th class="num">Units</th><th class="num">Price</th><th class="num">Earned</th><th>Finished</th></tr></thead>
    <tbody>${recent.map(earningRow)}</tbody></table></div>`;
}

// ------------------------------------------------------------------ workers
// What the worker(s) of one name are doing now, from the connected ones and the settings.
function workerStatus(w) {
  const connected = w.connected ?? [];
  if (!connected.length) return { key: 'offline', text: 'not connected' };
  if (connected.some((c) => c.taking_jobs)) return { key: 'taking', text: 'taking jobs' };
  if (w.settings?.paused) return { key: 'paused', text: 'paused' };
  if (w.settings?.hours) return { key: 'hours', text: 'outside its hours' };
  return { key: 'idle', text: 'not taking jobs' };
}

function hourText(h) {
  return `${String(h).padStart(2, '0')}:00`;
}

function hoursText(hours) {
  if (!hours) return 'all day';
  const [from, to] = hours.split('-').map(Number);
  return `${hourText(from)} to ${hourText(to)}`;
}

// "UTC+5:30" from a worker's offset, and its clock now.
function localClock(offsetMinutes) {
  const off = Number(offsetMinutes) || 0;
  const sign = off < 0 ? '−' : '+';
  const a = Math.abs(off);
  const zone = off ? `UTC${sign}${Math.floor(a / 60)}${a % 60 ? `:${String(a % 60).padStart(2, '0')}` : ''}` : 'UTC';
  const t = new Date(serverNow() + off * 60_000);
  return `${String(t.getUTCHours()).padStart(2, '0')}:${String(t.getUTCMinutes()).padStart(2, '0')} ${zone}`;
}

function cardHead(w, row) {
  const status = workerStatus(w);
  const paused = !!w.settings?.paused;
  const busy = row.saving === 'pause';
  return html`<h3><span class="dot${status.key === 'taking' ? ' ok' : status.key === 'offline' ? ' off' : ''}" aria-hidden="true"></span>${w.name}</h3>
    <span class="badge state-${STATUS_BADGE[status.key]}" data-testid="my-worker-status" data-status="${status.key}">${status.text}</span>
    <button type="button" class="${paused ? 'primary' : 'secondary'} small-button pause" data-pause data-testid="worker-pause"
      title="${paused ? 'Let it take new jobs again' : 'No new jobs start on it; running ones finish'}" ${row.saving ? 'disabled' : ''}>${busy ? (paused ? 'Resuming…' : 'Pausing…') : paused ? 'Resume' : 'Pause'}</button>`;
}

function instanceFacts(c) {
  const backends = Object.keys(c.slots ?? {});
  const prices = Object.entries(c.prices ?? {});
  return html`<dl class="facts compact instance" data-testid="my-worker-instance" data-worker-id="${c.id}">
    <div><dt>Machine</dt><dd>${c.hostname || html`<span class="muted">unnamed</span>`} <span class="muted small">· ${c.id} · connected ${timeAgo(c.connected_at)}</span></dd></div>
    <div><dt>Now</dt><dd data-testid="instance-taking" data-taking="${c.taking_jobs ? 'true' : 'false'}">${c.taking_jobs
      ? html`<span class="text-succeeded">taking jobs</span>` : html`<span class="text-queued">no new jobs</span>`}
      <span class="muted small">· ${c.accepts_free ? 'takes free jobs' : 'paid jobs only'}</span></dd></div>
    <div><dt>Price</dt><dd class="prices" data-testid="instance-prices">${prices.length ? prices.map(([b, ask]) =>
      html`<span class="price-ask"><span class="slot-name">${b}</span> ${fmtPrice(ask)}</span>`) : html`<span class="muted">none</span>`}</dd></div>
    <div><dt>Slots</dt><dd class="slots">${backends.length ? backends.map((b) => {
      const total = c.slots[b] ?? 0;
      const used = c.busy?.[b] ?? 0;
      return html`<span class="slot-meter" title="${used} of ${total} ${b} slots busy"><span class="slot-name">${b}</span>
        <span class="slot-bar" aria-hidden="true">${Array.from({ length: Math.min(total, 16) }, (_, i) => html`<i class="${i < used ? 'busy' : ''}"></i>`)}</span>
        <span data-testid="instance-busy">${used} / ${total} busy</span></span>`;
    }) : html`<span class="muted">none</span>`}</dd></div>
    <div><dt>Jobs</dt><dd>${fmtInt(c.jobs_done)} done${c.jobs_failed ? html` · <span class="text-failed">${fmtInt(c.jobs_failed)} failed</span>` : ''}</dd></div>
  </dl>`;
}

function cardLive(w) {
  const connected = w.connected ?? [];
  if (!connected.length) {
    return html`<p class="muted small" data-testid="my-worker-offline">No worker of this name is connected. Its settings wait for it:
      they apply as soon as it connects.</p>`;
  }
  return html`${connected.map(instanceFacts)}`;
}

let formIds = 0;

function settingsForm(w) {
  const s = w.settings ?? {};
  const [from, to] = s.hours ? s.hours.split('-').map(Number) : DEFAULT_HOURS;
  const id = `ws${++formIds}`;
  const offset = w.connected?.[0]?.utc_offset_minutes;
  const hourOptions = (current) => Array.from({ length: 24 }, (_, h) =>
    html`<option value="${h}" ${h === current ? 'selected' : ''}>${hourText(h)}</option>`);
  const free = s.free_jobs === true ? 'yes' : s.free_jobs === false ? 'no' : 'follow';
  return html`<form class="worker-settings" data-settings novalidate aria-label="Settings of ${w.name}">
    <div class="field slots-field">
      <label for="${id}-slots">Most slots</label>
      <input id="${id}-slots" name="max_slots" type="number" min="0" max="${MAX_SLOTS}" step="1" inputmode="numeric"
        value="${s.max_slots ?? 0}" data-testid="settings-slots" aria-describedby="${id}-slots-hint">
      <span class="hint" id="${id}-slots-hint">0: every slot it has</span>
    </div>
    <fieldset class="field hours-field">
      <legend>Hours</legend>
      <div class="hours-row">
        <select name="hours_mode" data-testid="settings-hours-mode" aria-label="Hours of ${w.name}">
          <option value="all" ${s.hours ? '' : 'selected'}>all day</option>
          <option value="window" ${s.hours ? 'selected' : ''}>only from … to …</option>
        </select>
        <span class="hours-window" data-hours-window ${s.hours ? '' : 'hidden'}>
          <label>from <select name="hours_from" data-testid="settings-hours-from">${hourOptions(from)}</select></label>
          <label>to <select name="hours_to" data-testid="settings-hours-to">${hourOptions(to)}</select></label>
        </span>
      </div>
      <span class="hint">the worker's own clock${offset != null ? html`, now ${localClock(offset)}` : ''}; the end hour is not included</span>
    </fieldset>
    <div class="field">
      <label for="${id}-free">Free jobs</label>
      <select id="${id}-free" name="free_jobs" data-testid="settings-free">
        <option value="follow" ${free === 'follow' ? 'selected' : ''}>as the worker says (--free-jobs)</option>
        <option value="yes" ${free === 'yes' ? 'selected' : ''}>take free jobs</option>
        <option value="no" ${free === 'no' ? 'selected' : ''}>paid jobs only</option>
      </select>
      <span class="hint">free jobs run only when no paid one waits</span>
    </div>
    <button type="submit" data-testid="settings-save">Save</button>
  </form>`;
}

// The form's fields as a settings body, or {problem, field} for what cannot be sent at all.
// Numbers out of range go to the daemon, whose message says what it takes.
function readSettings(form) {
  const slotsText = form.elements.max_slots.value.trim();
  if (slotsText === '' || !Number.isFinite(Number(slotsText))) {
    return { problem: `Most slots must be a whole number from 0 (every slot) to ${MAX_SLOTS}.`, field: 'max_slots' };
  }
  const mode = form.elements.hours_mode.value;
  const free = form.elements.free_jobs.value;
  return {
    body: {
      max_slots: Number(slotsText),
      hours: mode === 'window' ? `${form.elements.hours_from.value}-${form.elements.hours_to.value}` : null,
      free_jobs: free === 'yes' ? true : free === 'no' ? false : null,
    },
  };
}

// Which field a daemon's bad_settings message is about: it names the field in quotes.
function fieldOf(message) {
  return /"(max_slots|hours|free_jobs|paused)"/.exec(message ?? '')?.[1] ?? null;
}

function savedText(s, what) {
  if (what === 'pause') {
    return s.paused ? 'Paused: no new job starts on it; running ones finish.'
      : `Resumed: it takes jobs again${s.hours ? `, from ${hoursText(s.hours)}` : ''}.`;
  }
  const free = s.free_jobs === true ? 'takes free jobs' : s.free_jobs === false ? 'paid jobs only' : 'free jobs as the worker says';
  return `Saved: ${s.max_slots ? `at most ${plural(s.max_slots, 'slot')}` : 'every slot'}, ${hoursText(s.hours)}, ${free}.`;
}

function noWorkersYet() {
  return html`<div class="empty" data-testid="my-workers-empty">
    <p><strong>No worker lends for you yet.</strong> Start one on any machine, with a token of this account that has the
      <code>donate</code> scope and the price you ask, in credits per million work units:</p>
    <pre><code>potluck-worker --daemon ${workersEndpoint} --token-file FILE --price cpu=0.5</code></pre>
    <p class="muted small">FILE holds the token: the one you got when you signed up has <code>donate</code>, or make one on your
      <a href="#/account">account page</a>. <code>--price cpu=0</code> lends for nothing; <code>--free-jobs no</code> runs paid jobs only;
      <code>--name NAME</code> names it here. It appears on this page within a second, to pause, cap, or give hours to.</p>
  </div>`;
}

// ------------------------------------------------------------------ #/donate
export function donatePage(el, _params, query) {
  const days = periodFrom(query, EARNING_PERIODS, 30);
  document.title = 'My workers · Potluck';
  const earnings = { data: null, error: null };
  const mine = { list: null, error: null };
  const rows = new Map();  // worker name → {saving: null|'pause'|'settings', dirty, message, invalid, formFor}
  const drawn = new WeakMap();  // element → the markup it shows
  let startedFor = null;  // 'in:NAME' or 'out': whose page this shows
  let timer = 0;

  // Sets `box`'s markup when it changed; the focused control, found again by its test id, keeps focus.
  function setHtml(box, markup) {
    const text = String(markup);
    if (drawn.get(box) === text) return;
    const focused = box.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
    box.innerHTML = text;
    drawn.set(box, text);
    if (focused) box.querySelector(`[data-testid="${focused}"]`)?.focus();
  }

  function renderEarnings() {
    const box = el.querySelector('[data-earnings]');
    const recent = el.querySelector('[data-recent]');
    if (!box) return;
    if (!earnings.data) {
      setHtml(box, earnings.error ? errorBox(earnings.error, 'Your earnings could not be loaded.') : html`<p class="muted loading">Loading your earnings…</p>`);
      setHtml(recent, '');
      return;
    }
    setHtml(box, html`${earnings.error ? errorBox(earnings.error, 'Your earnings could not be reloaded.') : ''}${earningsPanel(earnings.data, days)}`);
    setHtml(recent, recentTable(earnings.data.recent ?? []));
  }

  function rowOf(name) {
    if (!rows.has(name)) rows.set(name, { saving: null, dirty: false, message: null, invalid: null, formFor: null });
    return rows.get(name);
  }

  function cardOf(name) {
    return [...el.querySelectorAll('[data-worker-name]')].find((c) => c.dataset.workerName === name) ?? null;
  }

  function drawCard(w) {
    const row = rowOf(w.name);
    let card = cardOf(w.name);
    if (!card) {
      card = document.createElement('article');
      card.className = 'my-worker';
      card.dataset.testid = 'my-worker';
      card.dataset.workerName = w.name;
      card.innerHTML = html`<header class="my-worker-head" data-head></header><div class="my-worker-live" data-live></div>
        <div data-form></div><p class="settings-msg" data-msg data-testid="settings-message" role="status" aria-live="polite"></p>`;
      row.dirty = false;  // a new card starts from the daemon's settings
      row.formFor = null;
    }
    setHtml(card.querySelector('[data-head]'), cardHead(w, row));
    setHtml(card.querySelector('[data-live]'), cardLive(w));
    const settings = JSON.stringify(w.settings ?? {});
    const formBox = card.querySelector('[data-form]');
    if (!row.dirty && !row.saving && row.formFor !== settings) {
      setHtml(formBox, settingsForm(w));
      row.formFor = settings;
    }
    const form = formBox.querySelector('form');
    const save = form.querySelector('[data-testid="settings-save"]');
    save.disabled = !!row.saving;
    save.textContent = row.saving === 'settings' ? 'Saving…' : 'Save';
    for (const name of ['max_slots', 'hours_mode', 'hours_from', 'hours_to', 'free_jobs']) {
      const field = form.elements[name];
      const invalid = row.invalid === name || (row.invalid === 'hours' && name.startsWith('hours'));
      if (invalid) field.setAttribute('aria-invalid', 'true'); else field.removeAttribute('aria-invalid');
    }
    const msg = card.querySelector('[data-msg]');
    msg.dataset.kind = row.message?.kind ?? '';
    msg.className = `settings-msg${row.message?.kind === 'error' ? ' field-error' : ''}`;
    msg.textContent = row.message?.text ?? '';
    msg.hidden = !row.message;
    return card;
  }

  function renderWorkers() {
    const box = el.querySelector('[data-workers]');
    if (!box) return;
    if (!mine.list) {
      setHtml(box, mine.error ? errorBox(mine.error, 'Your workers could not be loaded.') : html`<p class="muted loading">Loading your workers…</p>`);
      return;
    }
    if (!mine.list.length) {
      setHtml(box, noWorkersYet());
      return;
    }
    let list = box.querySelector(':scope > .my-workers');
    if (!list) {
      box.replaceChildren();
      drawn.delete(box);
      list = document.createElement('div');
      list.className = 'my-workers';
      box.append(list);
    }
    const cards = mine.list.map(drawCard);
    // In the daemon's order (by name); moved only when it changed, as moving a card blurs it.
    if (cards.some((c, i) => list.children[i] !== c) || list.children.length !== cards.length) {
      for (const c of [...list.children]) if (!cards.includes(c)) c.remove();
      cards.forEach((c, i) => { if (list.children[i] !== c) list.insertBefore(c, list.children[i] ?? null); });
    }
    const error = box.querySelector(':scope > [data-reload-error]');
    if (mine.error && !error) list.insertAdjacentHTML('beforebegin', String(html`<div data-reload-error>${errorBox(mine.error, 'Your workers could not be reloaded.')}</div>`));
    else if (!mine.error) error?.remove();
  }

  async function loadEarnings() {
    try {
      earnings.data = await api.earnings(days);
      earnings.error = null;
    } catch (e) {
      earnings.error = e;
    }
    renderEarnings();
  }

  let loadingWorkers = false;
  let again = false;
  async function loadWorkers() {
    if (loadingWorkers) { again = true; return; }
    loadingWorkers = true;
    again = false;
    try {
      const list = await api.myWorkers();
      if (!list.length) await readEndpoint();
      mine.list = list;
      mine.error = null;
    } catch (e) {
      mine.error = e;
    }
    loadingWorkers = false;
    renderWorkers();
    if (again) loadWorkers();  // an event came while the answer was on its way
  }
  const soonWorkers = debounced(loadWorkers, 150, 600);
  const soonEarnings = debounced(loadEarnings, 500, 2000);

  async function send(name, changes, what) {
    const row = rowOf(name);
    if (row.saving) return;
    row.saving = what;
    row.message = null;
    row.invalid = null;
    renderWorkers();
    try {
      const saved = await api.setWorkerSettings({ worker: name, ...changes });
      const w = mine.list?.find((x) => x.name === name);
      if (w) w.settings = { paused: saved.paused, max_slots: saved.max_slots, hours: saved.hours, free_jobs: saved.free_jobs };
      if (what === 'settings') row.dirty = false;
      row.message = { kind: 'saved', text: savedText(saved, what) };
    } catch (e) {
      row.message = { kind: 'error', text: e.message };
      row.invalid = e.code === 'bad_settings' ? fieldOf(e.message) : null;
    }
    row.saving = null;
    renderWorkers();
    soonWorkers();  // "taking jobs" follows once the broker applied it
  }

  el.addEventListener('click', (e) => {
    const pause = e.target.closest('[data-pause]');
    if (!pause) return;
    const name = pause.closest('[data-worker-name]').dataset.workerName;
    const w = mine.list?.find((x) => x.name === name);
    send(name, { paused: !w?.settings?.paused }, 'pause');
  });

  el.addEventListener('submit', (e) => {
    e.preventDefault();
    const form = e.target.closest('[data-settings]');
    if (!form) return;
    const name = form.closest('[data-worker-name]').dataset.workerName;
    const read = readSettings(form);
    if (read.problem) {
      const row = rowOf(name);
      row.message = { kind: 'error', text: read.problem };
      row.invalid = read.field;
      renderWorkers();
      form.elements[read.field]?.focus();
      return;
    }
    send(name, read.body, 'settings');
  });

  const edited = (e) => {
    const form = e.target.closest('[data-settings]');
    if (!form) return;
    if (e.target.name === 'hours_mode') form.querySelector('[data-hours-window]').hidden = e.target.value !== 'window';
    const row = rowOf(form.closest('[data-worker-name]').dataset.workerName);
    row.dirty = true;
    row.invalid = null;
    row.message = { kind: 'dirty', text: 'Not saved yet.' };
    renderWorkers();
  };
  el.addEventListener('input', edited);
  el.addEventListener('change', edited);

  function render() {
    el.innerHTML = html`<header class="page-head period-head">
        <div><h1>My workers</h1>
          <p class="muted">What the machines you lend earned, and when they take jobs. A job pays its worker's ask when it ends,
            less the operator's fee; free jobs earn nothing but count on the <a href="#/donors">leaderboard</a>.</p></div>
        ${periodFilter('donate', EARNING_PERIODS, days)}
      </header>
      <section class="panel" aria-labelledby="h-earned">
        <header class="panel-head"><h2 id="h-earned">Credits earned</h2><span class="muted small">per day, in UTC</span></header>
        <div data-earnings></div>
      </section>
      <section class="panel" aria-labelledby="h-my-workers">
        <header class="panel-head"><h2 id="h-my-workers">Workers</h2><span class="muted small">changes apply at once; running jobs finish</span></header>
        <div data-workers></div>
      </section>
      <section class="panel" aria-labelledby="h-recent">
        <header class="panel-head"><h2 id="h-recent">Recent jobs</h2><span class="muted small">the latest 20 your workers ran</span></header>
        <div data-recent></div>
      </section>`;
    renderEarnings();
    renderWorkers();
  }

  const offs = [
    on('worker', soonWorkers),
    on('job', (e) => {
      if (e.state === 'running' || TERMINAL.has(e.state)) soonWorkers();  // busy slots, jobs done
      if (TERMINAL.has(e.state)) soonEarnings();
    }),
    on('resync', () => { soonWorkers(); soonEarnings(); }),
  ];

  const start = () => {
    if (session.state === 'unknown') return;
    const who = session.state === 'signed-in' ? `in:${session.account?.name ?? ''}` : 'out';
    if (who === startedFor) return;  // a new balance, not a new account
    startedFor = who;
    clearInterval(timer);
    if (who === 'out') {
      el.innerHTML = html`<div class="empty" data-testid="donate-signed-out"><h1>Lend a machine</h1>
        <p>Workers lend a machine's CPU and GPUs to this hub, for credits or for nothing. <a href="#/signin">Sign in or sign up</a>
          to start one with your token, see what it earned and pause it or give it hours.</p></div>`;
      return;
    }
    earnings.data = null;
    mine.list = null;
    rows.clear();
    render();
    loadEarnings();
    loadWorkers();
    timer = setInterval(loadWorkers, RELOAD_EVERY_MS);
  };
  const offSession = onSession(start);
  ready.then(start);
  return () => { offs.forEach((f) => f()); offSession(); clearInterval(timer); };
}

// ------------------------------------------------------------------ #/donors
function donorRow(d) {
  const you = session.state === 'signed-in' && d.account && d.account === session.account?.name;
  return html`<tr data-testid="donor-row" data-account="${d.account ?? ''}" class="${you ? 'you' : ''}">
    <td data-label="Rank" class="rank" data-testid="donor-rank">${d.rank}</td>
    <td data-label="Donor"><strong>${d.account ?? html`<span class="muted">a closed account</span>`}</strong>${you ? html` <span class="chip this-browser">you</span>` : ''}</td>
    <td data-label="Jobs" class="num" data-testid="donor-jobs">${fmtInt(d.jobs)}</td>
    <td data-label="Work units" class="num" data-testid="donor-units">${fmtInt(d.units)}</td>
    <td data-label="Earned" class="num amount" data-testid="donor-earned">${fmtCredits(d.earned)}</td>
  </tr>`;
}

export function donorsPage(el, _params, query) {
  const days = periodFrom(query, DONOR_PERIODS, 30);
  const span = days === 1 ? 'today (since midnight UTC)' : `in the last ${days} days`;
  document.title = 'Leaderboard · Potluck';
  el.innerHTML = html`<header class="page-head period-head">
      <div><h1>Leaderboard</h1>
        <p class="muted">The donors whose machines ran the most ${span}: ranked by credits earned, then by work units, so free
          work counts too. <a href="#/donate">Lend a machine</a>.</p></div>
      ${periodFilter('donors', DONOR_PERIODS, days)}
    </header>
    <section class="panel"><div data-donors><p class="muted loading">Loading the leaderboard…</p></div></section>`;
  const box = el.querySelector('[data-donors]');
  let donors = null;
  let error = null;

  const render = () => {
    if (!donors) {
      box.innerHTML = error ? errorBox(error, 'The leaderboard could not be loaded.') : html`<p class="muted loading">Loading the leaderboard…</p>`;
      return;
    }
    box.innerHTML = donors.length
      ? html`${error ? errorBox(error, 'The leaderboard could not be reloaded.') : ''}<div class="table-wrap"><table class="data donors" data-testid="donors">
          <thead><tr><th>Rank</th><th>Donor</th><th class="num">Jobs</th><th class="num">Work units</th><th class="num">Credits earned</th></tr></thead>
          <tbody>${donors.map(donorRow)}</tbody></table></div>`
      : html`<div class="empty" data-testid="donors-empty"><p><strong>No donor's worker finished a job ${span}.</strong>
          Start <code>potluck-worker</code> with your token and be the first: <a href="#/donate">My workers</a> says how.</p></div>`;
  };
  async function load() {
    try {
      donors = (await api.donors({ days, limit: 50 })).donors ?? [];
      error = null;
    } catch (e) {
      error = e;
    }
    render();
  }
  // The daemon keeps the table for a few seconds; no need to ask more often.
  const soon = debounced(load, 2000, 6000);
  const offs = [on('job', (e) => { if (TERMINAL.has(e.state)) soon(); }), on('resync', soon), onSession(render)];
  load();
  return () => offs.forEach((f) => f());
}
