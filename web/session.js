// Who this browser is to the daemon: the API token, the account behind it, and signing in and out.
//
// The token lives in localStorage under one key (STORAGE_KEY) and nowhere else: never in a URL,
// never in a log line, never in the page's markup except the one time a sign-up shows it. api.js
// asks this module for it (setAuth) and sends it as "Authorization: Bearer …" on every request;
// the event stream stays public and goes without it.
//
// States: 'unknown' while the first check runs, then 'signed-in' or 'signed-out'. On load a stored
// token is checked with GET /api/v1/account; with none, POST /api/v1/session/local asks for the
// local operator's token (a daemon started with --local-session answers 200 to loopback callers,
// 404 otherwise). Signing out stores a marker instead of the token, so a reload does not sign the
// local operator straight back in; the sign-in page offers that session as a button instead.
//
// A 401 to a request that carried the stored token means it is unknown or revoked: the token is
// forgotten and listeners hear 'expired' with the daemon's message (app.js shows the sign-in page).
// The local session's token is the exception: the daemon makes a new one at every start, so a 401
// to it first asks /session/local for this start's, and listeners hear 'renewed' (app.js reloads
// the view) when there is one.

import { api, ApiError, setAuth } from './api.js';

const STORAGE_KEY = 'potluck.session';

export const session = {
  state: 'unknown',
  token: null,       // the secret; read it only to send it
  account: null,     // {id, name, kind, balance, created_at}
  orgs: [],          // the organisations the account belongs to: its fields and {role: 'owner'|'member'}
  tokenInfo: null,   // the token's record: {id, name, scopes, prefix, …}
  local: false,      // the token came from /session/local
  notice: null,      // why the last session ended, for the sign-in page
  localAvailable: false,  // the daemon answered 200 to /session/local at some point
};

// ------------------------------------------------------------------ storage
// {"token": "plk_…", "local": bool} while signed in; {"signed_out": true, "local_available": bool}
// after signing out.
function readStored() {
  try {
    const v = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null');
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

function writeStored(value) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(value));
  } catch { /* private mode or full: the session lasts as long as the page */ }
}

// ------------------------------------------------------------------ listeners
const listeners = new Set();

// fn(kind) with kind 'change' (state, account or balance), 'expired' or 'renewed'.
export function onSession(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function notify(kind = 'change') {
  for (const fn of [...listeners]) {
    try { fn(kind, session); } catch (e) { console.error('potluck: a session listener failed', e); }
  }
}

function adopt(token, data, { local = false } = {}) {
  session.token = token;
  session.local = local;
  session.account = data.account ?? null;
  session.orgs = data.orgs ?? [];
  session.tokenInfo = data.token ?? null;
  session.state = 'signed-in';
  session.notice = null;
  writeStored({ token, local });
  notify();
}

function forget({ signedOut, notice = null }) {
  session.token = null;
  session.local = false;
  session.account = null;
  session.orgs = [];
  session.tokenInfo = null;
  session.state = 'signed-out';
  session.notice = notice;
  writeStored(signedOut ? { signed_out: true, local_available: session.localAvailable } : {});
  notify(notice ? 'expired' : 'change');
}

// api.js calls this on a 401 to a request that carried the stored token.
const RENEW_AT_MOST_EVERY_MS = 10_000;  // a daemon that refuses its own new token is not asked again and again
let renewing = null;
let lastRenewMs = 0;
function unauthorized(error, tokenSent) {
  if (tokenSent !== session.token || renewing) return;  // an older token, or a new one is on its way
  if (session.local && Date.now() - lastRenewMs > RENEW_AT_MOST_EVERY_MS) {
    lastRenewMs = Date.now();
    renewing = signInLocally().catch(() => null).then((data) => {
      renewing = null;
      if (data) notify('renewed');
      else forget({ signedOut: false, notice: error.message });
    });
    return;
  }
  forget({ signedOut: false, notice: error.message });
}

setAuth({ token: () => session.token, unauthorized });

// ------------------------------------------------------------------ the operations
// Checks `token` with the daemon and keeps it when it works; throws the daemon's ApiError
// (the stored session stays as it was) when it does not.
export async function signInWithToken(token) {
  const data = await api.account({ token });
  adopt(token, data);
  return data;
}

// Creates an account; the answer's token.secret is the one chance to show it.
export async function signUp(name) {
  const data = await api.signUp(name);
  adopt(data.token.secret, data);
  return data;
}

// The local operator's session, or null when this daemon offers none here (404).
export async function signInLocally() {
  let data;
  try {
    data = await api.localSession();
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
  session.localAvailable = true;
  if (!data?.token) return null;
  const known = await api.account({ token: data.token }).catch(() => ({ account: data.account }));
  adopt(data.token, known, { local: true });
  return data;
}

// Whether the token this browser uses has `scope` ('read', 'submit', 'publish', 'donate', 'admin').
// The daemon decides; this only chooses what the page offers (the Admin link, for one).
export function hasScope(scope) {
  return session.state === 'signed-in' && (session.tokenInfo?.scopes ?? []).includes(scope);
}

export function signOut() {
  forget({ signedOut: true });
}

// Reads the balance, the organisations' and the token's record again (after jobs finish, on the
// account page, after a transfer). One read at a time: a call while one is on its way gets one
// more read after it, whose answer knows of whatever changed before the call. An answer for a
// token this browser no longer uses (a sign-up or sign-in meanwhile) is dropped.
let refreshing = null;
let again = null;
export function refreshAccount() {
  if (session.state !== 'signed-in') return Promise.resolve();
  if (refreshing) {
    again ??= refreshing.then(() => { again = null; return refreshAccount(); });
    return again;
  }
  const sent = session.token;
  refreshing = api.account().then((data) => {
    if (session.token !== sent) return;
    session.account = data.account ?? session.account;
    session.orgs = data.orgs ?? session.orgs;
    session.tokenInfo = data.token ?? session.tokenInfo;
    notify();
  }).catch(() => { /* a 401 is handled by api.js; the rest leaves the header as it was */ })
    .finally(() => { refreshing = null; });
  return refreshing;
}

// Called once by app.js. Resolves when the state is known.
async function start() {
  const stored = readStored();
  session.localAvailable = !!(stored.local || stored.local_available);
  if (typeof stored.token === 'string' && stored.token) {
    session.token = stored.token;
    session.local = !!stored.local;
    try {
      adopt(stored.token, await api.account(), { local: session.local });
      return;
    } catch (e) {
      if (e.status === 401) {
        await renewing;  // unauthorized() renews a local session's token, or forgets it and says why
        return;
      }
      // The daemon is unreachable or failing: keep the token and try again later.
      session.state = 'signed-in';
      session.account = null;
      notify();
      return;
    }
  }
  if (!stored.signed_out) {
    try {
      if (await signInLocally()) return;
    } catch { /* unreachable: signed out until the user signs in */ }
  }
  forget({ signedOut: !!stored.signed_out });
}

export const ready = start();

// Another tab signed in or out: follow it.
window.addEventListener('storage', (e) => {
  if (e.key !== STORAGE_KEY) return;
  const stored = readStored();
  if (stored.token && stored.token !== session.token) {
    session.token = stored.token;
    api.account().then((data) => adopt(stored.token, data, { local: !!stored.local })).catch(() => {});
  } else if (!stored.token && session.token) {
    forget({ signedOut: !!stored.signed_out });
  }
});
