// The operator's page (#/admin), for a token with the admin scope: the one in the daemon's
// admin-token file (app.js shows the link only then). The local operator's session has no admin
// scope, on purpose (daemon/market/operator.hpp), so the page says where that token is.
//
//   - the books: GET /admin/audit, which checks every balance against the ledger and escrow
//     against the unfinished jobs, shown as "the books balance" or the list of problems, with
//     the amounts and counts it checked and a button to check again
//   - a grant: credits out of the mint to an account (POST /admin/grants), with the answer or
//     the daemon's message next to the field it is about; the books are checked again after
//   - what is flagged (GET /admin/flagged): connected workers whose results disagreed with a
//     trusted worker's when checked, that dropped jobs or ran them implausibly fast, each flag in
//     the daemon's words; and the donors whose checked results ever disagreed. Read again with the
//     books ("Check again"), when workers connect or leave and when jobs end (a check ends with
//     its job)
//   - the market's settings (GET /admin/settings), read-only: potluckd's flags set them
//
// The view follows app.js's shape: a function (element) → cleanup.

import { api, debounced, on, TERMINAL } from './api.js';
import { fmtCredits, fmtInt, html, parseCredits, plural, timeAgo } from './format.js';
import { hasScope, onSession, ready, refreshAccount, session } from './session.js';

const percent = new Intl.NumberFormat(undefined, { maximumFractionDigits: 4 });

// [field, what, value → markup, the flag that sets it, what it means]
const MARKET_SETTINGS = [
  ['starter_grant', 'Starter grant', (v) => credits(v), '--starter-grant', 'what each new account gets'],
  ['signup', 'Sign-up', (v) => v, '--signup', 'open: anyone may create an account; closed: nobody'],
  ['free_tier', 'Free tier', (v) => (v ? 'on' : 'off'), '--free-tier', 'jobs may bid 0 and run on workers that take free jobs'],
  ['fee_ppm', 'Operator fee', (v) => `${percent.format(v / 10_000)} %`, '--fee-percent', 'the operator’s share of each charge'],
  ['anonymous_workers', 'Anonymous workers', (v) => (v ? 'accepted' : 'refused'), '--anonymous-workers', 'workers that give no donor token'],
  ['rate_limit', 'Rate limit', (v) => (v ? `${fmtInt(v)} requests a second` : 'none'), '--rate-limit', 'per API token, in bursts of ten times that'],
  ['max_attempts', 'Attempts', (v) => plural(v, 'dispatch', 'dispatches'), '--max-attempts', 'of a job before it fails'],
  ['check_percent', 'Checks', (v) => (v ? `${percent.format(v)} % of results` : 'none'), '--check-percent',
    'the share of a new donor’s results run again on the operator’s own workers and compared before the job ends'],
  ['trusted_after', 'Trusted after', (v) => `${plural(v, 'agreement')} in a row`, '--trusted-after',
    'a donor whose results agreed this often in a row is checked at a tenth of the rate'],
];

function credits(micro) {
  return html`${fmtCredits(micro)} <span class="unit">credits</span>`;
}

function errorBox(e, what) {
  return html`<div class="notice error" role="alert"><strong>${what}</strong> ${e.message}</div>`;
}

function auditResult(a, checkedAt) {
  const problems = a.problems ?? [];
  const ok = a.ok && !problems.length;
  return html`<div class="verdict ${ok ? 'ok' : 'bad'}" data-testid="audit-status" data-ok="${ok ? 'true' : 'false'}">
      <span class="verdict-mark" aria-hidden="true">${ok ? '✓' : '!'}</span>
      <div><strong>${ok ? 'The books balance.' : `The books do not balance: ${plural(problems.length, 'problem')}.`}</strong>
        <p class="muted small">${ok ? 'Every balance matches the ledger, nothing but the mint is below zero, and escrow holds exactly what the unfinished jobs reserved.'
          : 'Each line names the accounts or jobs and the amounts.'} Checked ${timeAgo(checkedAt)}.</p></div>
    </div>
    ${ok ? '' : html`<ul class="problems" data-testid="audit-problems">${problems.map((p) => html`<li>${p}</li>`)}</ul>`}
    <dl class="facts grid">
      <div><dt>Minted</dt><dd data-testid="audit-minted">${credits(a.minted)}</dd></div>
      <div><dt>Escrow</dt><dd data-testid="audit-escrow">${credits(a.escrow)}</dd></div>
      <div><dt>Reserved by unfinished jobs</dt><dd>${credits(a.reserved_by_unfinished_jobs)}</dd></div>
      <div><dt>Sum of balances</dt><dd>${credits(a.sum_of_balances)} <span class="sub muted small">the mint included: 0 when sound</span></dd></div>
      <div><dt>Accounts checked</dt><dd>${fmtInt(a.accounts_checked)}</dd></div>
      <div><dt>Ledger entries checked</dt><dd>${fmtInt(a.entries_checked)}</dd></div>
      <div><dt>Jobs checked</dt><dd data-testid="audit-jobs">${fmtInt(a.jobs_checked)}</dd></div>
    </dl>`;
}

// ------------------------------------------------------------------ flagged
function countPair(good, bad, goodWord, badWord) {
  return html`${fmtInt(good)} ${goodWord} · <span class="${bad ? 'text-failed' : ''}">${fmtInt(bad)} ${badWord}</span>`;
}

function flaggedWorkerRow(w) {
  return html`<tr data-testid="flagged-worker" data-worker-id="${w.id}" data-worker-name="${w.name}">
    <td data-label="Worker"><strong>${w.name}</strong> <span class="muted small">${w.id}</span></td>
    <td data-label="Owner" data-testid="flagged-owner">${w.owner ?? html`<span class="muted">nobody: no donor token</span>`}</td>
    <td data-label="Flags"><ul class="flags" data-testid="flagged-flags">${(w.flags ?? []).map((f) => html`<li>${f}</li>`)}</ul></td>
    <td data-label="Checks" class="num" data-testid="flagged-checks">${countPair(w.checks_passed, w.checks_failed, 'passed', 'failed')}</td>
    <td data-label="Jobs" class="num" data-testid="flagged-jobs">${countPair(w.jobs_done, w.jobs_failed, 'done', 'failed')}</td>
  </tr>`;
}

function flaggedDonorRow(d) {
  return html`<tr data-testid="flagged-donor" data-account="${d.account ?? ''}">
    <td data-label="Donor"><strong>${d.account ?? html`<span class="muted">a closed account</span>`}</strong></td>
    <td data-label="Checked" class="num" data-testid="donor-checked">${fmtInt(d.checked)}</td>
    <td data-label="Agreed" class="num" data-testid="donor-agreed">${fmtInt(d.agreed)}</td>
    <td data-label="Disagreed" class="num text-failed" data-testid="donor-disagreed">${fmtInt(d.disagreed)}</td>
    <td data-label="Streak" class="num" data-testid="donor-streak" title="agreements in a row since the last disagreement">${fmtInt(d.streak)}</td>
    <td data-label="Last disagreed" data-testid="donor-last">${d.last_disagreement_at ? timeAgo(d.last_disagreement_at) : html`<span class="muted">–</span>`}</td>
  </tr>`;
}

function flaggedResult(f, checkedAt) {
  const workers = f.workers ?? [];
  const donors = f.donors ?? [];
  if (!workers.length && !donors.length) {
    return html`<div class="verdict ok" data-testid="flagged-empty">
      <span class="verdict-mark" aria-hidden="true">✓</span>
      <div><strong>Nothing flagged: every checked result agreed.</strong>
        <p class="muted small">A connected worker is listed here when one of its results disagreed with a trusted worker’s, or when it
          dropped jobs or ran them in implausibly little time; a donor, once any of its checked results disagreed. Checked ${timeAgo(checkedAt)}.</p></div>
    </div>`;
  }
  return html`${workers.length ? html`<h3 class="sub-head">Workers <span class="muted small">connected now</span></h3>
      <div class="table-wrap"><table class="data flagged-workers" data-testid="flagged-workers">
        <thead><tr><th>Worker</th><th>Owner</th><th>Flags</th><th class="num">Checks</th><th class="num">Jobs</th></tr></thead>
        <tbody>${workers.map(flaggedWorkerRow)}</tbody></table></div>`
      : html`<p class="muted small" data-testid="flagged-workers-none">No connected worker is flagged.</p>`}
    ${donors.length ? html`<h3 class="sub-head">Donors whose results disagreed</h3>
      <div class="table-wrap"><table class="data flagged-donors" data-testid="flagged-donors">
        <thead><tr><th>Donor</th><th class="num">Checked</th><th class="num">Agreed</th><th class="num">Disagreed</th>
          <th class="num">Streak</th><th>Last disagreed</th></tr></thead>
        <tbody>${donors.map(flaggedDonorRow)}</tbody></table></div>` : ''}
    <p class="muted small settings-note">A checked result that disagreed was not paid: the trusted worker’s result stands and its
      owner is paid. Checked ${timeAgo(checkedAt)}.</p>`;
}

function marketTable(s) {
  return html`<div class="table-wrap"><table class="data market-settings" data-testid="market-settings">
      <thead><tr><th>Setting</th><th>Now</th><th>Flag</th><th>Meaning</th></tr></thead>
      <tbody>${MARKET_SETTINGS.map(([key, what, show, flag, meaning]) => html`<tr data-setting="${key}">
        <td data-label="Setting"><strong>${what}</strong></td>
        <td data-label="Now" data-testid="setting-${key}">${key in s ? show(s[key]) : html`<span class="muted">–</span>`}</td>
        <td data-label="Flag"><code>${flag}</code></td>
        <td data-label="Meaning" class="memo">${meaning}</td></tr>`)}</tbody></table></div>
    <p class="muted small settings-note">These are set with potluckd’s flags when it starts, like
      <code>potluckd --fee-percent 5 --signup closed</code>: restart it with other flags to change them.</p>`;
}

// The field a refusal of the grant is about: the account for an unknown name, else the amount.
function grantField(e) {
  return e.code === 'unknown_account' ? 'account' : e.code === 'bad_request' || e.code === 'bad_amount' ? 'credits' : null;
}

export function adminPage(el) {
  document.title = 'Admin · Potluck';
  const audit = { result: null, at: 0, error: null, running: false };
  const market = { settings: null, error: null };
  const flagged = { result: null, at: 0, error: null };
  let grant = null;  // {ok, text} or {error, field} for the last grant
  let startedFor = null;

  function renderAudit() {
    const box = el.querySelector('[data-audit]');
    if (!box) return;
    const button = el.querySelector('[data-audit-run]');
    button.disabled = audit.running;
    button.textContent = audit.running ? 'Checking…' : 'Check again';
    if (!audit.result) {
      box.innerHTML = audit.error ? errorBox(audit.error, 'The books could not be checked.') : html`<p class="muted loading">Checking the books…</p>`;
      return;
    }
    box.innerHTML = html`${audit.error ? errorBox(audit.error, 'The books could not be checked again.') : ''}${auditResult(audit.result, audit.at)}`;
  }

  function renderGrant() {
    const box = el.querySelector('[data-grant-result]');
    if (!box) return;
    const form = el.querySelector('[data-grant]');
    for (const name of ['account', 'credits']) {
      if (grant?.field === name) form.elements[name].setAttribute('aria-invalid', 'true');
      else form.elements[name].removeAttribute('aria-invalid');
    }
    box.innerHTML = !grant ? ''
      : grant.error ? html`<p class="form-error" role="alert" data-testid="grant-error">${grant.error}</p>`
        : html`<div class="notice ok" role="status" data-testid="grant-result">${grant.text}</div>`;
  }

  function renderFlagged() {
    const box = el.querySelector('[data-flagged]');
    if (!box) return;
    if (!flagged.result) {
      box.innerHTML = flagged.error ? errorBox(flagged.error, 'What is flagged could not be read.') : html`<p class="muted loading">Reading what is flagged…</p>`;
      return;
    }
    box.innerHTML = html`${flagged.error ? errorBox(flagged.error, 'What is flagged could not be read again.') : ''}${flaggedResult(flagged.result, flagged.at)}`;
  }

  function renderMarket() {
    const box = el.querySelector('[data-market]');
    if (!box) return;
    box.innerHTML = market.settings ? marketTable(market.settings)
      : market.error ? errorBox(market.error, 'The market settings could not be read.') : html`<p class="muted loading">Reading the settings…</p>`;
  }

  async function runAudit() {
    if (audit.running) return;
    audit.running = true;
    renderAudit();
    try {
      audit.result = await api.audit();
      audit.at = Date.now();
      audit.error = null;
    } catch (e) {
      audit.error = e;
    }
    audit.running = false;
    renderAudit();
  }

  // One request at a time; a reason to read again that comes meanwhile asks for one more.
  let loadingFlagged = false;
  let flaggedAgain = false;
  async function loadFlagged() {
    if (!startedFor?.startsWith('admin:')) return;
    if (loadingFlagged) { flaggedAgain = true; return; }
    loadingFlagged = true;
    flaggedAgain = false;
    try {
      flagged.result = await api.flagged();
      flagged.at = Date.now();
      flagged.error = null;
    } catch (e) {
      flagged.error = e;
    }
    loadingFlagged = false;
    renderFlagged();
    if (flaggedAgain) loadFlagged();
  }
  const soonFlagged = debounced(loadFlagged, 300, 3000);

  async function loadMarket() {
    try {
      market.settings = await api.marketSettings();
      market.error = null;
    } catch (e) {
      market.error = e;
    }
    renderMarket();
  }

  async function submitGrant(form) {
    const account = form.elements.account.value.trim();
    const amount = parseCredits(form.elements.credits.value);
    const memo = form.elements.memo.value.trim();
    if (!account) grant = { error: 'Type the name of the account to grant credits to.', field: 'account' };
    else if (amount.problem) grant = { error: `The amount ${amount.problem}.`, field: 'credits' };
    else if (amount.micro === 0) grant = { error: 'The amount must be more than 0 credits.', field: 'credits' };
    else grant = null;
    if (grant) {
      renderGrant();
      form.elements[grant.field].focus();
      return;
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    button.textContent = 'Granting…';
    try {
      const { entry } = await api.grant({ account, amount: amount.micro, memo });
      grant = { text: html`Granted <strong data-testid="grant-amount">${credits(entry.amount)}</strong> to <strong>${account}</strong>:
        ledger entry #${entry.id}, “${entry.memo}”.` };
      form.elements.credits.value = '';
      form.elements.memo.value = '';
      if (account === session.account?.name) refreshAccount();  // the header's balance
      runAudit();  // the mint grew: the books again
    } catch (e) {
      grant = { error: e.message, field: grantField(e) };
    }
    button.disabled = false;
    button.textContent = 'Grant credits';
    renderGrant();
    if (grant.field) form.elements[grant.field].focus();
  }

  function render() {
    el.innerHTML = html`<header class="page-head"><h1>Admin</h1>
        <p class="muted">The operator’s view of the market: whether the books balance, the workers and donors whose results did not
          hold up, credits granted out of the mint, and the settings potluckd runs with.</p></header>
      <section class="panel" aria-labelledby="h-audit">
        <header class="panel-head"><h2 id="h-audit">The books</h2>
          <button type="button" class="secondary small-button" data-audit-run data-testid="audit-rerun">Check again</button></header>
        <div data-audit></div>
      </section>
      <section class="panel" aria-labelledby="h-flagged">
        <header class="panel-head"><h2 id="h-flagged">Flagged</h2><span class="muted small">workers and donors to look at; read again with the books</span></header>
        <div data-flagged data-testid="flagged"></div>
      </section>
      <section class="panel" aria-labelledby="h-grant">
        <header class="panel-head"><h2 id="h-grant">Grant credits</h2><span class="muted small">new credits, out of the mint, into one account</span></header>
        <form class="grant-form" data-grant data-testid="grant-form" novalidate>
          <div class="field">
            <label for="grant-account">Account</label>
            <input id="grant-account" name="account" type="text" autocomplete="off" autocapitalize="none" spellcheck="false" maxlength="64"
              placeholder="alice" data-testid="grant-account">
          </div>
          <div class="field">
            <label for="grant-credits">Credits</label>
            <input id="grant-credits" name="credits" type="text" inputmode="decimal" autocomplete="off" placeholder="100" data-testid="grant-credits">
          </div>
          <div class="field memo-field">
            <label for="grant-memo">Memo <span class="muted small">optional</span></label>
            <input id="grant-memo" name="memo" type="text" maxlength="1024" autocomplete="off" placeholder="granted by ${session.account?.name ?? 'the operator'}"
              data-testid="grant-memo">
          </div>
          <button type="submit" class="primary" data-testid="grant-submit">Grant credits</button>
        </form>
        <div data-grant-result aria-live="polite"></div>
      </section>
      <section class="panel" aria-labelledby="h-market">
        <header class="panel-head"><h2 id="h-market">Market settings</h2><span class="muted small">read-only: potluckd’s flags</span></header>
        <div data-market></div>
      </section>`;
    renderAudit();
    renderFlagged();
    renderGrant();
    renderMarket();
  }

  el.addEventListener('click', (e) => {
    if (!e.target.closest('[data-audit-run]')) return;
    runAudit();
    loadFlagged();
  });
  el.addEventListener('submit', (e) => {
    e.preventDefault();
    if (e.target.matches('[data-grant]')) submitGrant(e.target);
  });
  el.addEventListener('input', (e) => {
    if (!grant?.field || !e.target.closest('[data-grant]')) return;
    grant = null;
    renderGrant();
  });

  const start = () => {
    if (session.state === 'unknown') return;
    const who = session.state === 'signed-out' ? 'out' : hasScope('admin') ? `admin:${session.account?.name ?? ''}` : 'user';
    if (who === startedFor) return;
    startedFor = who;
    if (who === 'out') {
      el.innerHTML = html`<div class="empty" data-testid="admin-denied"><h1>Admin</h1>
        <p>This page is the operator’s. <a href="#/signin">Sign in</a> with the token in the daemon’s <code>admin-token</code> file,
          or, on the daemon’s machine, continue as the local operator.</p></div>`;
      return;
    }
    if (who === 'user') {
      el.innerHTML = html`<div class="empty" data-testid="admin-denied"><h1>Admin</h1>
        <p>This page is the operator’s: the token this browser uses${session.tokenInfo ? html` (<strong>${session.tokenInfo.name}</strong>)` : ''}
          lacks the <code>admin</code> scope${session.local ? ', as the local session’s always does' : ''}.
          <a href="#/signin">Sign in</a> with the token in the daemon’s <code>admin-token</code> file
          (in its <code>--data-dir</code>) to see it.</p></div>`;
      return;
    }
    grant = null;
    flagged.result = null;
    flagged.error = null;
    render();
    runAudit();
    loadFlagged();
    loadMarket();
  };
  const offs = [
    onSession(start),
    on('worker', (e) => { if (e.event !== 'settings') soonFlagged(); }),
    on('job', (e) => { if (TERMINAL.has(e.state)) soonFlagged(); }),
    on('resync', soonFlagged),
  ];
  ready.then(start);
  return () => offs.forEach((f) => f());
}
