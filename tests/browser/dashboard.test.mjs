// The dashboard in a real browser: Debian's Chromium driven by playwright-core, against a real
// potluckd and potluck-worker on free ports with a temporary data folder.
//
//   POTLUCK_BUILD_DIR       where bin/potluckd and bin/potluck-worker are (default: ./build)
//   POTLUCK_PLUGIN_DIR      the worker's plugins (default: BUILD/lib/potluck/plugins)
//   POTLUCK_SOURCE_DIR      the source tree; the daemon serves SOURCE/web (default: ../..)
//   POTLUCK_SCREENSHOT_DIR  where the screenshots go (default: BUILD/screenshots)
//   POTLUCK_CHROMIUM        the browser (default: /usr/bin/chromium)
//
// The tests run in order and share one daemon, one worker and one browser page. Every wait is
// on a condition of the page or the daemon, with a deadline; nothing sleeps for a fixed time.
// The daemon runs with --local-session, so the page starts signed in as the local operator (who
// may submit); the account tests then sign up, sign out and sign in again with a token. The
// first worker donates for the operator and asks nothing (its jobs are free); the market test at
// the end starts a second one that asks 2 credits per million work units for a new account,
// whose donor page, leaderboard row, jobs and grant from the admin page the last tests check.
// The signed-up account then makes an organisation from its account page, adds the priced
// donor to it, funds it with a transfer and bills a job to it; a third account's worker, which
// asks 1 credit per million, joins the priced one to run a job with two replicas.
// An account then publishes models through the hub's API (blobs, then commits): the models page
// lists, searches and pages them; a model's page renders its card, files and revisions, and shows
// a card's HTML as text.
// Models then run from their pages on a daemon of their own, whose one worker has the torch
// plugin: tiny TorchScript models that examples/make_test_models.py makes when the tests start
// classify two lines, generate text that streams into the page, and fail to load; a model whose
// format no worker has waits, says why, and is cancelled; the daemon's 422 shows on the form.
// Without the torch plugin (LibTorch not found at configure time) or PyTorch for the script, the
// tests that need them are skipped and say why.
// The last test starts a second daemon that checks every donor's result (--check-percent 100),
// with the operator's worker as the trusted reference and a donor's worker that lies, and reads
// the admin page's flags there. Whatever happens, the processes, the browser and the temporary
// folders go at the end.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = path.resolve(process.env.POTLUCK_SOURCE_DIR || path.join(here, '..', '..'));
const buildDir = path.resolve(process.env.POTLUCK_BUILD_DIR || path.join(sourceDir, 'build'));
const pluginDir = path.resolve(process.env.POTLUCK_PLUGIN_DIR || path.join(buildDir, 'lib', 'potluck', 'plugins'));
const shotDir = path.resolve(process.env.POTLUCK_SCREENSHOT_DIR || path.join(buildDir, 'screenshots'));
const chromiumPath = process.env.POTLUCK_CHROMIUM || '/usr/bin/chromium';

const WAIT_MS = 15_000;        // a page condition
const START_MS = 30_000;       // a process starting
const WORKER_NAME = 'browser-test-worker';
const PRICED_WORKER_NAME = 'browser-priced-worker';
const TRUSTED_WORKER_NAME = 'browser-trusted-worker';
const LIAR_WORKER_NAME = 'browser-liar-worker';
const SECOND_PRICED_WORKER_NAME = 'browser-priced-worker-2';
const liarPluginDir = path.join(buildDir, 'tests', 'integration', 'plugins-liar');  // integration_test_liar
const MICRO = 1_000_000;       // micro-credits per credit
// The markdown of word-lang's card, after its front matter.
const WORD_LANG_BODY = `# Word language

Tells the **language** of a word, from [the word lists](https://example.org/word-lists).

- trained on *two* word lists
- published with \`potluck models push\`

\`\`\`
potluck models push ./word-lang alice/word-lang
\`\`\`
`;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'potluck-browser-'));
const children = [];
let daemon;
let adminToken;        // the operator's token (var/admin-token): the tests' own requests use it
let base;              // http://127.0.0.1:PORT
let workersEndpoint;   // tcp://127.0.0.1:PORT
let context;
let page;
let matmulJobId;       // the job the matmul test submitted
let signedUp;          // {name, secret, jobId} of the account the sign-up test made, and the job it submitted
let pricedDonor;       // {name, secret, jobId}: the account behind the priced worker, and the job it was paid for
let lab;               // the organisation the signed-up account made
let hubAuthor;         // {name, secret, wordLang}: the account that publishes models, and its first model's revision
const SESSION_KEY = 'potluck.session';  // web/session.js keeps the token here
const pageErrors = [];
const daemonOrigins = new Set();  // the page may talk to these and nothing else

// ------------------------------------------------------------------ processes
function startProcess(name, file, args) {
  assert.ok(existsSync(file), `${file} is missing: build it first (cmake --build build)`);
  const log = path.join(tmp, `${name}.log`);
  const out = createWriteStream(log);
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const entry = { name, child, log, text: '', exited: false };
  const collect = (chunk) => { entry.text += chunk; out.write(chunk); };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  child.on('exit', (code, signal) => { entry.exited = true; entry.exit = signal ?? code; out.end(); });
  children.push(entry);
  return entry;
}

// Resolves with the match once `pattern` appears in the process's output.
function waitForOutput(entry, pattern, timeoutMs = START_MS) {
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => finish(new Error(`${entry.name}: no ${pattern} within ${timeoutMs} ms\n${entry.text.slice(-3000)}`)), timeoutMs);
    const check = () => {
      const m = pattern.exec(entry.text);
      if (m) finish(null, m);
    };
    const onExit = () => finish(new Error(`${entry.name} exited (${entry.exit}) before printing ${pattern}\n${entry.text.slice(-3000)}`));
    function finish(err, m) {
      clearTimeout(deadline);
      entry.child.stdout.off('data', check);
      entry.child.stderr.off('data', check);
      entry.child.off('exit', onExit);
      err ? reject(err) : resolve(m);
    }
    entry.child.stdout.on('data', check);
    entry.child.stderr.on('data', check);
    entry.child.on('exit', onExit);
    check();
  });
}

async function stopProcess(entry, graceMs = 5000) {
  if (entry.exited) return;
  const gone = new Promise((resolve) => entry.child.once('exit', resolve));
  entry.child.kill('SIGTERM');
  const timer = setTimeout(() => { if (!entry.exited) entry.child.kill('SIGKILL'); }, graceMs);
  await gone;
  clearTimeout(timer);
}

// Last resort when the runner itself is being stopped: no orphan daemon or worker.
function killAllNow() {
  for (const e of children) if (!e.exited) { try { e.child.kill('SIGKILL'); } catch { /* gone */ } }
}
process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAllNow(); process.exit(130); });

// Starts a potluckd on free ports with its data in TMP/`dataDir`; resolves once it listens.
async function startDaemon(name, dataDir, extraArgs = []) {
  const entry = startProcess(name, path.join(buildDir, 'bin', 'potluckd'), [
    '--http', '127.0.0.1:0', '--workers', 'tcp://127.0.0.1:*', '--data-dir', path.join(tmp, dataDir),
    '--web-dir', path.join(sourceDir, 'web'), '--heartbeat-ms', '200', ...extraArgs,
  ]);
  const [, url, workers] = await waitForOutput(entry, /listening on (http:\/\/[\d.]+:\d+).*workers on (tcp:\/\/[^,\s]+)/);
  daemonOrigins.add(new URL(url).origin);
  const tokenFile = path.join(tmp, dataDir, 'admin-token');
  return { entry, base: url, workersEndpoint: workers, tokenFile, adminToken: readFileSync(tokenFile, 'utf8').trim() };
}

// ------------------------------------------------------------------ HTTP and page helpers
async function apiPost(route, body) {
  const r = await fetch(`${base}/api/v1${route}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${adminToken}` }, body: JSON.stringify(body),
  });
  const data = await r.json();
  assert.ok(r.ok, `POST ${route}: ${r.status} ${JSON.stringify(data)}`);
  return data;
}

async function apiGet(route, at = base) {
  const r = await fetch(`${at}/api/v1${route}`);
  assert.ok(r.ok, `GET ${route}: ${r.status}`);
  return r.json();
}

// Any request, with an optional token, to this daemon or the one `at`; the status and the
// parsed answer, whatever they are.
async function apiCall(method, route, { token, body, at = base } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`${at}/api/v1${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, data: text ? JSON.parse(text) : null };
}

async function storedSession() {
  return page.evaluate((key) => localStorage.getItem(key), SESSION_KEY);
}

// Waits until the daemon says a job is in `state` (for jobs the page did not submit).
async function waitForJobState(id, states, timeoutMs = WAIT_MS, at = base) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await apiGet(`/jobs/${id}`, at);
    if (states.includes(job.state)) return job;
    if (Date.now() > deadline) assert.fail(`job ${id} is ${job.state}, expected ${states.join(' or ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// An amount of micro-credits as the page writes it (fmtCredits): in the browser's locale, up to 6 decimals.
function localeCredits(micro) {
  return page.evaluate((v) => v.toLocaleString(undefined, { maximumFractionDigits: 6 }), micro / MICRO);
}

async function screenshot(name) {
  mkdirSync(shotDir, { recursive: true });
  const file = path.join(shotDir, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

function textOf(selector) {
  return page.locator(selector).first().innerText({ timeout: WAIT_MS });
}

// Waits until the element's text includes `text`.
async function waitForText(selector, text, timeoutMs = WAIT_MS) {
  try {
    await page.waitForFunction(([sel, want]) => {
      const el = document.querySelector(sel);
      return !!el && el.textContent.includes(want);
    }, [selector, text], { timeout: timeoutMs, polling: 50 });
  } catch (e) {
    const now = await page.locator(selector).first().textContent({ timeout: 500 }).catch(() => '(no such element)');
    assert.fail(`waiting for "${text}" in ${selector}; it shows: ${String(now).trim().slice(0, 400)}`);
  }
}

// Waits until the live job list shows job `id` in `state`.
async function waitForRowState(id, state, timeoutMs = WAIT_MS) {
  const row = `[data-testid="job-row"][data-job-id="${id}"]`;
  try {
    await page.locator(`${row}[data-state="${state}"]`).waitFor({ timeout: timeoutMs });
  } catch {
    const shown = await page.locator(row).getAttribute('data-state', { timeout: 500 }).catch(() => 'no row');
    const job = await apiGet(`/jobs/${id}`);
    assert.fail(`job ${id}: waiting for its row to be ${state}; the row is ${shown}, the daemon says ${job.state}`);
  }
}

// Waits until an element's attribute has `value`.
async function waitForAttribute(selector, name, value, timeoutMs = WAIT_MS) {
  try {
    await page.waitForFunction(([sel, attr, want]) => document.querySelector(sel)?.getAttribute(attr) === want,
      [selector, name, value], { timeout: timeoutMs, polling: 50 });
  } catch {
    const now = await page.locator(selector).first().getAttribute(name, { timeout: 500 }).catch(() => '(no such element)');
    assert.fail(`waiting for ${selector} [${name}="${value}"]; it has ${now}`);
  }
}

async function noHorizontalOverflow() {
  return page.evaluate(() => {
    const doc = document.documentElement;
    const wide = [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > doc.clientWidth + 1 && !el.closest('.matrix-wrap, pre, .top nav'))
      .slice(0, 5).map((el) => `${el.tagName.toLowerCase()}.${el.className}`);
    return { scrollWidth: doc.scrollWidth, clientWidth: doc.clientWidth, wide };
  });
}

// Waits until GET /api/v1/workers lists the worker `name` and `ok(worker)` holds; returns it.
async function waitForWorker(name, ok, timeoutMs = WAIT_MS, at = base) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const w = (await apiGet('/workers', at)).workers.find((x) => x.name === name);
    if (w && ok(w)) return w;
    if (Date.now() > deadline) assert.fail(`worker ${name}: the daemon lists ${JSON.stringify(w ?? 'nothing')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Signs the page in with `token` (as a pasted token would) and opens `route`, of this daemon or
// the one `at` (whose origin has its own storage: the page goes there first).
async function openSignedInAs(token, route, at = base) {
  if (new URL(page.url()).origin !== new URL(at).origin) await page.goto(`${at}/`);
  await page.evaluate(([key, t]) => localStorage.setItem(key, JSON.stringify({ token: t })), [SESSION_KEY, token]);
  await page.goto(`${at}/${route}`);
  await page.reload();
}

// Waits until the job list shows exactly the jobs `ids`, in the daemon's order.
async function waitForJobRows(ids, timeoutMs = WAIT_MS) {
  const want = ids.map(String);
  try {
    await page.waitForFunction((w) => {
      const shown = [...document.querySelectorAll('[data-testid="job-row"]')].map((r) => r.dataset.jobId);
      return shown.length === w.length && shown.every((id, i) => id === w[i]);
    }, want, { timeout: timeoutMs, polling: 50 });
  } catch {
    const shown = await page.locator('[data-testid="job-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.jobId));
    assert.fail(`the job list shows jobs ${shown.join(', ') || 'none'}; expected ${want.join(', ')}`);
  }
}

async function openTask(name) {
  await page.goto(`${base}/#/tasks/${name}`);
  await page.locator('[data-testid="task-form"]').waitFor({ timeout: WAIT_MS });
}

async function submitAndOpenJob() {
  await page.locator('[data-testid="submit"]').click();
  await page.waitForURL(/#\/jobs\/\d+$/, { timeout: WAIT_MS });
  const id = Number(/#\/jobs\/(\d+)$/.exec(page.url())[1]);
  await page.locator('[data-testid="job-state"]').waitFor({ timeout: WAIT_MS });
  return id;
}

// ------------------------------------------------------------------ setup and teardown
before(async () => {
  ({ entry: daemon, base, workersEndpoint, adminToken } = await startDaemon('potluckd', 'var', ['--local-session']));

  assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: run tests/browser/setup.sh`);
  context = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1366, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  testModels = makeTestModels();  // meanwhile: the model tests near the end need them
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // A token never goes to the console.
  page.on('console', (m) => { if (/plk_[0-9a-f]{8}/.test(m.text())) pageErrors.push(`a token in the console: ${m.text().slice(0, 40)}…`); });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  // The page may only talk to its own daemon (or the second one): no CDN, no outside font.
  await context.route((url) => !daemonOrigins.has(url.origin) && url.protocol !== 'data:', (route) => {
    pageErrors.push(`request outside the daemon: ${route.request().url()}`);
    return route.abort();
  });
});

after(async () => {
  await testModels;
  try { await context?.close(); } catch { /* already gone */ }
  await Promise.all(children.slice().reverse().map((e) => stopProcess(e)));
  for (const e of children) {
    if (e.exit !== 0 && e.exit !== 'SIGTERM' && e.exit !== null) console.log(`# ${e.name} exited with ${e.exit}; log tail:\n${e.text.slice(-2000)}`);
  }
  rmSync(tmp, { recursive: true, force: true });
  console.log(`# screenshots in ${shotDir}`);
});

// ------------------------------------------------------------------ the tests
test('before any worker connects, the overview says what to do next', async () => {
  await page.goto(`${base}/`);
  await waitForText('[data-testid="workers-empty"]', 'No worker connected');
  const hint = await textOf('[data-testid="workers-empty"]');
  assert.match(hint, new RegExp(`potluck-worker --daemon ${workersEndpoint.replace(/[.*]/g, '\\$&')}`), 'the hint names this daemon\'s endpoint');
  await waitForText('[data-testid="jobs-empty"]', 'No jobs yet');
  await waitForText('[data-testid="tasks-empty"]', 'No tasks yet');
  await waitForText('[data-testid="connection"]', 'live');
  await screenshot('home-empty.png');
});

test('a worker that connects appears live with its CPU, GPUs, plugins and tasks', async () => {
  await page.evaluate(() => { window.__sameDocument = true; });
  startProcess('potluck-worker', path.join(buildDir, 'bin', 'potluck-worker'), [
    '--daemon', workersEndpoint, '--plugins', pluginDir, '--gpus', 'none', '--slots', '2',
    '--name', WORKER_NAME, '--grace-ms', '1000', '--token-file', path.join(tmp, 'var', 'admin-token'),
  ]);
  await waitForText('[data-testid="worker"]', WORKER_NAME, START_MS);
  assert.match(await textOf('[data-testid="worker-cpu"]'), /\d+ cores? · [\d.,]+ [KMGT]iB/);
  assert.equal((await textOf('[data-testid="worker-gpus"]')).trim(), 'none');
  const plugins = await textOf('[data-testid="worker-plugins"]');
  assert.match(plugins, /blas/);
  assert.match(plugins, /testing/);
  assert.match(await textOf('[data-testid="worker-busy"]'), /0 \/ 2 busy/);
  // It donates for the operator and asks nothing.
  const [listed] = (await apiGet('/workers')).workers;
  assert.deepEqual(listed.prices, { cpu: 0 });
  assert.match(await textOf('[data-testid="worker-prices"]'), /cpu\s+free/);
  assert.equal((await textOf('[data-testid="worker-free"]')).trim(), 'takes free jobs');
  assert.equal((await textOf('[data-testid="worker-owner"]')).trim(), listed.owner);
  for (const task of ['linalg.matmul', 'test.sleep', 'test.fail']) {
    await page.locator(`[data-testid="task-link-${task}"]`).waitFor();
  }
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page updated without a reload');
});

test('matmul: fill the matrix editor, submit, read the product on the job page', async () => {
  await page.goto(`${base}/#/`);
  await page.locator('[data-testid="task-link-linalg.matmul"]').click();
  await page.locator('[data-testid="matrix-a"]').waitFor();
  // Dimensions stay in step: a's columns and b's rows are both k.
  // The quote counts the task's work units, 2*m*n*k, and follows the editor's sizes.
  await waitForText('[data-testid="quote-units"]', '16');
  await page.getByRole('button', { name: 'more columns of a (k)' }).click();
  assert.equal(await page.locator('[data-testid="matrix-b"] tr').count(), 3, 'b gained a row with a\'s column');
  await waitForText('[data-testid="quote-units"]', String(2 * 2 * 2 * 3));
  await page.getByRole('button', { name: 'fewer rows of b (k)' }).click();
  assert.equal(await page.locator('[data-testid="matrix-a"] tr:first-child td').count(), 2);
  await waitForText('[data-testid="quote-units"]', String(2 * 2 * 2 * 2));
  // At the going rate, the worker that asks nothing runs it for free.
  assert.equal(await page.locator('[data-testid="price-mode-market"]').isChecked(), true, 'the going rate by default');
  assert.equal((await textOf('[data-testid="quote-cost"]')).trim(), 'free');
  assert.match(await textOf('[data-testid="quote-reserved"]'), /free job/);
  assert.match(await textOf('[data-testid="quote-worker"]'), new RegExp(WORKER_NAME));

  const values = { a: [[1, 2], [3, 4]], b: [[5, 6], [7, 8]] };
  for (const [name, rows] of Object.entries(values)) {
    for (const [r, row] of rows.entries()) {
      for (const [c, v] of row.entries()) await page.getByLabel(`${name}, row ${r + 1}, column ${c + 1}`).fill(String(v));
    }
  }
  await page.locator('details.curl summary').click();
  await waitForText('[data-curl]', '"data":[1,2,3,4]');
  assert.ok(!(await textOf('[data-curl]')).includes('bid'), 'the going rate sends no price');
  await screenshot('task-form.png');

  const id = await submitAndOpenJob();
  matmulJobId = id;
  await waitForText('[data-testid="job-state"]', 'succeeded');
  await page.locator('[data-testid="output-c"] td').first().waitFor();
  const cells = await page.locator('[data-testid="output-c"] td').allInnerTexts();
  assert.deepEqual(cells.map((s) => s.trim()), ['19', '22', '43', '50']);
  assert.equal((await textOf('[data-testid="job-worker"]')).trim(), WORKER_NAME);
  assert.equal(await page.locator('[data-testid="cancel-job"]').count(), 0, 'no cancel button on a finished job');
  const job = await apiGet(`/jobs/${id}`);
  assert.deepEqual(job.result.outputs.c.data, [19, 22, 43, 50]);
  assert.equal(job.billing.bid, 0, 'a free job');
  await page.locator('[data-testid="job-billing"][data-settled="true"]').waitFor();
  assert.match(await textOf('[data-testid="billing-summary"]'), /free job: nothing was reserved or charged \(16 work units\)/);
  await screenshot('job-page.png');
});

test('a bad bid says what is wrong and submits nothing; a maximum over the balance shows the daemon\'s 402', async () => {
  await openTask('linalg.matmul');
  const submittedBefore = (await apiGet('/stats')).jobs_submitted;
  await page.locator('[data-testid="price-mode-bid"]').check();
  const bid = page.locator('[data-testid="price-bid"]');
  for (const [typed, message] of [['-1', 'The bid cannot be negative.'],
    ['0.1234567', 'The bid has more than 6 decimals: the smallest amount is 0.000001 credits.'],
    ['1e6', 'The bid is not an amount of credits like 2.5 or 1000.']]) {
    await bid.fill(typed);
    await waitForText('[data-testid="price-bid-error"]', message);
    assert.equal(await bid.getAttribute('aria-invalid'), 'true');
    await page.locator('[data-testid="submit"]').click();
    await waitForText('[data-testid="submit-error"]', message);
    assert.match(page.url(), /#\/tasks\/linalg\.matmul$/, 'a bad bid stays on the form');
    await waitForText('[data-testid="quote"]', 'A quote needs a valid price.');
  }
  // Fixed, the message goes, and the quote and the curl carry the bid in micro-credits.
  await bid.fill('0.5');
  await page.locator('[data-testid="price-bid-error"]').waitFor({ state: 'hidden' });
  await waitForText('[data-testid="quote-bid"]', '0.5 per million units');
  await page.locator('details.curl summary').click();
  await waitForText('[data-curl]', '"bid":500000');
  assert.equal((await apiGet('/stats')).jobs_submitted, submittedBefore, 'nothing was submitted');

  // A maximum far over the operator's balance: the daemon refuses it with 402.
  await page.locator('[data-testid="price-mode-max"]').check();
  await page.locator('[data-testid="price-max"]').fill('1,000,000');
  await waitForText('[data-curl]', `"max_price":${1_000_000 * MICRO}`);
  await waitForText('[data-testid="quote-reserved"]', `${await page.evaluate(() => (1_000_000).toLocaleString())} credits`);
  const daemonSays = await apiCall('POST', '/jobs', { token: adminToken, body: {
    task: 'linalg.matmul', inputs: { a: { dtype: 'f32', data: [[0, 0], [0, 0]] }, b: { dtype: 'f32', data: [[0, 0], [0, 0]] } }, max_price: 1_000_000 * MICRO,
  } });
  assert.equal(daemonSays.status, 402, JSON.stringify(daemonSays.data));
  await page.locator('[data-testid="submit"]').click();
  await waitForText('[data-testid="submit-error"]', daemonSays.data.error.message);
  assert.match(await textOf('[data-testid="submit-error"]'), /^Not enough credits: your balance is/);
  assert.match(page.url(), /#\/tasks\/linalg\.matmul$/);
  await screenshot('task-form-402.png');
  assert.equal((await apiGet('/stats')).jobs_submitted, submittedBefore, 'nothing was submitted');
});

test('the daemon\'s 422 message is shown on the form', async () => {
  await openTask('test.sleep');
  await page.getByLabel('ms', { exact: true }).fill('-5');
  await page.locator('[data-testid="submit"]').click();
  await waitForText('[data-testid="submit-error"]', "parameter 'ms' must be at least 0");
  assert.match(page.url(), /#\/tasks\/test\.sleep$/, 'a rejected job stays on the form');
});

test('a failed job shows the plugin\'s own message', async () => {
  const message = 'disk <b>full</b> on node-7 & no retry';
  await openTask('test.fail');
  await page.getByLabel('message', { exact: true }).fill(message);
  await submitAndOpenJob();
  await waitForText('[data-testid="job-state"]', 'failed');
  await waitForText('[data-testid="job-error-message"]', message);
  assert.equal((await textOf('[data-testid="job-error-message"]')).trim(), message, 'the message, as text');
  assert.equal(await page.locator('[data-testid="job-error"] b').count(), 0, 'markup from a plugin is not rendered');
  await screenshot('job-failed.png');
});

test('a long test.sleep shows live progress and stops when cancelled from the page', async () => {
  await openTask('test.sleep');
  await page.getByLabel('ms', { exact: true }).fill('60000');
  const id = await submitAndOpenJob();
  await waitForText('[data-testid="job-state"]', 'running');
  await waitForText('[data-testid="job-message"]', 'slept');  // progress events reach the page
  const before = Number(await page.locator('[data-testid="job-progress"]').getAttribute('aria-valuenow'));
  assert.ok(before >= 0 && before < 100);
  await page.getByRole('button', { name: 'Cancel job' }).click();
  await waitForText('[data-testid="job-state"]', 'cancelled');
  await page.locator('[data-testid="cancel-job"]').waitFor({ state: 'detached' });
  const job = await waitForJobState(id, ['cancelled']);
  assert.equal(job.state, 'cancelled');
  // The worker's slot is free again.
  await page.goto(`${base}/#/`);
  await waitForText('[data-testid="worker-busy"]', '0 / 2 busy');
});

test('the live job list follows jobs without a reload', async () => {
  await page.goto(`${base}/#/`);
  await page.locator('[data-testid="job-list"]').waitFor();
  await page.evaluate(() => { window.__sameDocument = true; });

  const { id } = await apiPost('/jobs', { task: 'test.sleep', params: { ms: 1500 } });
  const row = `[data-testid="job-row"][data-job-id="${id}"]`;
  await waitForRowState(id, 'running');
  await waitForRowState(id, 'succeeded');
  assert.match(await textOf(`${row} [data-testid="job-state"]`), /succeeded/);

  // A burst of work for the charts: jobs per second, queue depth, busy slots.
  const jobs = Array.from({ length: 24 }, (_, i) => (i % 3 === 0
    ? { task: 'test.sleep', params: { ms: 300 } }
    : { task: 'linalg.matmul', inputs: { a: { dtype: 'f32', data: [[1, 2], [3, 4]] }, b: { dtype: 'f32', data: [[i, 1], [1, i]] } } }));
  const batch = await apiPost('/jobs/batch', { jobs });
  const last = batch.jobs[batch.jobs.length - 1].id;
  await waitForRowState(last, 'succeeded', 30_000);
  // The charts saw the burst (a peak rate above zero) and the queue drain back to zero.
  await page.waitForFunction(() => {
    const queue = document.querySelector('[data-testid="value-queue"]')?.textContent.trim();
    const rate = document.querySelector('[data-testid="chart-rate"] .chart-sub')?.textContent ?? '';
    return queue === '0' && /peak/.test(rate) && !/peak 0\/s/.test(rate);
  }, null, { timeout: WAIT_MS, polling: 100 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page updated without a reload');
  await screenshot('home.png');
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot('home-dark.png');
  await page.emulateMedia({ colorScheme: 'light' });
});

test('a phone-sized viewport has no horizontal overflow', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  const matmul = { id: matmulJobId ?? (await apiGet('/jobs?state=succeeded&limit=200')).jobs.find((j) => j.task === 'linalg.matmul').id };
  for (const [route, shot] of [['#/', 'phone.png'], ['#/tasks/linalg.matmul', 'phone-task-form.png'], [`#/jobs/${matmul.id}`, 'phone-job.png'], ['#/jobs', null]]) {
    await page.goto(`${base}/${route}`);
    await page.locator(route === '#/' ? '[data-testid="worker"]' : route.startsWith('#/tasks') ? '[data-testid="task-form"]'
      : route === '#/jobs' ? '[data-testid="job-list"]' : '[data-testid="output-c"]').waitFor();
    const o = await noHorizontalOverflow();
    assert.ok(o.scrollWidth <= o.clientWidth && o.wide.length === 0,
      `${route} overflows a 390 px screen: scrollWidth ${o.scrollWidth} > ${o.clientWidth}; widest: ${o.wide.join(', ')}`);
    if (shot) await screenshot(shot);
  }
  await page.setViewportSize({ width: 1366, height: 900 });
});

// ------------------------------------------------------------------ accounts and tokens
test('the local operator is signed in; sign up a new account and see its token once', async () => {
  await page.goto(`${base}/#/`);
  await page.locator('[data-testid="account-link"]').waitFor();
  const operator = (await textOf('[data-testid="header-account"]')).trim();
  assert.ok(operator, 'the local session names its account');

  await page.locator('[data-testid="account-link"]').click();
  await page.waitForURL(/#\/account$/);
  await page.goto(`${base}/#/signin`);
  await page.locator('[data-testid="signup-form"]').waitFor();
  await waitForText('[data-testid="signin-current"]', operator);
  await screenshot('signin.png');

  const name = `browser-${Date.now().toString(36)}`;
  await page.getByLabel('Account name').fill(name);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.locator('[data-testid="signup-secret"]').waitFor();
  const secret = (await textOf('[data-testid="signup-secret"] [data-testid="secret"]')).trim();
  assert.match(secret, /^plk_[0-9a-f]{64}$/);
  assert.match(await textOf('[data-testid="signup-secret"]'), /Store it now; it will not be shown again/);
  signedUp = { name, secret };

  // The header: the new account and its starter grant (100 credits unless the daemon says otherwise).
  await waitForText('[data-testid="header-account"]', name);
  const account = (await apiCall('GET', '/account', { token: secret })).data.account;
  assert.ok(account.balance > 0, 'a starter grant');
  await waitForText('[data-testid="header-balance"]', `${account.balance / 1e6} credits`);

  await page.getByRole('button', { name: 'Copy' }).click();
  await waitForText('[data-testid="copy-secret"]', 'Copied');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret, 'Copy puts the token on the clipboard');
  await screenshot('token-once.png');

  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(/#\/account$/);  // where the user was before #/signin
  await page.locator('[data-testid="ledger"]').waitFor();
  assert.equal(await page.locator('[data-testid="signup-secret"]').count(), 0);
  assert.ok(!(await page.content()).includes(secret), 'the secret is not on the page any more');
  assert.ok(!page.url().includes(secret), 'nor in the URL');
  assert.equal(JSON.parse(await storedSession()).token, secret, 'this browser keeps it to sign in');
});

test('a name the daemon refuses shows its message next to the field', async () => {
  await page.goto(`${base}/#/signin`);
  const bad = 'Bad Name!';
  const daemonSays = await apiCall('POST', '/accounts', { body: { name: bad } });
  assert.equal(daemonSays.status, 400);
  await page.getByLabel('Account name').fill(bad);
  await page.getByRole('button', { name: 'Create account' }).click();
  await waitForText('[data-testid="signup-error"]', 'is not allowed');
  assert.equal((await textOf('[data-testid="signup-error"]')).trim(), daemonSays.data.error.message);
  assert.equal(await page.getByLabel('Account name').getAttribute('aria-invalid'), 'true');
  // A taken name, too.
  await page.getByLabel('Account name').fill(signedUp.name);
  await page.getByRole('button', { name: 'Create account' }).click();
  await waitForText('[data-testid="signup-error"]', signedUp.name);
  assert.equal(await page.locator('[data-testid="signup-secret"]').count(), 0, 'no account, no secret');
  await waitForText('[data-testid="header-account"]', signedUp.name);  // still signed in as before
});

test('the account page shows the balance and the starter grant in the ledger', async () => {
  await page.goto(`${base}/#/`);
  await page.locator('[data-testid="account-link"]').click();
  await page.waitForURL(/#\/account$/);
  await waitForText('[data-testid="account-name"]', signedUp.name);
  const { data } = await apiCall('GET', '/account/ledger', { token: signedUp.secret });
  const grant = data.entries.find((e) => e.kind === 'grant');
  assert.ok(grant, `the daemon's ledger has the grant: ${JSON.stringify(data)}`);
  await waitForText('[data-testid="account-balance"]', `${grant.amount / 1e6}`);
  const row = page.locator('[data-testid="ledger-row"][data-kind="grant"]');
  await row.waitFor();
  const amount = row.locator('[data-testid="ledger-amount"]');
  assert.equal((await amount.innerText()).trim(), `+${grant.amount / 1e6}`);
  assert.match(await amount.getAttribute('class'), /\bplus\b/, 'incoming credits are coloured as such');
  assert.ok((await row.innerText()).includes(grant.counterparty), `the row names ${grant.counterparty}`);
  await screenshot('account.png');
});

test('a token with only read: created with its secret shown once, listed, then revoked', async () => {
  await page.goto(`${base}/#/account`);
  await page.locator('[data-testid="token-row"]').first().waitFor();
  const form = page.locator('[data-testid="token-create"]');
  await form.getByLabel('New token').fill('read-only');
  await form.locator('[data-testid="scope-read"]').check();
  for (const s of ['submit', 'publish', 'donate']) await form.locator(`[data-testid="scope-${s}"]`).uncheck();
  await page.getByRole('button', { name: 'Create token' }).click();
  await page.locator('[data-testid="token-secret"]').waitFor();
  const secret = (await textOf('[data-testid="token-secret"] [data-testid="secret"]')).trim();
  assert.match(secret, /^plk_[0-9a-f]{64}$/);
  const made = (await apiCall('GET', '/account', { token: secret })).data.token;
  assert.deepEqual(made.scopes, ['read']);

  const row = page.locator(`[data-testid="token-row"][data-token-id="${made.id}"]`);
  await row.waitFor();
  assert.equal((await row.locator('[data-testid="token-scopes"]').innerText()).trim(), 'read');
  assert.match(await row.innerText(), new RegExp(`${made.prefix}…`));
  assert.equal(await row.getAttribute('data-live'), 'true');
  await screenshot('account-token-created.png');

  await page.getByRole('button', { name: 'Done' }).click();
  assert.equal(await page.locator('[data-testid="token-secret"]').count(), 0, 'the secret goes once dismissed');
  await row.getByRole('button', { name: 'Revoke token read-only' }).click();
  await row.locator('[data-testid="revoke-confirm"]').click();
  await waitForAttribute(`[data-testid="token-row"][data-token-id="${made.id}"]`, 'data-live', 'false');
  assert.match(await row.locator('[data-testid="token-state"]').innerText(), /revoked/);
  const refused = await apiCall('GET', '/account', { token: secret });
  assert.equal(refused.status, 401);
  assert.equal(refused.data.error.code, 'revoked_token');
  await waitForText('[data-testid="header-account"]', signedUp.name);  // this browser's own token lives on
});

test('on a phone the sign-in and account pages fit the screen', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    for (const [route, ready, shot] of [['#/account', '[data-testid="ledger"]', 'phone-account.png'],
      ['#/signin', '[data-testid="signup-form"]', 'phone-signin.png']]) {
      await page.goto(`${base}/${route}`);
      await page.locator(ready).waitFor();
      const o = await noHorizontalOverflow();
      assert.ok(o.scrollWidth <= o.clientWidth && o.wide.length === 0,
        `${route} overflows a 390 px screen: scrollWidth ${o.scrollWidth} > ${o.clientWidth}; widest: ${o.wide.join(', ')}`);
      await screenshot(shot);
    }
  } finally {
    await page.setViewportSize({ width: 1366, height: 900 });
  }
});

test('signed out, the header offers sign-in and the task form says to sign in to submit', async () => {
  await page.goto(`${base}/#/account`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await waitForText('[data-testid="signin-link"]', 'Sign in');
  assert.ok(!(await storedSession()).includes('plk_'), 'the token is forgotten');
  // A reload does not sign the local operator back in.
  await page.reload();
  await page.locator('[data-testid="signin-link"]').waitFor();
  await openTask('linalg.matmul');
  await waitForText('[data-testid="submit-signin"]', 'Sign in to submit');
  assert.equal(await page.locator('[data-testid="submit-signin"]').getAttribute('href'), '#/signin');
  assert.equal(await page.locator('[data-testid="submit"]').count(), 0, 'no button that would fail');
  // The daemon agrees: no token, no job.
  const refused = await apiCall('POST', '/jobs', { body: { task: 'test.sleep', params: { ms: 1 } } });
  assert.equal(refused.status, 401, `the daemon answered ${refused.status} ${JSON.stringify(refused.data)}`);
});

test('a pasted token signs in again and returns to the form, which submits', async () => {
  await page.locator('[data-testid="submit-signin"]').click();
  await page.waitForURL(/#\/signin$/);
  const tokenInput = page.getByLabel('API token');
  await tokenInput.fill('plk_not-a-token');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  const daemonSays = await apiCall('GET', '/account', { token: 'plk_not-a-token' });
  await waitForText('[data-testid="token-error"]', daemonSays.data.error.message);
  assert.equal(await page.locator('[data-testid="signin-link"]').count(), 1, 'still signed out');

  await tokenInput.fill(signedUp.secret);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(/#\/tasks\/linalg\.matmul$/);
  await waitForText('[data-testid="header-account"]', signedUp.name);
  await page.locator('[data-testid="matrix-a"]').waitFor();
  const id = await submitAndOpenJob();
  await waitForText('[data-testid="job-state"]', 'succeeded');
  assert.ok(id > 0);
  signedUp.jobId = id;
});

test('with a token that lacks submit, the form shows the daemon\'s 403', async () => {
  const made = await apiCall('POST', '/account/tokens', { token: signedUp.secret, body: { name: 'watcher', scopes: ['read'] } });
  assert.equal(made.status, 201);
  signedUp.readOnly = made.data.token;
  await openTask('linalg.matmul');
  await page.goto(`${base}/#/signin`);
  await page.getByLabel('API token').fill(made.data.token.secret);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(/#\/tasks\/linalg\.matmul$/);  // back where the user was
  await waitForText('[data-testid="submit-scope-hint"]', 'watcher');
  await page.locator('[data-testid="submit"]').click();
  const daemonSays = await apiCall('POST', '/jobs', { token: made.data.token.secret, body: { task: 'test.sleep', params: { ms: 1 } } });
  assert.equal(daemonSays.status, 403, `the daemon answered ${daemonSays.status} ${JSON.stringify(daemonSays.data)}`);
  await waitForText('[data-testid="submit-error"]', daemonSays.data.error.message);
  assert.match(page.url(), /#\/tasks\/linalg\.matmul$/, 'a refused job stays on the form');
});

test('a token revoked elsewhere sends the page to sign-in with the daemon\'s message', async () => {
  await page.goto(`${base}/#/`);
  await page.locator('[data-testid="account-link"]').waitFor();
  const revoked = await apiCall('DELETE', `/account/tokens/${signedUp.readOnly.id}`, { token: signedUp.secret });
  assert.equal(revoked.status, 200);
  await page.locator('[data-testid="account-link"]').click();
  await page.waitForURL(/#\/signin$/);
  await waitForText('[data-testid="signin-notice"]', 'was revoked');
  await page.locator('[data-testid="signin-link"]').waitFor();
  assert.ok(!(await storedSession()).includes('plk_'), 'the revoked token is forgotten');
});

test('a local session whose token went stale gets this start\'s token by itself', async () => {
  // As after a daemon restart: the browser holds a local-session token the daemon no longer takes.
  await page.evaluate(([key, token]) => localStorage.setItem(key, JSON.stringify({ token, local: true })),
    [SESSION_KEY, signedUp.readOnly.secret]);
  await page.goto(`${base}/#/account`);
  await page.reload();
  await page.locator('[data-testid="ledger"]').waitFor();
  const local = (await apiCall('POST', '/session/local')).data;
  await waitForText('[data-testid="account-name"]', local.account.name);
  assert.equal(JSON.parse(await storedSession()).token, local.token, 'the new token is kept');
  assert.match(page.url(), /#\/account$/, 'no detour through the sign-in page');
});

test('when the last worker leaves, the overview says so', async () => {
  await page.goto(`${base}/#/`);
  await page.locator('[data-testid="worker"]').waitFor();
  await stopProcess(children.find((e) => e.name === 'potluck-worker'));
  await waitForText('[data-testid="workers-empty"]', 'No worker connected');
  // The daemon still knows the tasks (queued jobs wait for them); the page says no one runs them.
  await waitForText('[data-task="linalg.matmul"]', 'no worker online');
  await screenshot('home-no-worker.png');
});

test('a worker that asks a price: the overview shows it, the quote prices a bid, the job page settles it', async () => {
  // A new account lends a machine at 2 credits per million work units (the first worker is gone).
  const donor = `donor-${Date.now().toString(36)}`;
  const made = await apiCall('POST', '/accounts', { body: { name: donor } });
  assert.equal(made.status, 201, JSON.stringify(made.data));
  pricedDonor = { name: donor, secret: made.data.token.secret };
  startProcess('potluck-worker-priced', path.join(buildDir, 'bin', 'potluck-worker'), [
    '--daemon', workersEndpoint, '--plugins', pluginDir, '--gpus', 'none', '--slots', '1',
    '--name', PRICED_WORKER_NAME, '--grace-ms', '1000', '--token', made.data.token.secret, '--price', 'cpu=2',
  ]);
  await page.goto(`${base}/#/`);
  await waitForText('[data-testid="worker"]', PRICED_WORKER_NAME, START_MS);
  assert.match(await textOf('[data-testid="worker-prices"]'), /cpu\s+2 per million units/);
  assert.equal((await textOf('[data-testid="worker-owner"]')).trim(), donor);

  // 2*m*n*k = 16 units at 2 per million cost 32 micro-credits; a bid of 3 reserves 48.
  await openTask('linalg.matmul');
  await waitForText('[data-testid="quote-bid"]', '2 per million units');  // the going rate is its ask
  await page.locator('[data-testid="price-mode-bid"]').check();
  await page.locator('[data-testid="price-bid"]').fill('1');
  await page.locator('[data-testid="quote-note"]').waitFor();
  const below = await apiCall('POST', '/jobs/quote', { body: {
    task: 'linalg.matmul', inputs: { a: { dtype: 'f32', data: [[0, 0], [0, 0]] }, b: { dtype: 'f32', data: [[0, 0], [0, 0]] } }, bid: MICRO,
  } });
  await waitForText('[data-testid="quote-note"]', below.data.note);
  assert.match(await textOf('[data-testid="quote-note"]'), /lowest ask is 2 per million units/);
  await page.locator('[data-testid="price-bid"]').fill('3');
  await waitForText('[data-testid="quote-reserved"]', `${48 / MICRO} credits`);
  assert.equal((await textOf('[data-testid="quote-cost"]')).trim(), `${32 / MICRO} credits`);
  assert.match(await textOf('[data-testid="quote-worker"]'), new RegExp(`${PRICED_WORKER_NAME}\\s+asks 2 per million units`));
  assert.equal(await page.locator('[data-testid="quote-note"]').count(), 0, 'a covered bid has no note');
  await screenshot('task-form-priced.png');

  const id = await submitAndOpenJob();
  pricedDonor.jobId = id;
  await waitForText('[data-testid="job-state"]', 'succeeded');
  await page.locator('[data-testid="job-billing"][data-settled="true"]').waitFor();
  const { billing } = await apiGet(`/jobs/${id}`);
  const { payments, ...figures } = billing;
  assert.deepEqual(figures, { units: 16, replicas: 1, bid: 3 * MICRO, reserved: 48, settled: true, price: 2 * MICRO, charged: 32, fee: 0, refunded: 16, paid_to: donor });
  assert.deepEqual(payments, [{ kind: 'charge', to: donor, amount: 32 }, { kind: 'refund', to: 'operator', amount: 16 }]);
  assert.equal((await textOf('[data-testid="billing-state"]')).trim(), 'settled');
  assert.equal((await textOf('[data-testid="billing-charged"]')).trim(), `${32 / MICRO} credits`);
  assert.equal((await textOf('[data-testid="billing-refunded"]')).trim(), `${16 / MICRO} credits`);
  assert.equal((await textOf('[data-testid="billing-fee"]')).trim(), '0 credits');
  assert.equal((await textOf('[data-testid="billing-paid-to"]')).trim(), donor);
  assert.equal((await textOf('[data-testid="billing-price"]')).trim(), '2 per million units');
  assert.match(await textOf('[data-testid="billing-summary"]'), /Charged 0\.000032 credits for 16 work units at 2 per million units/);
  // Where the credits went, as the daemon lists it.
  const shown = await page.locator('[data-testid="payment"]').evaluateAll((rows) => rows.map((r) => [r.dataset.kind,
    r.querySelector('[data-testid="payment-to"]').textContent.trim(), r.querySelector('[data-testid="payment-amount"]').textContent.trim()]));
  assert.deepEqual(shown, [['charge', donor, `${32 / MICRO}`], ['refund', 'operator', `${16 / MICRO}`]]);
  assert.equal(await page.locator('[data-testid="billing-replicas"]').count(), 0, 'one replica goes unsaid');
  await screenshot('job-billing.png');
});

// ------------------------------------------------------------------ donors and the operator
test('a donor with no worker yet: zero earnings read as such, and how to start one', async () => {
  await openSignedInAs(signedUp.secret, '#/donate');
  await waitForText('[data-testid="my-workers-empty"]', '--price cpu=0.5');
  const hint = await textOf('[data-testid="my-workers-empty"]');
  assert.match(hint, new RegExp(`potluck-worker --daemon ${workersEndpoint.replace(/[.*]/g, '\\$&')} --token-file FILE --price cpu=0\\.5`));
  const chart = page.locator('[data-testid="earnings-chart"]');
  await chart.waitFor();
  assert.equal(await chart.getAttribute('data-empty'), 'true');
  assert.equal(await chart.locator('rect.bar').count(), 30, 'a bar for each of the 30 days');
  assert.equal(await chart.locator('rect.bar.zero').count(), 30, 'each a tick on the base line');
  assert.match(await chart.innerText(), /Nothing earned in these 30 days yet/);
  assert.equal((await textOf('[data-testid="earned-today"]')).trim(), '0 credits');
  await page.locator('[data-testid="earnings-recent-empty"]').waitFor();
  assert.equal(await page.locator('.top nav [data-section="donate"]').isVisible(), true, 'My workers, once signed in');
  assert.equal(await page.locator('.top nav [data-section="admin"]').isVisible(), false, 'no Admin link without the admin scope');
  await screenshot('donate-empty.png');
});

test('the donor page shows today\'s earnings, the paid job and the worker the donor\'s token started', async () => {
  await openSignedInAs(pricedDonor.secret, '#/donate?days=7');
  const cardSel = `[data-testid="my-worker"][data-worker-name="${PRICED_WORKER_NAME}"]`;
  await page.locator(cardSel).waitFor();
  const { data } = await apiCall('GET', '/account/earnings?days=7', { token: pricedDonor.secret });
  assert.equal(data.days[data.days.length - 1].earned, 32, `the daemon counts today's earning: ${JSON.stringify(data.days.at(-1))}`);
  await waitForText('[data-testid="earned-today"]', `${32 / MICRO} credits`);
  assert.equal((await textOf('[data-testid="earned-total"]')).trim(), `${32 / MICRO} credits`);
  assert.equal((await textOf('[data-testid="earned-units"]')).trim(), '16');
  const bars = page.locator('[data-testid="earnings-chart"] rect.bar');
  assert.equal(await bars.count(), 7);
  assert.equal(await bars.last().getAttribute('data-value'), '32', 'today is the last bar');
  assert.equal(await page.locator('[data-testid="earnings-chart"] rect.bar:not(.zero)').count(), 1);

  const row = page.locator(`[data-testid="earning-row"][data-job-id="${pricedDonor.jobId}"]`);
  await row.waitFor();
  const text = await row.innerText();
  for (const want of ['linalg.matmul', PRICED_WORKER_NAME, '16', '2 per million units', `${32 / MICRO}`]) {
    assert.ok(text.includes(want), `the job's row shows ${want}: ${text}`);
  }
  await waitForAttribute(`${cardSel} [data-testid="my-worker-status"]`, 'data-status', 'taking');
  assert.match(await textOf(`${cardSel} [data-testid="instance-prices"]`), /cpu\s+2 per million units/);
  assert.match(await textOf(`${cardSel} [data-testid="instance-busy"]`), /0 \/ 1 busy/);
  assert.equal((await textOf(`${cardSel} [data-testid="worker-pause"]`)).trim(), 'Pause');
  await screenshot('donate.png');

  await page.goto(`${base}/#/admin`);
  await waitForText('[data-testid="admin-denied"]', 'lacks the admin scope');
});

test('pausing a worker from its page stops its jobs; bad slots and hours show the daemon\'s message', async () => {
  const cardSel = `[data-testid="my-worker"][data-worker-name="${PRICED_WORKER_NAME}"]`;
  const msgSel = `${cardSel} [data-testid="settings-message"]`;
  const card = page.locator(cardSel);
  await page.goto(`${base}/#/donate`);
  await card.waitFor();
  await card.locator('[data-testid="worker-pause"]').click();
  await waitForText(msgSel, 'Paused: no new job starts on it');
  const paused = await waitForWorker(PRICED_WORKER_NAME, (w) => !w.taking_jobs);
  assert.equal(paused.settings.paused, true);
  await waitForAttribute(`${cardSel} [data-testid="my-worker-status"]`, 'data-status', 'paused');
  await waitForText(`${cardSel} [data-testid="instance-taking"]`, 'no new jobs');
  assert.equal((await textOf(`${cardSel} [data-testid="worker-pause"]`)).trim(), 'Resume');

  // More slots than the daemon allows: its message, and the field marked.
  const slots = card.locator('[data-testid="settings-slots"]');
  await slots.fill('300');
  await waitForText(msgSel, 'Not saved yet');
  await card.locator('[data-testid="settings-save"]').click();
  const tooMany = await apiCall('PUT', '/account/workers/settings', { token: pricedDonor.secret, body: { worker: PRICED_WORKER_NAME, max_slots: 300 } });
  assert.equal(tooMany.status, 400);
  await waitForText(msgSel, tooMany.data.error.message);
  assert.equal(await slots.getAttribute('aria-invalid'), 'true');
  // Nothing in it: said here, nothing sent.
  await slots.fill('');
  await card.locator('[data-testid="settings-save"]').click();
  await waitForText(msgSel, 'Most slots must be a whole number from 0 (every slot) to 256.');
  // Hours that make an empty window.
  await slots.fill('1');
  await card.locator('[data-testid="settings-hours-mode"]').selectOption('window');
  await card.locator('[data-testid="settings-hours-from"]').selectOption('9');
  await card.locator('[data-testid="settings-hours-to"]').selectOption('9');
  await card.locator('[data-testid="settings-save"]').click();
  const empty = await apiCall('PUT', '/account/workers/settings', { token: pricedDonor.secret, body: { worker: PRICED_WORKER_NAME, hours: '9-9' } });
  await waitForText(msgSel, empty.data.error.message);
  assert.match(empty.data.error.message, /empty window/);
  assert.equal(await card.locator('[data-testid="settings-hours-from"]').getAttribute('aria-invalid'), 'true');
  await screenshot('donate-settings-error.png');

  // Fixed: one slot, all day, paid jobs only. Saved, the daemon applies it, and a reload shows it.
  await card.locator('[data-testid="settings-hours-mode"]').selectOption('all');
  await card.locator('[data-testid="settings-free"]').selectOption('no');
  await card.locator('[data-testid="settings-save"]').click();
  await waitForText(msgSel, 'Saved: at most 1 slot, all day, paid jobs only.');
  const saved = await waitForWorker(PRICED_WORKER_NAME, (w) => w.settings.max_slots === 1 && w.settings.free_jobs === false);
  assert.deepEqual({ ...saved.settings }, { paused: true, max_slots: 1, hours: null, free_jobs: false });
  assert.equal(saved.accepts_free, false);
  await page.reload();
  await card.waitFor();
  assert.equal(await slots.inputValue(), '1');
  assert.equal(await card.locator('[data-testid="settings-free"]').inputValue(), 'no');
  assert.equal(await card.locator('[data-testid="settings-hours-mode"]').inputValue(), 'all');
  await screenshot('donate-paused.png');

  // Resumed, it takes jobs again.
  await card.locator('[data-testid="worker-pause"]').click();
  await waitForText(msgSel, 'Resumed');
  await waitForWorker(PRICED_WORKER_NAME, (w) => w.taking_jobs && !w.settings.paused);
  await waitForAttribute(`${cardSel} [data-testid="my-worker-status"]`, 'data-status', 'taking');
});

test('the leaderboard lists the donor first, with its job, work units and credits', async () => {
  await page.goto(`${base}/#/`);
  await page.locator('.top nav [data-section="donors"]').click();
  await page.waitForURL(/#\/donors$/);
  const row = page.locator(`[data-testid="donor-row"][data-account="${pricedDonor.name}"]`);
  await row.waitFor();
  const entry = (await apiGet('/donors?days=30&limit=50')).donors.find((d) => d.account === pricedDonor.name);
  assert.deepEqual({ rank: entry.rank, jobs: entry.jobs, units: entry.units, earned: entry.earned }, { rank: 1, jobs: 1, units: 16, earned: 32 });
  assert.equal((await row.locator('[data-testid="donor-rank"]').innerText()).trim(), '1');
  assert.equal((await row.locator('[data-testid="donor-jobs"]').innerText()).trim(), '1');
  assert.equal((await row.locator('[data-testid="donor-units"]').innerText()).trim(), '16');
  assert.equal((await row.locator('[data-testid="donor-earned"]').innerText()).trim(), `${32 / MICRO}`);
  assert.match(await row.innerText(), /you/, 'the signed-in donor\'s own row says so');
  // Today only: still there.
  await page.locator('[data-testid="period"] a[data-days="1"]').click();
  await page.waitForURL(/#\/donors\?days=1$/);
  await waitForText('[data-testid="donors"]', pricedDonor.name);
  await waitForAttribute('[data-testid="period"] a[aria-current="page"]', 'data-days', '1');
  await screenshot('leaderboard.png');
});

test('on a phone the donor page and the leaderboard fit the screen', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    for (const [route, ready, shot] of [['#/donate', '[data-testid="my-worker"]', 'phone-donate.png'],
      ['#/donors', '[data-testid="donors"]', 'phone-leaderboard.png']]) {
      await page.goto(`${base}/${route}`);
      await page.locator(ready).waitFor();
      const o = await noHorizontalOverflow();
      assert.ok(o.scrollWidth <= o.clientWidth && o.wide.length === 0,
        `${route} overflows a 390 px screen: scrollWidth ${o.scrollWidth} > ${o.clientWidth}; widest: ${o.wide.join(', ')}`);
      await screenshot(shot);
    }
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${base}/#/donate`);
    await page.locator('[data-testid="earnings-chart"]').waitFor();
    await screenshot('phone-donate-dark.png');
  } finally {
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1366, height: 900 });
  }
});

test('the jobs list shows only mine, or only what my workers ran, and a reload keeps the filter', async () => {
  await openSignedInAs(signedUp.secret, '#/jobs');
  const whose = page.locator('[data-testid="jobs-whose"]');
  await whose.waitFor();
  await page.locator('[data-testid="job-list"]').waitFor();
  const everyone = (await apiGet('/jobs?limit=50')).jobs.map((j) => j.id);
  await waitForJobRows(everyone);
  await whose.locator('[data-whose="mine"]').click();
  await page.waitForURL(/#\/jobs\?whose=mine$/);
  const mine = (await apiGet(`/jobs?account=${signedUp.name}&limit=50`)).jobs.map((j) => j.id);
  assert.ok(mine.includes(signedUp.jobId), `the daemon lists the job ${signedUp.name} submitted: ${mine}`);
  assert.ok(mine.length < everyone.length, 'others submitted jobs too');
  await waitForJobRows(mine);
  await page.reload();
  await waitForJobRows(mine);
  await waitForAttribute('[data-testid="jobs-whose"] a[aria-current="page"]', 'data-whose', 'mine');
  // A state filter keeps it.
  await page.locator('nav[aria-label="Filter by state"] a', { hasText: 'succeeded' }).click();
  await page.waitForURL(/#\/jobs\?state=succeeded&whose=mine$/);
  await waitForJobRows((await apiGet(`/jobs?account=${signedUp.name}&state=succeeded&limit=50`)).jobs.map((j) => j.id));
  await screenshot('jobs-mine.png');

  // The priced donor's worker ran one paid job; the donor submitted none.
  await openSignedInAs(pricedDonor.secret, '#/jobs?whose=my-workers');
  const ran = (await apiGet(`/jobs?paid_to=${pricedDonor.name}&limit=50`)).jobs.map((j) => j.id);
  assert.deepEqual(ran, [pricedDonor.jobId]);
  await waitForJobRows(ran);
  await page.locator('[data-testid="jobs-whose"] [data-whose="mine"]').click();
  await waitForText('[data-testid="jobs-empty"]', 'You have not submitted a job yet.');

  // Signed out, there is nobody's "mine": no filter, and the page says to sign in.
  await page.evaluate((key) => localStorage.setItem(key, JSON.stringify({ signed_out: true })), SESSION_KEY);
  await page.reload();
  await waitForText('[data-testid="jobs-signin"]', 'Sign in');
  assert.equal(await whose.isVisible(), false, 'no filter of whose jobs when signed out');
});

test('the admin page: the books balance after paid jobs, and a grant from the page raises a balance', async () => {
  // The local operator's session has no admin scope, on purpose: the page says where the token is.
  await page.evaluate((key) => localStorage.removeItem(key), SESSION_KEY);
  await page.goto(`${base}/#/admin`);
  await page.reload();
  await waitForText('[data-testid="admin-denied"]', 'admin-token');
  assert.equal(await page.locator('.top nav [data-section="admin"]').isVisible(), false);
  // The operator's token (the daemon's admin-token file) has it, and the Admin link with it.
  await openSignedInAs(adminToken, '#/');
  await page.locator('.top nav [data-section="admin"]').click();
  await page.waitForURL(/#\/admin$/);
  await waitForText('[data-testid="audit-status"]', 'The books balance.');
  const audit = (await apiCall('GET', '/admin/audit', { token: adminToken })).data;
  assert.equal(audit.ok, true, JSON.stringify(audit.problems));
  assert.ok(audit.jobs_checked > 0, 'the books include the jobs run so far');
  assert.equal(await page.locator('[data-testid="audit-status"]').getAttribute('data-ok'), 'true');
  const localeNumber = (n) => page.evaluate((v) => v.toLocaleString(undefined, { maximumFractionDigits: 6 }), n);
  assert.equal((await textOf('[data-testid="audit-jobs"]')).trim(), await localeNumber(audit.jobs_checked));
  assert.equal((await textOf('[data-testid="audit-minted"]')).trim(), `${await localeNumber(audit.minted / MICRO)} credits`);
  assert.equal((await textOf('[data-testid="audit-escrow"]')).trim(), `${await localeNumber(audit.escrow / MICRO)} credits`);
  // The market settings, read-only, and the flags that set them.
  const settings = (await apiCall('GET', '/admin/settings', { token: adminToken })).data;
  await waitForText('[data-testid="setting-starter_grant"]', `${await localeNumber(settings.starter_grant / MICRO)} credits`);
  assert.equal((await textOf('[data-testid="setting-signup"]')).trim(), settings.signup);
  const table = await textOf('[data-testid="market-settings"]');
  for (const flag of ['--starter-grant', '--free-tier', '--fee-percent', '--signup', '--check-percent', '--trusted-after']) {
    assert.ok(table.includes(flag), `names ${flag}`);
  }
  assert.equal((await textOf('[data-testid="setting-check_percent"]')).trim(), `${settings.check_percent} % of results`);
  assert.equal((await textOf('[data-testid="setting-trusted_after"]')).trim(), `${settings.trusted_after} agreements in a row`);
  // No donor's result was checked here (no trusted worker was connected while donors ran): nothing flagged.
  const flagged = (await apiCall('GET', '/admin/flagged', { token: adminToken })).data;
  assert.deepEqual(flagged, { workers: [], donors: [] });
  await waitForText('[data-testid="flagged-empty"]', 'Nothing flagged: every checked result agreed');

  // Bad input: a negative amount is caught here; an unknown account gets the daemon's 404.
  const form = page.locator('[data-testid="grant-form"]');
  await form.getByLabel('Account').fill(pricedDonor.name);
  await form.getByLabel('Credits').fill('-1');
  await form.getByRole('button', { name: 'Grant credits' }).click();
  await waitForText('[data-testid="grant-error"]', 'The amount cannot be negative.');
  assert.equal(await form.getByLabel('Credits').getAttribute('aria-invalid'), 'true');
  const nobody = `nobody-${Date.now().toString(36)}`;
  const unknown = await apiCall('POST', '/admin/grants', { token: adminToken, body: { account: nobody, amount: 1 } });
  assert.equal(unknown.status, 404);
  await form.getByLabel('Account').fill(nobody);
  await form.getByLabel('Credits').fill('2.5');
  await form.getByRole('button', { name: 'Grant credits' }).click();
  await waitForText('[data-testid="grant-error"]', unknown.data.error.message);
  assert.equal(await form.getByLabel('Account').getAttribute('aria-invalid'), 'true');

  const balance = async () => (await apiCall('GET', '/account', { token: pricedDonor.secret })).data.account.balance;
  const before = await balance();
  await form.getByLabel('Account').fill(pricedDonor.name);
  await form.getByLabel('Memo').fill('thanks for the cycles');
  await form.getByRole('button', { name: 'Grant credits' }).click();
  await waitForText('[data-testid="grant-result"]', `Granted 2.5 credits to ${pricedDonor.name}`);
  assert.equal(await balance() - before, 2.5 * MICRO, 'the grant reached the account');
  const { entries } = (await apiCall('GET', '/account/ledger', { token: pricedDonor.secret })).data;
  assert.equal(entries[0].kind, 'grant');
  assert.equal(entries[0].memo, 'thanks for the cycles');
  // The page checked the books again: the mint grew by the grant, and they still balance.
  await waitForText('[data-testid="audit-minted"]', `${await localeNumber((audit.minted + 2.5 * MICRO) / MICRO)} credits`);
  await waitForText('[data-testid="audit-status"]', 'The books balance.');
  await page.locator('[data-testid="audit-rerun"]').click();
  await waitForText('[data-testid="audit-rerun"]', 'Check again');
  await waitForText('[data-testid="audit-status"]', 'The books balance.');
  await screenshot('admin.png');

  await page.setViewportSize({ width: 390, height: 844 });
  try {
    const o = await noHorizontalOverflow();
    assert.ok(o.scrollWidth <= o.clientWidth && o.wide.length === 0,
      `#/admin overflows a 390 px screen: scrollWidth ${o.scrollWidth} > ${o.clientWidth}; widest: ${o.wide.join(', ')}`);
    await screenshot('phone-admin.png');
  } finally {
    await page.setViewportSize({ width: 1366, height: 900 });
  }
});

// ------------------------------------------------------------------ organisations, transfers, replicas
test('an organisation from the account page: a bad name says why, a member is added, a transfer funds it', async () => {
  await openSignedInAs(signedUp.secret, '#/account');
  await waitForText('[data-testid="orgs-empty"]', 'You belong to no organisation yet');
  const create = page.locator('[data-testid="org-create"]');

  // A name the daemon refuses: its message, next to the field; nothing is made.
  const bad = 'Bad Lab!';
  const refused = await apiCall('POST', '/orgs', { token: signedUp.secret, body: { name: bad } });
  assert.equal(refused.status, 400, JSON.stringify(refused.data));
  await create.getByLabel('New organisation').fill(bad);
  await create.getByRole('button', { name: 'Create organisation' }).click();
  await waitForText('[data-testid="org-create-error"]', refused.data.error.message);
  assert.equal(await create.getByLabel('New organisation').getAttribute('aria-invalid'), 'true');

  lab = `lab-${Date.now().toString(36)}`;
  await create.getByLabel('New organisation').fill(lab);
  await create.getByRole('button', { name: 'Create organisation' }).click();
  const row = page.locator(`[data-testid="org-row"][data-org-name="${lab}"]`);
  await row.waitFor();
  assert.equal((await row.locator('[data-testid="org-role"]').innerText()).trim(), 'owner');
  assert.equal((await row.locator('[data-testid="org-balance"]').innerText()).trim(), '0');
  const panel = page.locator(`[data-testid="org-panel"][data-org-name="${lab}"]`);
  await panel.locator(`[data-testid="org-member"][data-account="${signedUp.name}"]`).waitFor();
  assert.match(await panel.locator('[data-testid="org-members"]').innerText(), new RegExp(`${signedUp.name}\\s+owner\\s+you`));

  // An owner adds the priced donor; an unknown account gets the daemon's 404.
  const nobody = `nobody-${Date.now().toString(36)}`;
  const unknown = await apiCall('POST', `/orgs/${lab}/members`, { token: signedUp.secret, body: { account: nobody, role: 'member' } });
  assert.equal(unknown.status, 404);
  await panel.getByLabel('Add a member').fill(nobody);
  await panel.getByRole('button', { name: `Add to ${lab}` }).click();
  await waitForText('[data-testid="member-error"]', unknown.data.error.message);
  assert.equal(await panel.getByLabel('Add a member').getAttribute('aria-invalid'), 'true');
  await panel.getByLabel('Add a member').fill(pricedDonor.name);
  await panel.getByRole('button', { name: `Add to ${lab}` }).click();
  await waitForText('[data-testid="member-result"]', `${pricedDonor.name} is a member of ${lab}`);
  await panel.locator(`[data-testid="org-member"][data-account="${pricedDonor.name}"]`).waitFor();
  const members = (await apiCall('GET', `/orgs/${lab}`, { token: signedUp.secret })).data.org.members;
  assert.deepEqual(members.map((m) => [m.account, m.role]).sort(), [[pricedDonor.name, 'member'], [signedUp.name, 'owner']].sort());

  // Bad transfers: nothing (caught here), and more than the balance (the daemon's 402).
  const send = page.locator('[data-testid="transfer-form"]');
  await send.getByLabel('To', { exact: true }).fill(lab);
  await send.getByLabel('Credits').fill('0');
  await send.getByRole('button', { name: 'Send credits' }).click();
  await waitForText('[data-testid="transfer-error"]', 'The amount must be more than 0 credits.');
  assert.equal(await send.getByLabel('Credits').getAttribute('aria-invalid'), 'true');
  const balance = (await apiCall('GET', '/account', { token: signedUp.secret })).data.account.balance;
  const tooMuch = await apiCall('POST', '/account/transfers', { token: signedUp.secret, body: { to: lab, amount: balance + MICRO } });
  assert.equal(tooMuch.status, 402, JSON.stringify(tooMuch.data));
  await send.getByLabel('Credits').fill(String((balance + MICRO) / MICRO));
  await send.getByRole('button', { name: 'Send credits' }).click();
  await waitForText('[data-testid="transfer-error"]', tooMuch.data.error.message);
  assert.match(await textOf('[data-testid="transfer-error"]'),
    new RegExp(`^Not enough credits: .* You asked to send ${await localeCredits(balance + MICRO)} credits; your balance is ${await localeCredits(balance)} credits\\.$`));
  assert.equal(await send.getByLabel('Credits').getAttribute('aria-invalid'), 'true');
  await screenshot('account-transfer-402.png');

  // Five credits fund it: the list, the panel, the header and the ledger follow.
  await send.getByLabel('Credits').fill('5');
  await send.getByLabel('Memo').fill('for the lab');
  await send.getByRole('button', { name: 'Send credits' }).click();
  await waitForText('[data-testid="transfer-result"]', `Sent 5 credits to ${lab}`);
  await waitForText(`[data-testid="org-row"][data-org-name="${lab}"] [data-testid="org-balance"]`, '5');
  await waitForText('[data-testid="org-panel-balance"]', '5 credits');
  await waitForText('[data-testid="header-balance"]', `${await localeCredits(balance - 5 * MICRO)} credits`);
  assert.equal((await apiCall('GET', `/orgs/${lab}`, { token: signedUp.secret })).data.org.balance, 5 * MICRO);
  const top = page.locator('[data-testid="ledger-row"]').first();
  await waitForAttribute('[data-testid="ledger-row"]', 'data-kind', 'transfer');
  assert.equal((await top.locator('[data-testid="ledger-amount"]').innerText()).trim(), '−5');
  assert.match(await top.innerText(), new RegExp(`${lab}[\\s\\S]*for the lab`));
  assert.equal(await send.getByLabel('Credits').getAttribute('aria-invalid'), null);
  await screenshot('account-orgs.png');

  await page.setViewportSize({ width: 390, height: 844 });
  try {
    const o = await noHorizontalOverflow();
    assert.ok(o.scrollWidth <= o.clientWidth && o.wide.length === 0,
      `#/account overflows a 390 px screen: scrollWidth ${o.scrollWidth} > ${o.clientWidth}; widest: ${o.wide.join(', ')}`);
    await screenshot('phone-account-orgs.png');
  } finally {
    await page.setViewportSize({ width: 1366, height: 900 });
  }
});

test('a job billed to the organisation: the form offers it, the curl sends the header, the organisation pays', async () => {
  const before = (await apiCall('GET', '/account', { token: signedUp.secret })).data.account.balance;
  await openTask('linalg.matmul');
  const billTo = page.locator('[data-testid="bill-to"]');
  await billTo.waitFor();
  const options = await billTo.locator('option').evaluateAll((list) => list.map((o) => [o.value, o.textContent.trim()]));
  assert.deepEqual(options, [['', `${signedUp.name} (you, ${await localeCredits(before)} credits)`], [lab, `${lab} (organisation, owner, 5 credits)`]]);
  await billTo.selectOption(lab);
  await page.locator('[data-testid="price-mode-bid"]').check();
  await page.locator('[data-testid="price-bid"]').fill('3');
  await page.locator('details.curl summary').click();
  await waitForText('[data-curl]', `-H 'X-Potluck-Bill-To: ${lab}'`);
  await waitForText('[data-testid="quote-reserved"]', `${48 / MICRO} credits`);
  // A maximum over what the organisation holds: the daemon's 402 is about its balance.
  await page.locator('[data-testid="price-mode-max"]').check();
  await page.locator('[data-testid="price-max"]').fill('6');
  await page.locator('[data-testid="submit"]').click();
  await waitForText('[data-testid="submit-error"]', `Not enough credits in ${lab}: your balance is 5 credits`);
  assert.match(page.url(), /#\/tasks\/linalg\.matmul$/);
  await page.locator('[data-testid="price-mode-bid"]').check();
  await waitForText('[data-testid="quote-reserved"]', `${48 / MICRO} credits`);

  const id = await submitAndOpenJob();
  await waitForText('[data-testid="job-state"]', 'succeeded');
  await page.locator('[data-testid="job-billing"][data-settled="true"]').waitFor();
  // The refund of what the bid reserved over the ask goes back to the organisation that paid.
  await waitForText('[data-testid="payment"][data-kind="refund"] [data-testid="payment-to"]', lab);
  const job = await apiGet(`/jobs/${id}`);
  assert.deepEqual(job.billing.payments, [{ kind: 'charge', to: pricedDonor.name, amount: 32 }, { kind: 'refund', to: lab, amount: 16 }]);

  await page.goto(`${base}/#/account`);
  await waitForText(`[data-testid="org-row"][data-org-name="${lab}"] [data-testid="org-balance"]`, await localeCredits(5 * MICRO - 32));
  assert.equal((await apiCall('GET', `/orgs/${lab}`, { token: signedUp.secret })).data.org.balance, 5 * MICRO - 32);
  assert.equal((await apiCall('GET', '/account', { token: signedUp.secret })).data.account.balance, before, 'the member paid nothing');
});

test('two replicas: the quote says one donor is short, the job waits for another donor\'s worker, both are paid', async () => {
  // Only the priced donor's worker is connected: the quote's note says the second replica waits.
  await openTask('linalg.matmul');
  await page.locator('[data-testid="price-mode-bid"]').check();
  await page.locator('[data-testid="price-bid"]').fill('3');
  const replicas = page.locator('[data-testid="replicas"]');
  assert.equal(await replicas.inputValue(), '1', 'one replica by default');
  await replicas.fill('6');
  await waitForText('[data-testid="replicas-error"]', 'Replicas must be a whole number from 1 to 5');
  assert.equal(await replicas.getAttribute('aria-invalid'), 'true');
  await waitForText('[data-testid="quote"]', 'A quote needs from 1 to 5 replicas.');
  await replicas.fill('2');
  await page.locator('[data-testid="replicas-error"]').waitFor({ state: 'hidden' });
  // 16 units at a bid of 3 on each of 2 replicas reserve 96 micro-credits.
  await waitForText('[data-testid="quote-reserved"]', `${96 / MICRO} credits`);
  assert.equal((await textOf('[data-testid="quote-replicas"]')).trim(), 'on each of 2 replicas');
  const quote = await apiCall('POST', '/jobs/quote', { body: {
    task: 'linalg.matmul', inputs: { a: { dtype: 'f32', data: [[0, 0], [0, 0]] }, b: { dtype: 'f32', data: [[0, 0], [0, 0]] } }, bid: 3 * MICRO, replicas: 2,
  } });
  assert.equal(quote.data.replicas, 2);
  await waitForText('[data-testid="quote-note"]', quote.data.note);
  await page.locator('details.curl summary').click();
  await waitForText('[data-curl]', '"bid":3000000,"replicas":2');
  await screenshot('task-form-replicas.png');

  const id = await submitAndOpenJob();
  await waitForText('[data-testid="job-message"]', '1 of 2 replicas done; waiting for a worker of another donor');
  assert.equal((await textOf('[data-testid="job-state"]')).trim(), 'running');
  await waitForText('[data-testid="billing-summary"]', 'on each of 2 replicas');

  // A second donor lends a machine at 1 credit per million: it runs the other replica.
  const made = await apiCall('POST', '/accounts', { body: { name: `donor2-${Date.now().toString(36)}` } });
  assert.equal(made.status, 201, JSON.stringify(made.data));
  const second = made.data.account.name;
  startProcess('potluck-worker-priced-2', path.join(buildDir, 'bin', 'potluck-worker'), [
    '--daemon', workersEndpoint, '--plugins', pluginDir, '--gpus', 'none', '--slots', '1',
    '--name', SECOND_PRICED_WORKER_NAME, '--grace-ms', '1000', '--token', made.data.token.secret, '--price', 'cpu=1',
  ]);
  await waitForText('[data-testid="job-state"]', 'succeeded', START_MS);
  await page.locator('[data-testid="job-billing"][data-settled="true"]').waitFor();
  const job = await apiGet(`/jobs/${id}`);
  assert.deepEqual(job.result.outputs.c.data, [0, 0, 0, 0]);
  assert.equal(job.billing.replicas, 2);
  const charges = [[pricedDonor.name, 32], [second, 16]].sort();
  assert.deepEqual(job.billing.payments.filter((p) => p.kind === 'charge').map((p) => [p.to, p.amount]).sort(), charges);
  // Two charges, one to each donor, and the rest of the reserve back to the payer.
  const shown = await page.locator('[data-testid="payment"]').evaluateAll((rows) => rows.map((r) => [r.dataset.kind,
    r.querySelector('[data-testid="payment-to"]').textContent.trim(), r.querySelector('[data-testid="payment-amount"]').textContent.trim()]));
  assert.deepEqual(shown.filter(([kind]) => kind === 'charge').map(([, to, amount]) => [to, amount]).sort(),
    charges.map(([to, amount]) => [to, `${amount / MICRO}`]).sort());
  assert.deepEqual(shown.filter(([kind]) => kind === 'refund'), [['refund', signedUp.name, `${48 / MICRO}`]]);
  assert.equal((await textOf('[data-testid="billing-replicas"]')).trim(), '2 donors’ workers');
  assert.equal((await textOf('[data-testid="billing-charged"]')).trim(), `${48 / MICRO} credits`);
  assert.equal((await textOf('[data-testid="billing-price"]')).trim(), 'each donor’s own ask below');
  assert.match(await textOf('[data-testid="billing-summary"]'), /Charged 0\.000048 credits for 16 work units on each of 2 replicas: 2 donors paid\./);
  const paidTo = (await textOf('[data-testid="billing-paid-to"]')).trim();
  assert.deepEqual(paidTo.split(', ').sort(), [pricedDonor.name, second].sort());
  await screenshot('job-replicas.png');
});

// ------------------------------------------------------------------ the model hub
// A card as `potluck models push` would upload it: front matter, then the markdown of its page.
function modelCard({ task = 'text-classification', format = 'torchscript', labels = [], tags = [], body }) {
  const lists = [['labels', labels], ['tags', tags]].filter(([, l]) => l.length).map(([key, l]) => `${key}: [${l.join(', ')}]\n`).join('');
  return `---\ntask: ${task}\nformat: ${format}\nlicense: mit\n${lists}---\n${body}`;
}

// Uploads `files` ({path: content}) as blobs: per file, its path, size and sha256.
async function uploadFiles(token, files, { at = base } = {}) {
  const listed = [];
  for (const [file, content] of Object.entries(files)) {
    const bytes = Buffer.from(content);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const r = await fetch(`${at}/api/blobs?sha256=${sha256}`, {
      method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', Authorization: `Bearer ${token}` }, body: bytes,
    });
    assert.ok(r.ok, `PUT ${file}: ${r.status} ${await r.text()}`);
    listed.push({ path: file, sha256, size: bytes.length });
  }
  return listed;
}

// Commits uploaded files as a revision of `id` (OWNER/NAME) on `parent`; the daemon's answer.
async function commitModel(token, id, listed, { message = 'first version', parent, at = base } = {}) {
  const r = await fetch(`${at}/api/models/${id}/commits`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ files: listed.map(({ path: file, sha256 }) => ({ path: file, sha256 })), message, ...(parent ? { parent } : {}) }),
  });
  const model = await r.json();
  assert.equal(r.status, 201, `commit of ${id}: ${JSON.stringify(model)}`);
  return model;
}

// Uploads `files` and commits them: the model and its files.
async function publishModel(token, id, files, options = {}) {
  const listed = await uploadFiles(token, files, options);
  return { model: await commitModel(token, id, listed, options), files: listed };
}

// Waits until the models list shows exactly the models `ids`, in that order.
async function waitForModelRows(ids, timeoutMs = WAIT_MS) {
  try {
    await page.waitForFunction((want) => {
      const box = document.querySelector('[data-models]');
      const shown = [...document.querySelectorAll('[data-testid="model-row"]')].map((r) => r.dataset.modelId);
      return box?.dataset.state === 'loaded' && shown.length === want.length && shown.every((id, i) => id === want[i]);
    }, ids, { timeout: timeoutMs, polling: 50 });
  } catch {
    const shown = await page.locator('[data-testid="model-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.modelId));
    assert.fail(`the models list shows ${shown.join(', ') || 'nothing'}; expected ${ids.join(', ') || 'nothing'}`);
  }
}

// Waits until the model page lists exactly the files `paths`.
async function waitForFiles(paths) {
  await page.waitForFunction((want) => {
    const shown = [...document.querySelectorAll('[data-testid="model-file"]')].map((r) => r.dataset.path);
    return shown.join('\n') === want.join('\n');
  }, paths, { timeout: WAIT_MS, polling: 50 }).catch(async () => {
    const shown = await page.locator('[data-testid="model-file"]').evaluateAll((rows) => rows.map((r) => r.dataset.path));
    assert.fail(`the model's files are ${shown.join(', ') || 'none'}; expected ${paths.join(', ')}`);
  });
}

test('the models page: before any model is published, it says how', async () => {
  await page.goto(`${base}/#/`);
  await page.locator('.top nav a[data-section="models"]').click();
  await page.waitForURL(/#\/models$/);
  await waitForText('[data-testid="models-empty"]', 'No model is published here yet.');
  const hint = await textOf('[data-testid="models-empty"]');
  assert.match(hint, /potluck models push \.\/my-model [a-z0-9-]+\/word-lang/);
  assert.match(hint, /---\ntask: text-classification\nformat: torchscript\nlicense: mit\nlabels: \[en, fr\]\n---\n# Word language/,
    'a minimal card with its front matter');
  assert.equal(await page.locator('.top nav a[data-section="models"]').getAttribute('aria-current'), 'page');
  await screenshot('models-empty.png');
});

test('published models: the list shows them; search, the task filter, the sort and the pages find them', async () => {
  const made = await apiCall('POST', '/accounts', { body: { name: `hub-${Date.now().toString(36)}` } });
  assert.equal(made.status, 201, JSON.stringify(made.data));
  const owner = made.data.account.name;
  const token = made.data.token.secret;
  hubAuthor = { name: owner, secret: token };
  const weights = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(2996, 7)]);
  const first = await publishModel(token, `${owner}/word-lang`, {
    'README.md': modelCard({ labels: ['en', 'fr'], body: WORD_LANG_BODY }),
    'model.pt': weights,
    'config.json': '{"labels": ["en", "fr"]}\n',
  });
  hubAuthor.wordLang = first;
  await publishModel(token, `${owner}/tiny-gen`, {
    'README.md': modelCard({ task: 'text-generation', tags: ['tiny-demo'], body: '# Tiny generator\n\nWrites a word at a time.\n' }),
  });
  const [wordLang, tinyGen] = [`${owner}/word-lang`, `${owner}/tiny-gen`];

  // The hub sends no events: the page shows new models when it is loaded again.
  await page.goto(`${base}/#/models`);
  await page.reload();
  await waitForModelRows([tinyGen, wordLang]);  // the newest change first
  const row = page.locator(`[data-testid="model-row"][data-model-id="${wordLang}"]`);
  assert.deepEqual((await row.locator('td').allInnerTexts()).map((t) => t.trim().replace(/\s+/g, ' ')),
    [`${wordLang} en fr`, 'text-classification', 'torchscript', 'mit', '0', 'just now']);
  await screenshot('models.png');

  // Search looks in names and tags; the URL keeps it, without rebuilding the page.
  await page.evaluate(() => { window.__sameView = document.querySelector('[data-models]'); });
  await page.getByLabel('Search').fill('word');
  await waitForModelRows([wordLang]);
  assert.match(page.url(), /#\/models\?search=word$/);
  await page.getByLabel('Search').fill('tiny-demo');
  await page.getByLabel('Search').press('Enter');  // at once, without waiting for more keys
  await waitForModelRows([tinyGen]);
  await page.getByLabel('Search').fill('no-such-model');
  await page.getByLabel('Search').press('Enter');
  await waitForText('[data-testid="models-none"]', 'No model matches “no-such-model”');
  assert.equal(await page.evaluate(() => window.__sameView === document.querySelector('[data-models]')), true, 'the page was not rebuilt');
  await page.getByLabel('Search').fill('');
  await page.getByLabel('Search').press('Enter');
  await waitForModelRows([tinyGen, wordLang]);

  // The task filter, which a reload keeps; the sort.
  await page.getByLabel('Task').selectOption('text-generation');
  await waitForModelRows([tinyGen]);
  assert.match(page.url(), /#\/models\?task=text-generation$/);
  await page.reload();
  await waitForModelRows([tinyGen]);
  assert.equal(await page.getByLabel('Task').inputValue(), 'text-generation');
  await page.getByLabel('Task').selectOption('text-classification');
  await waitForModelRows([wordLang]);
  await page.getByLabel('Sort').selectOption('downloads');
  await waitForModelRows([wordLang]);
  assert.match(page.url(), /#\/models\?task=text-classification&sort=downloads$/);

  // 21 models of one task: 20 on the first page, the last on the second.
  const bulk = Array.from({ length: 21 }, (_, i) => `${owner}/bulk-${String(i).padStart(2, '0')}`);
  const card = await uploadFiles(token, { 'README.md': modelCard({ task: 'tensor', body: '# Bulk\n' }) });
  await Promise.all(bulk.map((id) => commitModel(token, id, card, { message: `${id} first version` })));
  const newestFirst = await (await fetch(`${base}/api/models?task=tensor&limit=100`)).json();
  assert.equal(newestFirst.length, 21);
  await page.goto(`${base}/#/models?task=tensor`);
  await waitForModelRows(newestFirst.slice(0, 20).map((m) => m.id));
  assert.equal(await page.locator('[data-testid="models-previous"]').count(), 0);
  await page.locator('[data-testid="models-next"]').click();
  await waitForModelRows(newestFirst.slice(20).map((m) => m.id));
  assert.match(page.url(), /#\/models\?task=tensor&page=2$/);
  assert.equal(await page.locator('[data-testid="models-next"]').count(), 0);
  await page.locator('[data-testid="models-previous"]').click();
  await waitForModelRows(newestFirst.slice(0, 20).map((m) => m.id));
});

test('a model\'s page: its card rendered, what the card says, its files with sizes and hashes, and its revisions', async () => {
  assert.ok(hubAuthor?.wordLang, 'the models test published word-lang');
  const id = `${hubAuthor.name}/word-lang`;
  await page.goto(`${base}/#/models?search=word-lang`);
  await page.locator(`[data-testid="model-row"][data-model-id="${id}"] [data-testid="model-link"]`).click();
  await page.waitForURL(new RegExp(`#/models/${id}$`));
  await page.locator('[data-testid="model-card"]').waitFor();

  // The card's markdown as markup: its "# Word language" is a heading, its **language** bold.
  const title = page.locator('[data-testid="model-card"] .md-h1');
  assert.equal((await title.innerText()).trim(), 'Word language');
  assert.equal(await title.evaluate((h) => h.tagName), 'H3', 'below the page\'s own h1 and the panel\'s h2');
  assert.equal(await page.locator('[data-testid="model-card"] strong').innerText(), 'language');
  assert.deepEqual(await page.locator('[data-testid="model-card"] li').allInnerTexts(), ['trained on two word lists', 'published with potluck models push']);
  assert.equal(await page.locator('[data-testid="model-card"] li em').innerText(), 'two');
  assert.equal((await page.locator('[data-testid="model-card"] pre').innerText()).trim(), 'potluck models push ./word-lang alice/word-lang');
  assert.equal(await page.locator('[data-testid="model-card"] a[href="https://example.org/word-lists"]').innerText(), 'the word lists');
  const card = await textOf('[data-testid="model-card"]');
  assert.ok(!card.includes('**') && !card.includes('# Word'), `the markdown's marks are not shown: ${card}`);

  assert.equal((await textOf('[data-testid="about-task"]')).trim(), 'text-classification');
  assert.equal((await textOf('[data-testid="about-format"]')).trim(), 'torchscript');
  assert.equal((await textOf('[data-testid="about-license"]')).trim(), 'mit');
  assert.deepEqual(await page.locator('[data-testid="about-labels"] .chip').allInnerTexts(), ['en', 'fr']);
  // The run panel, for the revision shown, and the same from code with this daemon's address.
  assert.equal(await page.locator('[data-testid="run-panel"]').getAttribute('data-task'), 'text-classification');
  assert.equal((await textOf('[data-testid="run-curl"]')).trim(),
    `curl -X POST ${base}/models/${id} -H "Authorization: Bearer $POTLUCK_TOKEN" -d '{"inputs": "bonjour"}'`);
  assert.equal((await textOf('[data-testid="run-cli"]')).trim(), `potluck run ${id} --input text=bonjour`);

  // The files: sizes with units, the exact bytes on hover; hashes shortened, whole on hover and copied whole.
  await waitForFiles(['README.md', 'config.json', 'model.pt']);
  for (const f of hubAuthor.wordLang.files) {
    const fileRow = page.locator(`[data-testid="model-file"][data-path="${f.path}"]`);
    const size = (await fileRow.locator('[data-testid="file-size"]').innerText()).trim();
    if (f.size < 1024) assert.equal(size, `${f.size} B`, f.path);
    else assert.match(size, /^2[.,]9 KiB$/, `${f.path}: 3,000 bytes`);
    assert.match(await fileRow.locator('[data-testid="file-size"]').getAttribute('title'), new RegExp(`^${f.size >= 1000 ? '3.?000' : f.size} bytes$`));
    const sha = fileRow.locator('[data-testid="file-sha"]');
    assert.equal((await sha.innerText()).trim(), `${f.sha256.slice(0, 12)}…`);
    assert.equal(await sha.getAttribute('title'), f.sha256);
  }
  const weights = hubAuthor.wordLang.files.find((f) => f.path === 'model.pt');
  await page.locator('[data-testid="model-file"][data-path="model.pt"] [data-testid="copy-sha"]').click();
  await waitForText('[data-testid="model-file"][data-path="model.pt"] [data-testid="copy-sha"]', 'Copied');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), weights.sha256, 'Copy puts the whole hash on the clipboard');
  await page.locator('[data-testid="revision"]').first().waitFor();
  assert.equal(await page.locator('[data-testid="revision"]').count(), 1);
  await screenshot('model.png');

  // A second revision: the page lists both, newest first, and shows either.
  const second = await publishModel(hubAuthor.secret, id, {
    'README.md': modelCard({ labels: ['en', 'fr'], body: WORD_LANG_BODY }),
    'model.pt': Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(2996, 7)]),
    'config.json': '{"labels": ["en", "fr"]}\n',
    'vocab.txt': 'the\nle\n',
  }, { message: 'Add the vocabulary', parent: hubAuthor.wordLang.model.sha });
  await page.reload();
  await waitForFiles(['README.md', 'config.json', 'model.pt', 'vocab.txt']);
  const revisions = page.locator('[data-testid="revision"]');
  assert.deepEqual(await revisions.evaluateAll((rows) => rows.map((r) => r.dataset.revision)), [second.model.sha, hubAuthor.wordLang.model.sha]);
  assert.match(await revisions.first().innerText(), /Add the vocabulary/);
  assert.match(await revisions.last().innerText(), /first version/);
  assert.equal(await revisions.first().locator('[aria-current="page"]').count(), 1, 'the newest is the one shown');
  assert.equal(await page.locator('[data-testid="revision-notice"]').count(), 0);

  await revisions.last().locator('[data-testid="revision-link"]').click();
  await page.waitForURL(new RegExp(`\\?revision=${hubAuthor.wordLang.model.sha}$`));
  await waitForFiles(['README.md', 'config.json', 'model.pt']);
  await waitForText('[data-testid="revision-notice"]', 'older revision');
  assert.equal(await page.locator('[data-testid="model-revision"]').getAttribute('title'), hubAuthor.wordLang.model.sha);
  assert.equal(await page.locator('[data-testid="revision"]').last().locator('[aria-current="page"]').count(), 1);
  await screenshot('model-older-revision.png');
  await page.locator('[data-testid="newest-link"]').click();
  await waitForFiles(['README.md', 'config.json', 'model.pt', 'vocab.txt']);

  // On a phone, the card, the files and the revisions fit the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    for (const [route, shot] of [[`#/models/${id}`, 'phone-model.png'], ['#/models', null]]) {
      await page.goto(`${base}/${route}`);
      await page.locator(route === '#/models' ? '[data-testid="model-row"]' : '[data-testid="model-file"]').first().waitFor();
      const o = await noHorizontalOverflow();
      assert.ok(o.scrollWidth <= o.clientWidth && o.wide.length === 0,
        `${route} overflows a 390 px screen: scrollWidth ${o.scrollWidth} > ${o.clientWidth}; widest: ${o.wide.join(', ')}`);
      if (shot) await screenshot(shot);
    }
  } finally {
    await page.setViewportSize({ width: 1366, height: 900 });
  }
});

test('a card\'s HTML shows as text: no script runs, no image loads, no javascript: link', async () => {
  assert.ok(hubAuthor, 'the models test signed up an author');
  const id = `${hubAuthor.name}/careful`;
  await publishModel(hubAuthor.secret, id, {
    'README.md': modelCard({ body: `# Careful <b>now</b>

<script>window.__cardRan = 'script'</script>
<img src="x" onerror="window.__cardRan = 'img'">
[run me](javascript:window.__cardRan='link') and ![a picture](https://example.invalid/picture.png)
` }),
  });
  await page.goto(`${base}/#/models/${id}`);
  await page.locator('[data-testid="model-card"] .md-h1').waitFor();
  assert.equal((await textOf('[data-testid="model-card"] .md-h1')).trim(), 'Careful <b>now</b>');
  const card = await textOf('[data-testid="model-card"]');
  assert.match(card, /<script>window\.__cardRan = 'script'<\/script>/);
  assert.match(card, /<img src="x" onerror="window\.__cardRan = 'img'">/);
  assert.equal(await page.locator('[data-testid="model-card"] :is(script, img, b, iframe, style)').count(), 0);
  assert.equal(await page.locator('a[href^="javascript:"]').count(), 0);
  // The picture is a link to where it is, never loaded.
  assert.match(await page.locator('[data-testid="model-card"] a[href="https://example.invalid/picture.png"]').innerText(), /image:\s+a picture/);
  await page.locator('[data-testid="model-card"] .md-link-off').click();
  assert.equal(await page.evaluate(() => window.__cardRan), undefined, 'nothing from the card ran');
  await screenshot('model-card-html.png');
});

// ------------------------------------------------------------------ running models
// The model tests have a daemon of their own (potluckd-models): its one worker, the operator's,
// free, with one slot and every plugin of POTLUCK_PLUGIN_DIR (the torch plugin among them), is the
// only one that runs its jobs, so a job can be held in the queue behind a sleeping one while the
// page follows it. The models are examples/make_test_models.py's, made when the tests start.
const MODEL_WORKER_NAME = 'browser-model-worker';
const pythonPath = process.env.POTLUCK_PYTHON || (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const torchPlugin = path.join(pluginDir, 'libpotluck-torch.so');
let testModels;   // a promise: {dir} of the models made by make_test_models.py, or {skip: why not}
let runHub;       // the models' daemon: startDaemon's answer, and {author: {name, secret}, ids: {folder: OWNER/NAME}}

// Runs examples/make_test_models.py into TMP/test-models; never rejects.
function makeTestModels() {
  const script = path.join(sourceDir, 'examples', 'make_test_models.py');
  const dir = path.join(tmp, 'test-models');
  if (!existsSync(script)) return Promise.resolve({ skip: `${script} is missing` });
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(pythonPath, [script, '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.on('data', (c) => { output += c; });
    child.stderr.on('data', (c) => { output += c; });
    child.on('error', (e) => { clearTimeout(timer); resolve({ skip: `${pythonPath} does not start: ${e.message}` }); });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code === 0 ? { dir } : { skip: `make_test_models.py failed (${signal ?? code}; it needs PyTorch, such as Debian's python3-torch): ${output.trim().slice(-600)}` });
    });
  });
}

// Why the tests that run models cannot, or null.
async function torchMissing() {
  if (!existsSync(torchPlugin)) return `no ${torchPlugin} (the torch plugin is built only where LibTorch is found)`;
  return (await testModels).skip ?? null;
}

// A model folder's files, as publishModel takes them.
function folderFiles(dir) {
  return Object.fromEntries(readdirSync(dir).map((name) => [name, readFileSync(path.join(dir, name))]));
}

// The job a run panel submitted, from its link.
async function runJobId() {
  const href = await page.locator('[data-testid="run-job-link"]').getAttribute('href');
  return Number(/^#\/jobs\/(\d+)$/.exec(href)[1]);
}

// Waits until the models' daemon lists `task` with a connected worker.
async function waitForOffered(task, timeoutMs = START_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { tasks } = await apiGet('/tasks', runHub.base);
    if (tasks.some((t) => t.name === task && t.workers > 0)) return;
    if (Date.now() > deadline) assert.fail(`no worker offers ${task}: the daemon lists ${tasks.map((t) => t.name).join(', ') || 'nothing'}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// A 24-bit BMP of width × height whose pixel (x, y) is color(x, y) = [r, g, b].
function bmp(width, height, color) {
  const row = Math.ceil((width * 3) / 4) * 4;
  const b = Buffer.alloc(54 + row * height);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(width, 18);
  b.writeInt32LE(height, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  b.writeUInt32LE(row * height, 34);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, blue] = color(x, y);
      const at = 54 + (height - 1 - y) * row + x * 3;  // rows bottom up, BGR
      b[at] = blue;
      b[at + 1] = g;
      b[at + 2] = r;
    }
  }
  return b;
}

// The labels a ranked list shows, in order, with their scores.
async function shownLabels(list) {
  return list.locator('[data-testid="run-label"]').evaluateAll((items) => items.map((li) => [li.dataset.label, Number(li.dataset.score)]));
}

// An answer's labels, best first, as shownLabels reads them.
const bestFirst = (labels) => [...labels].sort((a, b) => b.score - a.score).map((x) => [x.label, x.score]);

test('a model\'s run panel, signed out: the form is disabled with a sign-in hint; the code block names this host', async () => {
  runHub = await startDaemon('potluckd-models', 'var-models');
  const made = await apiCall('POST', '/accounts', { body: { name: `runner-${Date.now().toString(36)}` }, at: runHub.base });
  assert.equal(made.status, 201, JSON.stringify(made.data));
  runHub.author = { name: made.data.account.name, secret: made.data.token.secret };
  runHub.ids = {};
  const at = runHub.base;
  // A card whose weights would be ONNX: no worker here has a plugin for that format.
  const onnx = `${runHub.author.name}/onnx-lang`;
  runHub.ids.onnx = onnx;
  await publishModel(runHub.author.secret, onnx, { 'README.md': modelCard({ format: 'onnx', labels: ['en', 'fr'], body: '# ONNX language\n' }) }, { at });

  // This origin has never signed in: the form is there, disabled, with the way to sign in.
  await page.goto(`${at}/#/models/${onnx}`);
  await waitForText('[data-testid="run-signin"]', 'Sign in to run');
  assert.equal(await page.locator('[data-testid="run-signin"]').getAttribute('href'), '#/signin');
  assert.equal(await page.locator('[data-testid="run-texts"]').isDisabled(), true, 'the fields are disabled');
  assert.equal(await page.locator('[data-testid="run-submit"]').count(), 0, 'no button that would fail');
  await page.locator('[data-testid="run-offline"]').waitFor();
  assert.match(await textOf('[data-testid="run-offline"]'), /No connected worker runs onnx text-classification models right now/);
  assert.equal((await textOf('[data-testid="run-curl"]')).trim(),
    `curl -X POST ${at}/models/${onnx} -H "Authorization: Bearer $POTLUCK_TOKEN" -d '{"inputs": "bonjour"}'`);
  assert.equal((await textOf('[data-testid="run-cli"]')).trim(), `potluck run ${onnx} --input text=bonjour`);
  await screenshot('model-run-signed-out.png');
});

test('a model no worker can run: the panel says why its job waits, and Cancel stops it', async () => {
  assert.ok(runHub?.author, 'the run panel test started the models\' daemon');
  const at = runHub.base;
  const onnx = runHub.ids.onnx;
  await openSignedInAs(runHub.author.secret, `#/models/${onnx}`, at);
  await page.locator('[data-testid="run-submit"]').waitFor();
  await page.locator('[data-testid="run-texts"]').fill('bonjour\nhello');
  await page.locator('[data-testid="run-submit"]').click();
  await waitForText('[data-testid="run-waiting"]', 'waiting: no worker has a plugin for format onnx (text-classification models)');
  assert.equal((await textOf('[data-testid="run-state"]')).trim(), 'queued');
  assert.equal(await page.locator('[data-testid="run-submit"]').isDisabled(), true, 'one run at a time');
  const id = await runJobId();
  const job = await apiGet(`/jobs/${id}`, at);
  assert.equal(job.state, 'queued');
  assert.equal(job.waiting, (await textOf('[data-testid="run-waiting"]')).trim());
  const model = await (await fetch(`${at}/api/models/${onnx}`)).json();
  assert.equal(job.model, `${onnx}@${model.sha}`, 'the revision the page shows');
  assert.deepEqual(job.inputs, [{ name: 'text', dtype: 'u8', shape: [2, 7] }], 'one row of bytes per line');
  await screenshot('model-run-waiting.png');

  await page.locator('[data-testid="run-cancel"]').click();
  await waitForText('[data-testid="run-state"]', 'cancelled');
  await page.locator('[data-testid="run-cancel"]').waitFor({ state: 'detached' });
  assert.equal((await waitForJobState(id, ['cancelled'], WAIT_MS, at)).state, 'cancelled');
  assert.equal(await page.locator('[data-testid="run-waiting"]').count(), 0);
  assert.equal(await page.locator('[data-testid="run-submit"]').isDisabled(), false, 'it may run again');
  // The job's own page, a link away, names the model and leads back to it.
  await page.locator('[data-testid="run-job-link"]').click();
  await page.waitForURL(new RegExp(`#/jobs/${id}$`));
  await waitForText('[data-testid="job-state"]', 'cancelled');
  assert.match(await textOf('[data-testid="job-model"]'), new RegExp(`${onnx}\\s+@${model.sha.slice(0, 10)}`));
  await page.locator('[data-testid="job-model-link"]').click();
  await page.waitForURL(new RegExp(`#/models/${onnx}\\?revision=${model.sha}$`));
  await page.locator('[data-testid="run-panel"]').waitFor();
});

test('a parameter the daemon refuses (422) shows next to the form; one that is not a number never leaves the page', async () => {
  assert.ok(runHub?.author, 'the run panel test started the models\' daemon');
  const at = runHub.base;
  // A card alone: the daemon checks a job's parameters against the task before any worker has it.
  const writer = `${runHub.author.name}/card-writer`;
  await publishModel(runHub.author.secret, writer, { 'README.md': modelCard({ task: 'text-generation', body: '# A writer\n' }) }, { at });
  await page.goto(`${at}/#/models/${writer}`);
  await page.locator('[data-testid="run-submit"]').waitFor();
  assert.equal((await textOf('[data-testid="run-cli"]')).trim(), `potluck run ${writer} --input prompt=bonjour`);
  const submittedBefore = (await apiGet('/stats', at)).jobs_submitted;

  await page.locator('[data-testid="run-prompt"]').fill('bonjour');
  await page.locator('[data-testid="run-top_k"]').fill('2.5');
  await page.locator('[data-testid="run-submit"]').click();
  await waitForText('[data-testid="run-error"]', 'top_k must be a whole number, not “2.5”.');
  assert.equal(await page.locator('[data-testid="run-top_k"]').getAttribute('aria-invalid'), 'true');
  await page.locator('[data-testid="run-top_k"]').fill('');

  await page.getByLabel('max_new_tokens').fill('5000');
  await page.locator('[data-testid="run-submit"]').click();
  const refused = await apiCall('POST', '/jobs', { token: runHub.author.secret, at, body: {
    model: writer, inputs: { prompt: { text: 'bonjour' } }, params: { max_new_tokens: 5000 } } });
  assert.equal(refused.status, 422, JSON.stringify(refused.data));
  await waitForText('[data-testid="run-error"]', refused.data.error.message);
  assert.match(refused.data.error.message, /max_new_tokens/);
  assert.equal(await page.locator('[data-testid="run-max_new_tokens"]').getAttribute('aria-invalid'), 'true', 'the field it names');
  assert.equal(await page.locator('[data-testid="run-status"]').count(), 0, 'no job');
  assert.equal((await apiGet('/stats', at)).jobs_submitted, submittedBefore, 'nothing was submitted');
  await screenshot('model-run-422.png');
});

test('text classification: two lines, each with its labels ranked best first', async (t) => {
  const missing = await torchMissing();
  if (missing) { t.skip(missing); return; }
  const at = runHub.base;
  const { dir } = await testModels;
  runHub.worker = startProcess('potluck-worker-models', path.join(buildDir, 'bin', 'potluck-worker'), [
    '--daemon', runHub.workersEndpoint, '--plugins', pluginDir, '--gpus', 'none', '--slots', '1', '--name', MODEL_WORKER_NAME,
    '--grace-ms', '1000', '--token-file', runHub.tokenFile, '--model-cache', path.join(tmp, 'model-cache'),
  ]);
  for (const folder of ['classifier', 'generator', 'image', 'tensor-model', 'broken']) {
    const files = folderFiles(path.join(dir, folder));
    // The hub keeps only what looks like TorchScript (a zip): broken weights that pass for one.
    if (folder === 'broken' && !files['model.pt'].subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1'))) {
      files['model.pt'] = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), files['model.pt']]);
    }
    runHub.ids[folder] = `${runHub.author.name}/${folder}`;
    await publishModel(runHub.author.secret, runHub.ids[folder], files, { at });
  }
  await waitForOffered('torchscript.text-classification');

  await page.goto(`${at}/#/models/${runHub.ids.classifier}`);
  await page.locator('[data-testid="run-offline"]').waitFor({ state: 'hidden' });
  await page.locator('[data-testid="run-texts"]').fill('bonjour\n\nhello there');
  await page.locator('[data-testid="run-submit"]').click();
  await waitForText('[data-testid="run-state"]', 'succeeded', START_MS);
  const id = await runJobId();
  const job = await apiGet(`/jobs/${id}`, at);
  assert.equal(job.result.answer.length, 2, 'the empty line is not a text');
  const results = page.locator('[data-testid="run-text-result"]');
  assert.deepEqual(await results.evaluateAll((items) => items.map((li) => li.dataset.text)), ['bonjour', 'hello there']);
  for (const [i, labels] of job.result.answer.entries()) {
    const shown = await shownLabels(results.nth(i));
    assert.deepEqual(shown, bestFirst(labels), `text ${i + 1}: the daemon's labels, best first`);
    assert.deepEqual(shown.map(([l]) => l).sort(), ['alpha', 'beta', 'gamma']);
    const [, best] = shown[0];
    const width = await results.nth(i).locator('.ranked-bar > span').first().evaluate((s) => parseFloat(s.style.width));
    assert.ok(Math.abs(width - best * 100) <= 0.05, `the best label's bar is ${width}% wide for a score of ${best}`);
  }
  await screenshot('model-run-classify.png');
});

test('text generation at temperature 0: the text grows in the output box as it is written, then the final text', async (t) => {
  const missing = await torchMissing();
  if (missing) { t.skip(missing); return; }
  const at = runHub.base;
  await waitForOffered('torchscript.text-generation');
  await page.goto(`${at}/#/models/${runHub.ids.generator}`);
  await page.locator('[data-testid="run-submit"]').waitFor();
  // The worker's one slot sleeps, so the run waits where the page follows it from the start.
  const sleeper = (await apiCall('POST', '/jobs', { token: runHub.adminToken, at, body: { task: 'test.sleep', params: { ms: 60000 } } })).data;
  await waitForJobState(sleeper.id, ['running'], WAIT_MS, at);
  // Every text the output box shows, in order, and whether it was still being written.
  await page.evaluate(() => {
    window.__generated = [];
    const result = document.querySelector('[data-testid="run-result"]');
    new MutationObserver(() => {
      const box = document.querySelector('[data-testid="run-output"]');
      const text = box?.querySelector('[data-generated]')?.textContent;
      if (text === undefined) return;
      const busy = box.getAttribute('aria-busy') === 'true';
      const last = window.__generated[window.__generated.length - 1];
      if (!last || last.text !== text || last.busy !== busy) window.__generated.push({ text, busy });
    }).observe(result, { childList: true, subtree: true, characterData: true, attributes: true });
  });
  const prompt = 'bonjour';
  await page.locator('[data-testid="run-prompt"]').fill(prompt);
  await page.getByLabel('temperature').fill('0');
  await page.getByLabel('max_new_tokens').fill('400');
  await page.locator('[data-testid="run-submit"]').click();
  await waitForText('[data-testid="run-waiting"]', 'busy');
  assert.equal(await page.locator('[data-testid="run-output"]').getAttribute('aria-busy'), 'true');
  assert.equal((await apiCall('POST', `/jobs/${sleeper.id}/cancel`, { token: runHub.adminToken, at })).status, 200);

  await waitForText('[data-testid="run-state"]', 'succeeded', START_MS);
  const id = await runJobId();
  const job = await apiGet(`/jobs/${id}`, at);
  assert.deepEqual(job.params, { temperature: 0, max_new_tokens: 400 }, 'only the fields given');
  const full = job.result.answer[0].generated_text;
  assert.ok(full.startsWith(prompt) && full.length > prompt.length + 1, `the answer: ${full}`);
  const written = full.slice(prompt.length);
  await waitForAttribute('[data-testid="run-output"]', 'aria-busy', 'false');
  assert.equal(await page.locator('[data-testid="run-output"]').textContent(), full, 'the prompt, then the final text');
  assert.equal(await page.locator('[data-testid="run-output-prompt"]').textContent(), prompt);

  const seen = await page.evaluate(() => window.__generated);
  const partial = seen.filter((s) => s.busy && s.text !== '');
  assert.ok(partial.length >= 1, `no text was shown while it was written: ${JSON.stringify(seen).slice(0, 400)}`);
  for (const s of partial) assert.ok(written.startsWith(s.text), `"${s.text}" is not the start of "${written}"`);
  assert.ok(partial.some((s) => s.text.length < written.length), `the text showed only once whole: ${JSON.stringify(seen).slice(0, 400)}`);
  for (let i = 1; i < seen.length; i++) {
    assert.ok(seen[i].text.startsWith(seen[i - 1].text), `the text only grows: "${seen[i - 1].text}" then "${seen[i].text}"`);
  }
  assert.deepEqual(seen[seen.length - 1], { text: written, busy: false });
  await screenshot('model-run-generate.png');
});

test('a model whose weights do not load: the panel shows the job\'s error', async (t) => {
  const missing = await torchMissing();
  if (missing) { t.skip(missing); return; }
  const at = runHub.base;
  await page.goto(`${at}/#/models/${runHub.ids.broken}`);
  await page.locator('[data-testid="run-texts"]').fill('bonjour');
  await page.locator('[data-testid="run-submit"]').click();
  await waitForText('[data-testid="run-state"]', 'failed', START_MS);
  await waitForText('[data-testid="run-job-error-message"]', 'does not load');
  const job = await apiGet(`/jobs/${await runJobId()}`, at);
  assert.equal((await textOf('[data-testid="run-job-error-message"]')).trim(), job.error.message);
  assert.match(job.error.message, new RegExp(`model ${runHub.ids.broken}@[0-9a-f]+ does not load`));
  assert.equal(await page.locator('[data-testid="run-answer"]').count(), 0);
  await screenshot('model-run-broken.png');
});

test('an image is read in the browser, scaled, previewed and classified; a tensor model answers a tensor', async (t) => {
  const missing = await torchMissing();
  if (missing) { t.skip(missing); return; }
  const at = runHub.base;
  try {
    await page.goto(`${at}/#/models/${runHub.ids.image}`);
    await page.locator('[data-testid="run-image"]').waitFor();
    // 600 × 300: red on the left, blue on the right; sent at most 512 px a side.
    const image = bmp(600, 300, (x) => (x < 300 ? [230, 20, 20] : [20, 20, 230]));
    await page.locator('[data-testid="run-image"]').setInputFiles({ name: 'swatch.bmp', mimeType: 'image/bmp', buffer: image });
    await page.locator('[data-testid="run-preview"]').waitFor();
    assert.deepEqual(await page.locator('[data-testid="run-preview"]').evaluate((c) => [c.width, c.height]), [512, 256]);
    assert.match(await textOf('[data-run-preview-caption]'), /512 × 256 px \(scaled from 600 × 300\)/);
    await page.locator('[data-testid="run-submit"]').click();
    await waitForText('[data-testid="run-state"]', 'succeeded', START_MS);
    const job = await apiGet(`/jobs/${await runJobId()}`, at);
    assert.deepEqual(job.inputs, [{ name: 'image', dtype: 'u8', shape: [256, 512, 3] }]);
    const shown = await shownLabels(page.locator('[data-testid="run-answer"]'));
    assert.deepEqual(shown, bestFirst(job.result.answer));
    assert.deepEqual(shown.map(([l]) => l).sort(), ['blue', 'green', 'red']);
    await screenshot('model-run-image.png');

    await page.goto(`${at}/#/models/${runHub.ids['tensor-model']}`);
    await page.locator('[data-testid="run-tensor"]').fill('{"dtype": "f32", "data": [[1, 2], [3, 4]]}');
    await page.locator('[data-testid="run-submit"]').click();
    await waitForText('[data-testid="run-state"]', 'succeeded', START_MS);
    const cells = await page.locator('[data-testid="run-answer"] [data-testid="output-output"] td').allInnerTexts();
    assert.deepEqual(cells.map((c) => c.trim()), ['1.75', '3.25', '4.75', '6.25'], 'x * 1.5 + 0.25');
    await screenshot('model-run-tensor.png');
  } finally {
    if (runHub.worker) await stopProcess(runHub.worker);
    await stopProcess(runHub.entry);
  }
});

test('a lying donor\'s worker: the job page shows the check, the admin page flags the worker and the donor', async () => {
  // A second daemon that checks every result of a donor, the operator's worker as the trusted
  // reference (asking more than the user bids, so it only checks), and a donor's worker whose
  // matmul adds 1 to every element.
  const checks = await startDaemon('potluckd-checks', 'var-checks', ['--check-percent', '100']);
  const at = checks.base;
  const signUp = async (prefix) => {
    const made = await apiCall('POST', '/accounts', { body: { name: `${prefix}-${Date.now().toString(36)}` }, at });
    assert.equal(made.status, 201, JSON.stringify(made.data));
    return { name: made.data.account.name, secret: made.data.token.secret };
  };
  const [liar, user] = [await signUp('liar'), await signUp('user')];
  const workerArgs = ['--daemon', checks.workersEndpoint, '--gpus', 'none', '--slots', '1', '--grace-ms', '1000'];
  const trustedWorker = startProcess('potluck-worker-trusted', path.join(buildDir, 'bin', 'potluck-worker'), [
    ...workerArgs, '--plugins', pluginDir, '--name', TRUSTED_WORKER_NAME, '--token-file', checks.tokenFile, '--price', 'cpu=5']);
  const liarWorker = startProcess('potluck-worker-liar', path.join(buildDir, 'bin', 'potluck-worker'), [
    ...workerArgs, '--plugins', liarPluginDir, '--name', LIAR_WORKER_NAME, '--token', liar.secret, '--price', 'cpu=2']);
  try {
    await Promise.all([waitForWorker(TRUSTED_WORKER_NAME, () => true, START_MS, at), waitForWorker(LIAR_WORKER_NAME, () => true, START_MS, at)]);
    // The trusted worker's one slot is busy, so the check waits where the page can see it.
    const asOperator = { token: checks.adminToken, at };
    const sleeper = (await apiCall('POST', '/jobs', { ...asOperator, body: { task: 'test.sleep', params: { ms: 60000 } } })).data;
    await waitForJobState(sleeper.id, ['running'], WAIT_MS, at);
    const submitted = await apiCall('POST', '/jobs', { token: user.secret, at, body: {
      task: 'linalg.matmul', inputs: { a: { dtype: 'f32', data: [[1, 2], [3, 4]] }, b: { dtype: 'f32', data: [[5, 6], [7, 8]] } }, bid: 3 * MICRO,
    } });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.data));
    const { id } = submitted.data;

    await openSignedInAs(user.secret, `#/jobs/${id}`, at);
    await waitForText('[data-testid="job-message"]', `Checking the result of worker ${LIAR_WORKER_NAME}.`);
    assert.equal((await textOf('[data-testid="job-state"]')).trim(), 'running');
    assert.equal((await apiGet(`/jobs/${id}`, at)).message, `checking the result of worker '${LIAR_WORKER_NAME}' on a trusted worker`);
    await screenshot('job-checking.png');
    assert.equal((await apiCall('POST', `/jobs/${sleeper.id}/cancel`, asOperator)).status, 200);

    // The results disagreed: the trusted worker's product stands and the operator is paid.
    await waitForText('[data-testid="job-state"]', 'succeeded');
    await page.locator('[data-testid="output-c"] td').first().waitFor();
    const cells = await page.locator('[data-testid="output-c"] td').allInnerTexts();
    assert.deepEqual(cells.map((c) => c.trim()), ['19', '22', '43', '50'], 'not the liar\'s 20, 23, 44, 51');
    const operator = (await apiCall('GET', '/account', asOperator)).data.account.name;
    await waitForText('[data-testid="billing-paid-to"]', operator);

    // The overview's cards: the liar's failed check; the trusted worker is never checked.
    await page.goto(`${at}/#/`);
    const liarCard = page.locator('[data-testid="worker"]', { hasText: LIAR_WORKER_NAME });
    await waitForText('[data-testid="worker-checks"]', '0 passed, 1 failed');
    assert.equal((await liarCard.locator('[data-testid="worker-checks"]').innerText()).trim(), '0 passed, 1 failed');
    assert.equal(await page.locator('[data-testid="worker"]', { hasText: TRUSTED_WORKER_NAME }).locator('[data-testid="worker-checks"]').count(), 0);

    // The admin page. The check is journaled after the job ends: wait for the daemon to list it.
    const deadline = Date.now() + WAIT_MS;
    let flagged;
    while (!(flagged = (await apiCall('GET', '/admin/flagged', asOperator)).data).donors.length) {
      assert.ok(Date.now() < deadline, `the daemon flags nobody: ${JSON.stringify(flagged)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const [flag] = flagged.workers[0].flags;
    assert.equal(flag, 'its results disagreed with a trusted worker\'s 1 time');
    await openSignedInAs(checks.adminToken, '#/admin', at);
    const row = page.locator(`[data-testid="flagged-worker"][data-worker-name="${LIAR_WORKER_NAME}"]`);
    await row.waitFor();
    assert.equal(await page.locator('[data-testid="flagged-worker"]').count(), 1, 'only the liar\'s worker');
    assert.equal((await row.locator('[data-testid="flagged-owner"]').innerText()).trim(), liar.name);
    assert.deepEqual((await row.locator('[data-testid="flagged-flags"] li').allInnerTexts()).map((t) => t.trim()), [flag]);
    assert.equal((await row.locator('[data-testid="flagged-checks"]').innerText()).trim(), '0 passed · 1 failed');
    assert.equal((await row.locator('[data-testid="flagged-jobs"]').innerText()).trim(), '1 done · 0 failed');
    const donor = page.locator(`[data-testid="flagged-donor"][data-account="${liar.name}"]`);
    await donor.waitFor();
    for (const [field, want] of [['checked', '1'], ['agreed', '0'], ['disagreed', '1'], ['streak', '0']]) {
      assert.equal((await donor.locator(`[data-testid="donor-${field}"]`).innerText()).trim(), want, field);
    }
    assert.match(await donor.locator('[data-testid="donor-last"]').innerText(), /ago|now/);
    assert.equal(await page.locator('[data-testid="flagged-empty"]').count(), 0);
    await waitForText('[data-testid="setting-check_percent"]', '100 % of results');
    await screenshot('admin-flagged.png');
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      const o = await noHorizontalOverflow();
      assert.ok(o.scrollWidth <= o.clientWidth && o.wide.length === 0,
        `#/admin overflows a 390 px screen: scrollWidth ${o.scrollWidth} > ${o.clientWidth}; widest: ${o.wide.join(', ')}`);
      await screenshot('phone-admin-flagged.png');
    } finally {
      await page.setViewportSize({ width: 1366, height: 900 });
    }

    // Once the liar's worker leaves, the page reads the flags again: its donor stays listed.
    await stopProcess(liarWorker);
    await waitForText('[data-testid="flagged"]', 'No connected worker is flagged.');
    await donor.waitFor();
  } finally {
    await Promise.all([liarWorker, trustedWorker].map((e) => stopProcess(e)));
    await stopProcess(checks.entry);
  }
});

test('no script error and no request outside the daemon', () => {
  assert.deepEqual(pageErrors, []);
});
