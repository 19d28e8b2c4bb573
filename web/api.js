// The daemon's HTTP API, its event stream, the stats history behind the charts, and the
// pacing helpers views use to redraw and reload as events arrive.
//
// One EventSource for the whole page (GET /api/v1/events): browsers allow only six HTTP/1.1
// connections per host, so views subscribe to this one stream instead of opening their own.
// After an error the stream is closed and opened again with a growing delay; every
// reconnect emits 'resync' so views reload what they may have missed meanwhile. The one
// exception is followJob: a model's run panel follows its job on the job's own stream.
//
// Requests carry "Authorization: Bearer TOKEN" when session.js knows a token; the stream is
// public and carries none (EventSource cannot send headers, and a token never goes in a URL).
// The model hub's routes live under /api (in the Hugging Face Hub's shapes), the rest under /api/v1.

import { setServerTime } from './format.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// session.js supplies the token and hears about 401s to requests that carried it.
let auth = { token: () => null, unauthorized: () => {} };
export function setAuth(provider) {
  auth = provider;
}

// `token`: send this token instead of the session's (checking a pasted token before keeping it);
// a 401 to such a request is the caller's to show and does not end the session. `headers`: more
// headers to send (X-Potluck-Bill-To). `root`: where the path starts, /api/v1 unless it is the hub's.
async function request(method, path, body, { token, headers: more = {}, root = '/api/v1' } = {}) {
  const explicit = token !== undefined;
  const sent = explicit ? token : auth.token();
  const headers = { ...more };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (sent) headers.Authorization = `Bearer ${sent}`;
  let response;
  try {
    response = await fetch(`${root}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'unreachable', 'The daemon cannot be reached. Is potluckd running?');
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: handled below */ }
  if (!response.ok) {
    const error = data && data.error;
    const e = new ApiError(response.status, error?.code ?? `http_${response.status}`,
      error?.message ?? `${response.status} ${response.statusText || 'error'}`);
    if (response.status === 401 && sent && !explicit) auth.unauthorized(e, sent);
    throw e;
  }
  return data;
}

const HUB = { root: '/api' };
const modelPath = (id) => id.split('/').map(encodeURIComponent).join('/');

export const api = {
  workers: () => request('GET', '/workers').then((d) => d.workers ?? []),
  tasks: () => request('GET', '/tasks').then((d) => d.tasks ?? []),
  stats: () => request('GET', '/stats'),
  // account: the jobs that account submitted; paidTo: the jobs that account's workers ran.
  jobs: ({ state = '', limit = 50, cursor = '', account = '', paidTo = '' } = {}) => {
    const q = new URLSearchParams({ limit: String(limit) });
    if (state) q.set('state', state);
    if (cursor) q.set('cursor', String(cursor));
    if (account) q.set('account', account);
    if (paidTo) q.set('paid_to', paidTo);
    return request('GET', `/jobs?${q}`);
  },
  job: (id) => request('GET', `/jobs/${encodeURIComponent(id)}`),
  // billTo: an organisation of the caller's that pays for the job and owns it (X-Potluck-Bill-To).
  submit: (job, { billTo = '' } = {}) => request('POST', '/jobs', job, billTo ? { headers: { 'X-Potluck-Bill-To': billTo } } : {}),
  // What a job would cost and wait, from the same body; needs no token and changes nothing.
  quote: (job) => request('POST', '/jobs/quote', job),
  cancel: (id) => request('POST', `/jobs/${encodeURIComponent(id)}/cancel`),
  signUp: (name) => request('POST', '/accounts', { name }),
  localSession: () => request('POST', '/session/local', {}),
  account: (options) => request('GET', '/account', undefined, options),
  ledger: ({ limit = 50, cursor = '' } = {}) => {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set('cursor', String(cursor));
    return request('GET', `/account/ledger?${q}`);
  },
  tokens: () => request('GET', '/account/tokens').then((d) => d.tokens ?? []),
  createToken: (name, scopes) => request('POST', '/account/tokens', { name, scopes }),
  revokeToken: (id) => request('DELETE', `/account/tokens/${encodeURIComponent(id)}`),
  // Organisations (accounts.cpp): a wallet its members share and bill jobs to, funded by transfers.
  createOrg: (name) => request('POST', '/orgs', { name }).then((d) => d.org),
  org: (name) => request('GET', `/orgs/${encodeURIComponent(name)}`).then((d) => d.org),
  addMember: (org, account, role) => request('POST', `/orgs/${encodeURIComponent(org)}/members`, { account, role }).then((d) => d.org),
  // Credits from the caller to a user or an organisation: {entry, to, amount}.
  transfer: ({ to, amount, memo }) => request('POST', '/account/transfers', { to, amount, ...(memo ? { memo } : {}) }),
  // A donor's side (market.cpp): earnings per day and per job, workers and their settings.
  earnings: (days) => request('GET', `/account/earnings?days=${encodeURIComponent(days)}`),
  myWorkers: () => request('GET', '/account/workers').then((d) => d.workers ?? []),
  // {worker: NAME, paused?, max_slots?, hours?, free_jobs?}: fields left out keep their value.
  setWorkerSettings: (body) => request('PUT', '/account/workers/settings', body),
  donors: ({ days = 30, limit = 20 } = {}) => request('GET', `/donors?${new URLSearchParams({ days: String(days), limit: String(limit) })}`),
  // The operator's (admin scope): the books, grants out of the mint, the market settings, and
  // the workers and donors whose results disagreed with a trusted worker's or that misbehaved.
  audit: () => request('GET', '/admin/audit'),
  grant: ({ account, amount, memo }) => request('POST', '/admin/grants', { account, amount, ...(memo ? { memo } : {}) }),
  marketSettings: () => request('GET', '/admin/settings'),
  flagged: () => request('GET', '/admin/flagged'),
  // The model hub (hub.cpp): search, one model at a revision ("" for the newest) with its files and
  // card, and its revisions, newest first. `id` is "owner/name".
  models: ({ search = '', task = '', sort = 'recent', limit = 20, offset = 0 } = {}) => {
    const q = new URLSearchParams({ sort, limit: String(limit), offset: String(offset) });
    if (search) q.set('search', search);
    if (task) q.set('task', task);
    return request('GET', `/models?${q}`, undefined, HUB);
  },
  model: (id, revision = '') => request('GET', `/models/${modelPath(id)}${revision ? `?revision=${encodeURIComponent(revision)}` : ''}`, undefined, HUB),
  modelRevisions: (id) => request('GET', `/models/${modelPath(id)}/revisions`, undefined, HUB).then((d) => d.revisions ?? []),
  health: () => fetch('/healthz').then((r) => r.json()),
};

// ------------------------------------------------------------------ pacing redraws and reloads
// Runs fn at most once per animation frame, however often it is asked.
export function throttled(fn) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; fn(); });
  };
}

// Runs fn `ms` after the last call, but at least every `maxMs` while calls keep coming.
export function debounced(fn, ms, maxMs = ms * 4) {
  let timer = 0;
  let first = 0;
  return () => {
    const now = Date.now();
    if (!first) first = now;
    clearTimeout(timer);
    const wait = Math.max(0, Math.min(ms, first + maxMs - now));
    timer = setTimeout(() => { first = 0; fn(); }, wait);
  };
}

// ------------------------------------------------------------------ a tiny event bus
const listeners = new Map();

export function on(kind, fn) {
  if (!listeners.has(kind)) listeners.set(kind, new Set());
  listeners.get(kind).add(fn);
  return () => listeners.get(kind).delete(fn);
}

function emit(kind, data) {
  for (const fn of [...(listeners.get(kind) ?? [])]) {
    try { fn(data); } catch (e) { console.error(`potluck: a '${kind}' listener failed`, e); }
  }
}

// ------------------------------------------------------------------ the event stream
export const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

let source = null;
let retryMs = 500;
let connectedOnce = false;
export let streamState = 'connecting';

function setStreamState(state) {
  if (streamState === state) return;
  streamState = state;
  emit('stream', state);
}

export function connectEvents() {
  if (source) source.close();
  source = new EventSource('/api/v1/events');
  const parse = (kind) => (e) => {
    let data;
    try { data = JSON.parse(e.data); } catch { return; }
    emit(kind, data);
  };
  source.addEventListener('hello', () => {
    retryMs = 500;
    setStreamState('live');
    if (connectedOnce) emit('resync');
    connectedOnce = true;
  });
  source.addEventListener('job', parse('job'));
  source.addEventListener('progress', parse('job'));
  source.addEventListener('worker', parse('worker'));
  source.onerror = () => {
    source.close();
    source = null;
    setStreamState('reconnecting');
    setTimeout(connectEvents, retryMs);
    retryMs = Math.min(retryMs * 2, 10_000);
  };
}

// One job's own stream (GET /api/v1/jobs/ID/events), for a view that follows one job closely (a
// model's run panel): fn(kind, data) hears the job's JSON as it is now ('job'), each 'progress'
// and state change as it happens, and once it ends its whole JSON (result, answer, error), after
// which the stream is closed. It holds one of the browser's six connections while the job lasts;
// a dropped stream is opened again (the daemon starts each with the job's JSON, so nothing is
// missed). Returns a function that stops following.
export function followJob(id, fn) {
  let source = null;
  let stopped = false;
  let timer = 0;
  let delay = 500;
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    source?.close();
  };
  const open = () => {
    source = new EventSource(`/api/v1/jobs/${encodeURIComponent(id)}/events`);
    const handle = (kind) => (e) => {
      if (stopped) return;
      let data;
      try { data = JSON.parse(e.data); } catch { return; }
      delay = 500;
      if (TERMINAL.has(data.state)) stop();
      fn(kind, data);
    };
    source.addEventListener('job', handle('job'));
    source.addEventListener('progress', handle('progress'));
    source.onerror = () => {
      source.close();
      if (stopped) return;
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 10_000);
    };
  };
  open();
  return stop;
}

// ------------------------------------------------------------------ stats history
// One reading of /api/v1/stats every SAMPLE_MS; rates come from two successive readings.
export const SAMPLE_MS = 2000;
export const HISTORY_MS = 5 * 60 * 1000;

export const stats = { latest: null, samples: [], error: null };
let previous = null;

async function sample() {
  try {
    const s = await api.stats();
    setServerTime(s.time_ms);
    const finished = s.jobs_succeeded + s.jobs_failed + s.jobs_cancelled;
    const point = { t: s.time_ms, queue: s.queue_depth, busy: s.slots_busy, slots: s.slots_total, rate: null };
    if (previous && s.time_ms > previous.t && finished >= previous.finished) {
      point.rate = (finished - previous.finished) / ((s.time_ms - previous.t) / 1000);
    } else {
      point.gap = true;  // the first reading, or the daemon restarted and its counters began again
    }
    previous = { t: s.time_ms, finished };
    stats.latest = { ...s, rate: point.rate };
    stats.error = null;
    stats.samples.push(point);
    const cutoff = s.time_ms - HISTORY_MS - SAMPLE_MS;
    while (stats.samples.length && stats.samples[0].t < cutoff) stats.samples.shift();
  } catch (e) {
    stats.error = e;
    previous = null;
  }
  emit('stats', stats);
}

export function startSampling() {
  sample();
  setInterval(sample, SAMPLE_MS);
}
