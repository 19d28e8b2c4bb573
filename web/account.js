// The sign-in page (#/signin) and the account page (#/account).
//
//   #/signin   "Sign up" (a name → an account, its starter credits and a first token, whose
//              secret is shown once) and "Use a token" (a pasted token, checked with the daemon
//              before this browser keeps it)
//   #/account  the balance, the ledger (older pages by cursor), the organisations the account
//              belongs to (their balances and its role; create one; open one to see its members
//              and, as an owner, add some), credits sent to an account or an organisation, the
//              API tokens (create with scopes, the secret shown once; revoke after a confirm) and
//              "Sign out"
//
// Views follow app.js's shape: a function (element, params, query, context) → cleanup. Every
// message from the daemon is shown as it came, next to the field it is about.

import { api } from './api.js';
import { copyText, fmtCredits, fmtDateTime, html, parseCredits, timeAgo } from './format.js';
import { onSession, ready, refreshAccount, session, signInLocally, signInWithToken, signOut, signUp } from './session.js';

const SCOPES = [
  ['read', 'see this account, its ledger and tokens'],
  ['submit', 'submit and cancel jobs'],
  ['publish', 'publish tasks and models'],
  ['donate', 'lend machines as a worker'],
  ['admin', 'run the daemon: grants and audit'],
];

function credits(micro) {
  return html`${fmtCredits(micro)} <span class="unit">credits</span>`;
}

// The secret of a new token, shown once: a box to copy it from and a note that says so.
function secretOnce(secret, { title, lead, action, testid }) {
  return html`<section class="secret-once" data-testid="${testid}" aria-labelledby="${testid}-title">
    <h2 id="${testid}-title">${title}</h2>
    <p>${lead}</p>
    <div class="secret-row">
      <code class="secret" data-secret data-testid="secret">${secret}</code>
      <button type="button" data-copy data-testid="copy-secret">Copy</button>
    </div>
    <p class="secret-warning" role="note"><strong>Store it now; it will not be shown again.</strong>
      The daemon keeps only its hash. Put it in a password manager, or in <code>POTLUCK_TOKEN</code> for the CLI.</p>
    ${action}
  </section>`;
}

// Copies the secret next to a Copy button (copyText); when that fails, selects the secret so that
// it can be copied by hand.
async function copySecret(button) {
  const code = button.closest('.secret-once')?.querySelector('[data-secret]');
  if (!code) return;
  const copied = await copyText(code.textContent);
  if (!copied) {
    const range = document.createRange();
    range.selectNodeContents(code);
    const selection = getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  button.textContent = copied ? 'Copied' : 'Select and copy it';
  setTimeout(() => { if (button.isConnected) button.textContent = 'Copy'; }, 2500);
}

// A field's error line: shown with the daemon's message, hidden when empty.
function setFieldError(form, message) {
  const input = form.querySelector('input[data-main]');
  const line = form.querySelector('[data-field-error]');
  line.hidden = !message;
  line.textContent = message ?? '';
  if (message) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

// Sets `box`'s markup only when it changed: redrawn on every new balance, a list would take the
// focus off its buttons.
const drawn = new WeakMap();
function setHtml(box, markup) {
  const text = String(markup);
  if (drawn.get(box) === text) return;
  box.innerHTML = text;
  drawn.set(box, text);
}

// Disables a form's submit button while `work` runs, with `busyText` on it.
async function busy(form, busyText, work) {
  const button = form.querySelector('button[type="submit"]');
  const text = button.textContent;
  button.disabled = true;
  button.textContent = busyText;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.textContent = text;
  }
}

// ------------------------------------------------------------------ #/signin
export function signInPage(el, _params, _query, { continueTo }) {
  document.title = 'Sign in · Potluck';
  let created = null;  // the sign-up's answer while its secret is on screen

  function render() {
    if (created) {
      el.innerHTML = html`<header class="page-head"><h1>Welcome, ${created.account.name}</h1></header>
        ${secretOnce(created.token.secret, {
          title: 'Your API token',
          lead: html`Your account has ${credits(created.account.balance)}. This browser keeps the token below to sign you in;
            you need it to sign in anywhere else or to use the CLI.`,
          action: html`<button type="button" class="primary" data-continue data-testid="continue">Continue</button>`,
          testid: 'signup-secret',
        })}`;
      el.querySelector('[data-copy]').focus();
      return;
    }
    const signedIn = session.state === 'signed-in' && session.account;
    el.innerHTML = html`<header class="page-head"><h1>Sign in</h1>
        <p class="muted">An account holds credits and the API tokens that submit jobs. Watching jobs and workers needs none.</p></header>
      ${session.notice ? html`<div class="notice error signin-notice" role="alert" data-testid="signin-notice"><strong>You were signed out.</strong> ${session.notice}</div>` : ''}
      ${signedIn ? html`<div class="notice" data-testid="signin-current">You are signed in as <a href="#/account">${session.account.name}</a>.
        Signing in here replaces that session in this browser.</div>` : ''}
      <div class="auth-panels">
        <section class="panel auth" aria-labelledby="h-signup">
          <h2 id="h-signup">Sign up</h2>
          <p class="muted small">A new account, with the daemon's starter credits and a first token that this browser keeps.</p>
          <form data-signup data-testid="signup-form" novalidate>
            <div class="field">
              <label for="signup-name">Account name</label>
              <input id="signup-name" name="name" type="text" data-main autocomplete="username" autocapitalize="none" spellcheck="false"
                maxlength="64" aria-describedby="signup-name-hint signup-name-error" data-testid="signup-name" placeholder="alice">
              <span class="hint" id="signup-name-hint">Lowercase letters, digits and single hyphens.</span>
              <span class="field-error" id="signup-name-error" data-field-error data-testid="signup-error" role="alert" hidden></span>
            </div>
            <button type="submit" class="primary" data-testid="signup-submit">Create account</button>
          </form>
        </section>
        <section class="panel auth" aria-labelledby="h-token">
          <h2 id="h-token">Use a token</h2>
          <p class="muted small">An API token (<code>plk_…</code>) from a sign-up, <code>potluck account create</code>, another browser,
            or the operator's <code>admin-token</code> file.</p>
          <form data-token data-testid="token-form" novalidate>
            <div class="field">
              <label for="signin-token">API token</label>
              <input id="signin-token" name="token" type="password" data-main autocomplete="off" autocapitalize="none" spellcheck="false"
                aria-describedby="signin-token-error" data-testid="token-input" placeholder="plk_…">
              <span class="field-error" id="signin-token-error" data-field-error data-testid="token-error" role="alert" hidden></span>
            </div>
            <button type="submit" class="primary" data-testid="token-submit">Sign in</button>
          </form>
          ${session.localAvailable && session.state === 'signed-out' ? html`<p class="small local-session">On this machine:
            <button type="button" class="link" data-local data-testid="local-session">continue as the local operator</button></p>` : ''}
        </section>
      </div>`;
  }

  el.addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.target;
    if (form.matches('[data-signup]')) {
      const name = form.elements.name.value.trim();
      setFieldError(form, null);
      try {
        created = await busy(form, 'Creating…', () => signUp(name));
        render();
      } catch (err) {
        setFieldError(form, err.message);
        form.elements.name.focus();
      }
    } else if (form.matches('[data-token]')) {
      const token = form.elements.token.value.trim();
      setFieldError(form, null);
      if (!token) {
        setFieldError(form, 'Paste a token first: it starts with plk_.');
        form.elements.token.focus();
        return;
      }
      try {
        await busy(form, 'Checking…', () => signInWithToken(token));
        continueTo();
      } catch (err) {
        setFieldError(form, err.message);
        form.elements.token.focus();
      }
    }
  });

  el.addEventListener('input', (e) => {
    const form = e.target.closest('form');
    if (form) setFieldError(form, null);
  });

  el.addEventListener('click', async (e) => {
    const copy = e.target.closest('[data-copy]');
    if (copy) { copySecret(copy); return; }
    if (e.target.closest('[data-continue]')) { created = null; continueTo(); return; }
    const local = e.target.closest('[data-local]');
    if (local) {
      local.disabled = true;
      try {
        if (await signInLocally()) { continueTo(); return; }
        local.replaceWith(document.createTextNode('this daemon offers no local session here.'));
      } catch (err) {
        local.replaceWith(document.createTextNode(err.message));
      }
    }
  });

  // The header changes with the session; this page only while nothing is typed or shown.
  const off = onSession(() => {
    if (!created && ![...el.querySelectorAll('input[data-main]')].some((i) => i.value)) render();
  });
  render();
  // Not on touch screens, where focus would throw a keyboard over the page before it is read.
  if (matchMedia('(pointer: fine)').matches) el.querySelector('#signup-name')?.focus({ preventScroll: true });
  return off;
}

// ------------------------------------------------------------------ #/account
function ledgerRow(entry) {
  const cls = entry.amount > 0 ? 'plus' : entry.amount < 0 ? 'minus' : '';
  return html`<tr data-testid="ledger-row" data-kind="${entry.kind}">
    <td data-label="Time">${timeAgo(entry.time)}</td>
    <td data-label="Kind"><span class="chip">${entry.kind}</span></td>
    <td data-label="Amount" class="num amount ${cls}" data-testid="ledger-amount">${fmtCredits(entry.amount, { sign: true })}</td>
    <td data-label="With">${entry.counterparty}</td>
    <td data-label="Job">${entry.job_id != null ? html`<a href="#/jobs/${entry.job_id}">#${entry.job_id}</a>` : html`<span class="muted">–</span>`}</td>
    <td data-label="Memo" class="memo">${entry.memo || html`<span class="muted">–</span>`}</td>
  </tr>`;
}

function tokenRow(token, { confirming, revoking, error }) {
  const mine = token.id === session.tokenInfo?.id;
  const live = !token.revoked_at;
  let actions = '';
  if (live && confirming) {
    actions = html`<span class="confirm" role="group" aria-label="Revoke ${token.name}?">
      <span class="small">${mine ? 'This browser uses it: revoking it signs you out.' : 'Revoke it? Anything using it stops working.'}</span>
      <button type="button" class="danger" data-revoke-yes="${token.id}" data-testid="revoke-confirm" ${revoking ? 'disabled' : ''}>${revoking ? 'Revoking…' : 'Revoke'}</button>
      <button type="button" class="secondary" data-revoke-no ${revoking ? 'disabled' : ''}>Keep</button></span>`;
  } else if (live) {
    actions = html`<button type="button" class="danger small-button" data-revoke="${token.id}" data-testid="revoke" aria-label="Revoke token ${token.name}">Revoke</button>`;
  }
  return html`<tr data-testid="token-row" data-token-id="${token.id}" data-token-name="${token.name}" data-live="${live ? 'true' : 'false'}">
    <td data-label="Name"><strong>${token.name}</strong>${mine ? html` <span class="chip this-browser">this browser</span>` : ''}</td>
    <td data-label="Scopes"><span class="chips" data-testid="token-scopes">${(token.scopes ?? []).map((s) => html`<span class="chip">${s}</span>`)}</span></td>
    <td data-label="Token"><code>${token.prefix}…</code></td>
    <td data-label="Created">${timeAgo(token.created_at)}</td>
    <td data-label="Last used">${token.last_used_at ? timeAgo(token.last_used_at) : html`<span class="muted">never</span>`}</td>
    <td data-label="State" data-testid="token-state">${live ? html`<span class="badge state-succeeded">live</span>`
      : html`<span class="badge state-cancelled" title="${fmtDateTime(token.revoked_at)}">revoked</span> <span class="small muted">${timeAgo(token.revoked_at)}</span>`}</td>
    <td class="actions">${actions}${error ? html`<span class="field-error" role="alert">${error}</span>` : ''}</td>
  </tr>`;
}

function orgRow(org, open) {
  return html`<tr data-testid="org-row" data-org-name="${org.name}">
    <td data-label="Name"><strong>${org.name}</strong></td>
    <td data-label="Your role"><span class="chip" data-testid="org-role">${org.role}</span></td>
    <td data-label="Credits" class="num amount" data-testid="org-balance">${fmtCredits(org.balance)}</td>
    <td class="actions"><button type="button" class="secondary small-button" data-open-org="${org.name}" data-testid="org-open"
      aria-expanded="${open ? 'true' : 'false'}" aria-controls="org-panel">${open ? 'Close' : 'Members'}</button></td>
  </tr>`;
}

// The form that adds a member to an organisation (or changes a member's role): owners only.
function memberForm(name) {
  return html`<form class="inline-form member-form" data-add-member data-testid="member-form" novalidate>
    <div class="field">
      <label for="member-account">Add a member</label>
      <input id="member-account" name="account" type="text" autocomplete="off" autocapitalize="none" spellcheck="false" maxlength="64"
        placeholder="bob" data-testid="member-account">
    </div>
    <div class="field role-field">
      <label for="member-role">Role</label>
      <select id="member-role" name="role" data-testid="member-role">
        <option value="member">member: bills jobs to it</option>
        <option value="owner">owner: also adds members</option>
      </select>
    </div>
    <button type="submit" class="primary" data-testid="member-submit">Add to ${name}</button>
  </form>`;
}

function membersList(org) {
  return html`<ul class="plain members" data-testid="org-members">${(org.members ?? []).map((m) => html`<li data-testid="org-member" data-account="${m.account}">
    <strong>${m.account}</strong> <span class="chip">${m.role}</span>${m.account === session.account?.name ? html` <span class="chip this-browser">you</span>` : ''}</li>`)}</ul>`;
}

// A message after a form: {text} (markup) or {error}; `testid` names it for the tests.
function formResult(result, testid) {
  if (!result) return '';
  return result.error ? html`<p class="form-error" role="alert" data-testid="${testid}-error">${result.error}</p>`
    : html`<div class="notice ok" role="status" data-testid="${testid}-result">${result.text}</div>`;
}

// Marks the field a message is about, and no other.
function markField(form, names, field) {
  for (const name of names) {
    if (name === field) form.elements[name].setAttribute('aria-invalid', 'true');
    else form.elements[name].removeAttribute('aria-invalid');
  }
}

// The field a refused transfer is about.
function transferField(e) {
  return e.code === 'unknown_account' ? 'to' : e.code === 'bad_movement' ? 'memo' : e.code === 'bad_amount' || e.status === 402 ? 'credits' : null;
}

export function accountPage(el) {
  document.title = 'Account · Potluck';
  const ledger = { entries: [], next: null, loaded: false, error: null, loadingMore: false };
  const tokens = { list: [], loaded: false, error: null, confirming: null, revoking: false, rowError: null };
  let secret = null;  // a new token's answer while its secret is on screen
  // The organisation opened below the list: its name, GET /orgs/NAME's answer, and the last
  // add-member's outcome.
  const org = { open: null, data: null, error: null, member: null, drawnFor: null };
  let transfer = null;  // {text} or {error, field}: the last transfer's outcome

  el.innerHTML = html`<p class="muted loading">Loading your account…</p>`;

  function renderHead() {
    const head = el.querySelector('[data-head]');
    if (!head) return;
    const a = session.account;
    const t = session.tokenInfo;
    head.innerHTML = html`<div class="account-id">
        <h1 data-testid="account-name">${a?.name ?? 'Your account'}</h1>
        <p class="muted small">${a ? html`${a.kind} account · since ${timeAgo(a.created_at)}` : ''}${t ? html` · this browser uses token
          <strong>${t.name}</strong> <code>${t.prefix}…</code>` : ''}</p>
      </div>
      <div class="balance" data-testid="account-balance"><span class="balance-label">Balance</span>
        <span class="balance-value">${a ? credits(a.balance) : '–'}</span></div>
      <button type="button" data-signout data-testid="sign-out">Sign out</button>`;
  }

  function renderLedger() {
    const box = el.querySelector('[data-ledger]');
    if (!box) return;
    if (!ledger.loaded) { box.innerHTML = html`<p class="muted loading">Loading the ledger…</p>`; return; }
    if (ledger.error && !ledger.entries.length) {
      box.innerHTML = html`<div class="notice error" role="alert"><strong>The ledger could not be loaded.</strong> ${ledger.error.message}</div>`;
      return;
    }
    if (!ledger.entries.length) { box.innerHTML = html`<div class="empty"><p>No movement of credits yet.</p></div>`; return; }
    box.innerHTML = html`<div class="table-wrap"><table class="data ledger" data-testid="ledger">
        <thead><tr><th>Time</th><th>Kind</th><th class="num">Credits</th><th>With</th><th>Job</th><th>Memo</th></tr></thead>
        <tbody>${ledger.entries.map(ledgerRow)}</tbody></table></div>
      ${ledger.error ? html`<div class="notice error" role="alert">${ledger.error.message}</div>` : ''}
      ${ledger.next != null ? html`<div class="more"><button type="button" class="secondary" data-older data-testid="ledger-older"
        ${ledger.loadingMore ? 'disabled' : ''}>${ledger.loadingMore ? 'Loading…' : 'Older entries'}</button></div>` : ''}`;
  }

  function renderTokens() {
    const box = el.querySelector('[data-tokens]');
    if (!box) return;
    if (!tokens.loaded) { box.innerHTML = html`<p class="muted loading">Loading tokens…</p>`; return; }
    if (tokens.error) {
      box.innerHTML = html`<div class="notice error" role="alert"><strong>The tokens could not be loaded.</strong> ${tokens.error.message}</div>`;
      return;
    }
    box.innerHTML = html`<div class="table-wrap"><table class="data tokens" data-testid="tokens">
      <thead><tr><th>Name</th><th>Scopes</th><th>Token</th><th>Created</th><th>Last used</th><th>State</th><th><span class="sr-only">Actions</span></th></tr></thead>
      <tbody>${tokens.list.map((t) => tokenRow(t, {
        confirming: tokens.confirming === t.id, revoking: tokens.revoking && tokens.confirming === t.id,
        error: tokens.rowError?.id === t.id ? tokens.rowError.message : null,
      }))}</tbody></table></div>`;
  }

  function renderOrgs() {
    const box = el.querySelector('[data-orgs]');
    if (!box) return;
    const orgs = session.orgs ?? [];
    setHtml(box, orgs.length ? html`<div class="table-wrap"><table class="data orgs" data-testid="orgs">
        <thead><tr><th>Name</th><th>Your role</th><th class="num">Credits</th><th><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>${orgs.map((o) => orgRow(o, o.name === org.open))}</tbody></table></div>`
      : html`<div class="empty" data-testid="orgs-empty"><p>You belong to no organisation yet. Its members share its credits:
          they fund it with transfers and bill jobs to it.</p></div>`);
    setHtml(el.querySelector('[data-org-names]'), html`${orgs.map((o) => html`<option value="${o.name}"></option>`)}`);
    renderOrg();
  }

  // The open organisation: the panel is drawn again when another one opens or the role changes
  // (its form keeps what is typed meanwhile); its balance and members follow in place.
  function renderOrg() {
    const box = el.querySelector('[data-org]');
    if (!box) return;
    if (!org.open) {
      org.drawnFor = null;
      box.replaceChildren();
      return;
    }
    const mine = (session.orgs ?? []).find((o) => o.name === org.open);
    const owner = (mine?.role ?? org.data?.members?.find((m) => m.account === session.account?.name)?.role) === 'owner';
    const key = `${org.open}|${owner}`;
    if (org.drawnFor !== key) {
      org.drawnFor = key;
      box.innerHTML = html`<article class="org-panel" id="org-panel" data-testid="org-panel" data-org-name="${org.open}" aria-labelledby="h-org-open">
        <header class="org-head"><h3 id="h-org-open">${org.open}</h3>
          <span class="org-balance">Balance <strong data-testid="org-panel-balance" data-balance></strong></span></header>
        <div data-members></div>
        ${owner ? memberForm(org.open) : html`<p class="muted small" data-testid="member-owners-only">Only an owner of ${org.open} adds members.</p>`}
        <div data-member-result aria-live="polite"></div>
      </article>`;
    }
    const balance = mine?.balance ?? org.data?.balance;
    setHtml(box.querySelector('[data-balance]'), balance == null ? '–' : credits(balance));
    setHtml(box.querySelector('[data-members]'), org.data ? membersList(org.data)
      : org.error ? html`<div class="notice error" role="alert"><strong>Its members could not be loaded.</strong> ${org.error.message}</div>`
        : html`<p class="muted loading">Loading its members…</p>`);
    const form = box.querySelector('[data-add-member]');
    if (form) markField(form, ['account', 'role'], org.member?.field);
    setHtml(box.querySelector('[data-member-result]'), formResult(org.member, 'member'));
  }

  function renderTransfer() {
    const form = el.querySelector('[data-transfer]');
    if (!form) return;
    markField(form, ['to', 'credits', 'memo'], transfer?.field);
    setHtml(el.querySelector('[data-transfer-result]'), formResult(transfer, 'transfer'));
  }

  function renderSecret() {
    const box = el.querySelector('[data-new-secret]');
    if (!box) return;
    box.innerHTML = secret ? secretOnce(secret.secret, {
      title: html`Token “${secret.name}” created`,
      lead: html`Scopes: ${secret.scopes.join(', ') || 'none'}. Use it as <code>Authorization: Bearer …</code> or <code>POTLUCK_TOKEN</code>.`,
      action: html`<button type="button" data-secret-done data-testid="secret-done">Done</button>`,
      testid: 'token-secret',
    }) : '';
  }

  function renderPage() {
    const mayGive = new Set(session.tokenInfo?.scopes ?? []);
    el.innerHTML = html`<header class="page-head account-head" data-head></header>
      <section class="panel" aria-labelledby="h-ledger">
        <header class="panel-head"><h2 id="h-ledger">Ledger</h2><span class="muted small">every movement of credits, newest first</span></header>
        <div data-ledger></div>
      </section>
      <section class="panel" aria-labelledby="h-orgs">
        <header class="panel-head"><h2 id="h-orgs">Organisations</h2><span class="muted small">wallets that members share and bill jobs to</span></header>
        <div data-orgs></div>
        <div data-org></div>
        <form class="inline-form org-create" data-create-org data-testid="org-create" novalidate>
          <div class="field">
            <label for="org-name">New organisation</label>
            <input id="org-name" name="name" type="text" data-main autocomplete="off" autocapitalize="none" spellcheck="false" maxlength="64"
              placeholder="my-lab" aria-describedby="org-name-hint org-name-error" data-testid="org-name">
            <span class="hint" id="org-name-hint">Lowercase letters, digits and single hyphens. You are its first owner; it starts with no credits.</span>
            <span class="field-error" id="org-name-error" data-field-error data-testid="org-create-error" role="alert" hidden></span>
          </div>
          <button type="submit" class="primary" data-testid="org-create-submit">Create organisation</button>
        </form>
      </section>
      <section class="panel" aria-labelledby="h-transfer">
        <header class="panel-head"><h2 id="h-transfer">Send credits</h2><span class="muted small">from your balance to an account or an organisation</span></header>
        <form class="inline-form transfer-form" data-transfer data-testid="transfer-form" novalidate>
          <div class="field">
            <label for="transfer-to">To</label>
            <input id="transfer-to" name="to" type="text" list="transfer-orgs" autocomplete="off" autocapitalize="none" spellcheck="false" maxlength="64"
              placeholder="an account or organisation" data-testid="transfer-to">
            <datalist id="transfer-orgs" data-org-names></datalist>
          </div>
          <div class="field">
            <label for="transfer-credits">Credits</label>
            <input id="transfer-credits" name="credits" type="text" inputmode="decimal" autocomplete="off" placeholder="10" data-testid="transfer-credits">
          </div>
          <div class="field memo-field">
            <label for="transfer-memo">Memo <span class="muted small">optional</span></label>
            <input id="transfer-memo" name="memo" type="text" maxlength="1024" autocomplete="off" placeholder="for the lab’s jobs" data-testid="transfer-memo">
          </div>
          <button type="submit" class="primary" data-testid="transfer-submit">Send credits</button>
        </form>
        <div data-transfer-result aria-live="polite"></div>
      </section>
      <section class="panel" aria-labelledby="h-tokens">
        <header class="panel-head"><h2 id="h-tokens">API tokens</h2><span class="muted small">the daemon keeps only their hashes</span></header>
        <div data-new-secret></div>
        <form class="token-create" data-create novalidate data-testid="token-create">
          <div class="field">
            <label for="token-name">New token</label>
            <input id="token-name" name="name" type="text" data-main maxlength="64" autocomplete="off" spellcheck="false" placeholder="laptop"
              aria-describedby="token-name-error" data-testid="token-name">
            <span class="field-error" id="token-name-error" data-field-error data-testid="token-create-error" role="alert" hidden></span>
          </div>
          <fieldset class="scopes"><legend>Scopes</legend>
            ${SCOPES.filter(([s]) => s !== 'admin' || mayGive.has('admin')).map(([s, what]) => html`<label class="scope" title="${mayGive.has(s) ? what : `this browser's token lacks ${s}, so it cannot give it`}">
              <input type="checkbox" name="scope" value="${s}" data-testid="scope-${s}" ${s === 'read' && mayGive.has(s) ? 'checked' : ''} ${mayGive.has(s) ? '' : 'disabled'}>
              <span><strong>${s}</strong> <span class="muted small">${what}</span></span></label>`)}
          </fieldset>
          <button type="submit" class="primary" data-testid="token-create-submit">Create token</button>
        </form>
        <div data-tokens></div>
      </section>`;
    renderHead();
    renderLedger();
    renderOrgs();
    renderTransfer();
    renderTokens();
    renderSecret();
  }

  async function loadLedger() {
    try {
      const page = await api.ledger({ limit: 50 });
      ledger.entries = page.entries ?? [];
      ledger.next = page.next_cursor ?? null;
      ledger.error = null;
    } catch (e) {
      ledger.error = e;
    }
    ledger.loaded = true;
    renderLedger();
  }

  async function olderLedger() {
    if (ledger.next == null || ledger.loadingMore) return;
    ledger.loadingMore = true;
    renderLedger();
    try {
      const page = await api.ledger({ limit: 50, cursor: ledger.next });
      ledger.entries = ledger.entries.concat(page.entries ?? []);
      ledger.next = page.next_cursor ?? null;
      ledger.error = null;
    } catch (e) {
      ledger.error = e;
    }
    ledger.loadingMore = false;
    renderLedger();
  }

  async function loadTokens() {
    try {
      tokens.list = await api.tokens();
      tokens.error = null;
    } catch (e) {
      tokens.error = e;
    }
    tokens.loaded = true;
    renderTokens();
  }

  // One request at a time; another reason to read it meanwhile asks for one more.
  let loadingOrg = false;
  let orgAgain = false;
  async function loadOrg() {
    if (!org.open) return;
    if (loadingOrg) { orgAgain = true; return; }
    loadingOrg = true;
    orgAgain = false;
    const name = org.open;
    try {
      const data = await api.org(name);
      if (org.open === name) { org.data = data; org.error = null; }
    } catch (e) {
      if (org.open === name) org.error = e;
    }
    loadingOrg = false;
    renderOrg();
    if (orgAgain) loadOrg();
  }

  function openOrg(name) {
    org.open = name;
    org.data = null;
    org.error = null;
    org.member = null;
    renderOrgs();
    loadOrg();
  }

  async function createOrg(form) {
    const name = form.elements.name.value.trim();
    setFieldError(form, null);
    try {
      const made = await busy(form, 'Creating…', () => api.createOrg(name));
      form.elements.name.value = '';
      await refreshAccount();  // the list of organisations, with this one and its role
      openOrg(made.name);
    } catch (err) {
      setFieldError(form, err.message);
      form.elements.name.focus();
    }
  }

  async function addMember(form) {
    const account = form.elements.account.value.trim();
    const role = form.elements.role.value;
    const name = org.open;
    if (!account) {
      org.member = { error: 'Type the name of the account to add.', field: 'account' };
      renderOrg();
      form.elements.account.focus();
      return;
    }
    org.member = null;
    try {
      const data = await busy(form, 'Adding…', () => api.addMember(name, account, role));
      if (org.open !== name) return;
      org.data = data;
      org.member = { text: html`<strong>${account}</strong> is ${role === 'owner' ? 'an owner' : 'a member'} of ${name}.` };
      form.elements.account.value = '';
      if (account === session.account?.name) refreshAccount();  // a role of one's own: the list says it
    } catch (err) {
      if (org.open !== name) return;
      org.member = { error: err.message, field: err.code === 'unknown_account' ? 'account' : err.code === 'bad_member' ? 'role' : null };
    }
    renderOrg();
    if (org.member.field) form.elements[org.member.field].focus();
  }

  async function sendCredits(form) {
    const to = form.elements.to.value.trim();
    const amount = parseCredits(form.elements.credits.value);
    const memo = form.elements.memo.value.trim();
    if (!to) transfer = { error: 'Type the name of the account or organisation to send credits to.', field: 'to' };
    else if (amount.problem) transfer = { error: `The amount ${amount.problem}.`, field: 'credits' };
    else if (amount.micro === 0) transfer = { error: 'The amount must be more than 0 credits.', field: 'credits' };
    else transfer = null;
    if (transfer) {
      renderTransfer();
      form.elements[transfer.field].focus();
      return;
    }
    renderTransfer();
    try {
      const sent = await busy(form, 'Sending…', () => api.transfer({ to, amount: amount.micro, memo }));
      transfer = { text: html`Sent <strong data-testid="transfer-amount">${credits(sent.amount)}</strong> to <strong>${sent.to}</strong>:
        ledger entry #${sent.entry}${memo ? html`, “${memo}”` : ''}.` };
      form.elements.credits.value = '';
      form.elements.memo.value = '';
      refreshAccount();  // the balances: the header's, and the organisation's when it was one
      loadLedger();
      if (sent.to === org.open) loadOrg();
    } catch (err) {
      // A 402 gets a lead that says what kind of refusal it is, and the two amounts in credits.
      // One line of markup: the box keeps the message's own line breaks (white-space: pre-wrap).
      const stop = /[.!?]$/.test(err.message) ? '' : '.';
      const balance = session.account ? html`; your balance is ${credits(session.account.balance)}` : '';
      transfer = {
        error: err.status === 402 ? html`<strong>Not enough credits:</strong> ${err.message}${stop} You asked to send ${credits(amount.micro)}${balance}.` : err.message,
        field: transferField(err),
      };
    }
    renderTransfer();
    if (transfer.field) form.elements[transfer.field].focus();
  }

  el.addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.target;
    if (form.matches('[data-create-org]')) { createOrg(form); return; }
    if (form.matches('[data-add-member]')) { addMember(form); return; }
    if (form.matches('[data-transfer]')) { sendCredits(form); return; }
    if (!form.matches('[data-create]')) return;
    const name = form.elements.name.value.trim();
    const scopes = [...form.querySelectorAll('input[name="scope"]:checked')].map((c) => c.value);
    setFieldError(form, null);
    try {
      const answer = await busy(form, 'Creating…', () => api.createToken(name, scopes));
      secret = answer.token;
      form.elements.name.value = '';
      renderSecret();
      el.querySelector('[data-new-secret] [data-copy]')?.focus();
      loadTokens();
    } catch (err) {
      setFieldError(form, err.message);
      form.elements.name.focus();
    }
  });

  el.addEventListener('input', (e) => {
    const form = e.target.closest('form');
    if (form?.querySelector('[data-field-error]')) setFieldError(form, null);
    if (form?.matches('[data-transfer]') && transfer?.error) { transfer = null; renderTransfer(); }
    if (form?.matches('[data-add-member]') && org.member?.error) { org.member = null; renderOrg(); }
  });

  el.addEventListener('click', async (e) => {
    const t = e.target;
    if (t.closest('[data-signout]')) {
      signOut();
      location.hash = '#/';
      return;
    }
    const copy = t.closest('[data-copy]');
    if (copy) { copySecret(copy); return; }
    if (t.closest('[data-secret-done]')) { secret = null; renderSecret(); return; }
    if (t.closest('[data-older]')) { olderLedger(); return; }
    const open = t.closest('[data-open-org]');
    if (open) {
      if (org.open === open.dataset.openOrg) { org.open = null; renderOrgs(); } else openOrg(open.dataset.openOrg);
      el.querySelector(`[data-open-org="${CSS.escape(open.dataset.openOrg)}"]`)?.focus();
      return;
    }
    const revoke = t.closest('[data-revoke]');
    if (revoke) {
      tokens.confirming = Number(revoke.dataset.revoke);
      tokens.rowError = null;
      renderTokens();
      el.querySelector('[data-revoke-no]')?.focus();
      return;
    }
    if (t.closest('[data-revoke-no]')) { tokens.confirming = null; renderTokens(); return; }
    const yes = t.closest('[data-revoke-yes]');
    if (yes) {
      const id = Number(yes.dataset.revokeYes);
      const mine = id === session.tokenInfo?.id;
      tokens.revoking = true;
      renderTokens();
      try {
        await api.revokeToken(id);
        tokens.confirming = null;
        if (mine) {
          signOut();
          location.hash = '#/signin';
          return;
        }
      } catch (err) {
        tokens.rowError = { id, message: err.message };
      }
      tokens.revoking = false;
      loadTokens();
    }
  });

  let started = false;
  const start = () => {
    if (started) return;
    if (session.state === 'signed-out') {
      el.innerHTML = html`<div class="empty" data-testid="account-signed-out"><h1>Not signed in</h1>
        <p><a href="#/signin">Sign in or sign up</a> to see your credits, your ledger and your API tokens.</p></div>`;
      return;
    }
    started = true;
    renderPage();
    refreshAccount();
    loadLedger();
    loadTokens();
  };
  const off = onSession(() => {
    if (!started) { start(); return; }
    renderHead();
    renderOrgs();
  });
  ready.then(start);
  return off;
}
