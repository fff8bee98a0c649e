// The browser app's flows, in three browser contexts at once (a client, a worker and an admin), against a freshly
// seeded server this script starts (and restarts) itself. Every test saves a screenshot of each context's page
// under test-results/, and fails on any browser console error (Content-Security-Policy violations included).
//
// Usage (the README's test command runs it): SERVER_BIN=.../server DATABASE_URL=... JWT_SECRET=... node flows.mjs
// The environment is passed to two server instances on E2E_PORT (the browsers' one, restarted by the
// dropped-socket test) and E2E_PORT + 1 (a second instance, used while the first is down).
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';

const port = Number(process.env.E2E_PORT ?? 3301);
const base = `http://127.0.0.1:${port}`;
const other = `http://127.0.0.1:${port + 1}`;
const out = new URL('./test-results/', import.meta.url).pathname;
mkdirSync(out, { recursive: true });
const stamp = Date.now().toString(36);

// ---- the servers ----------------------------------------------------------------------------------------------
function startServer(p) {
  const child = spawn(process.env.SERVER_BIN, ['serve'], {
    env: { ...process.env, LEPTOS_SITE_ADDR: `127.0.0.1:${p}`, PUBLIC_URL: `http://127.0.0.1:${p}` },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return child;
}
async function ready(url) {
  for (let i = 0; i < 100; i += 1) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not become ready`);
}
let serverA = startServer(port);
const serverB = startServer(port + 1);
await Promise.all([ready(base), ready(other)]);

// ---- the browsers ---------------------------------------------------------------------------------------------
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const errors = [];
let tolerateNetworkErrors = false;
// Every page runs under its Content-Security-Policy: any violation is a console error, which fails the test
// (Chromium logs most as errors itself; the event catches every one, reported or not).
async function reportCspViolations(ctx) {
  await ctx.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) => {
    const where = `${e.sourceFile}:${e.lineNumber}`;
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline code'} at ${where}`);
  }));
}
async function context(role) {
  const ctx = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 860 } });
  await reportCspViolations(ctx);
  const page = await ctx.newPage();
  watch(page, role);
  return { role, ctx, page };
}
function watch(page, role) {
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    // While the server is down on purpose, the browser reports the refused connections: expected, not the app's.
    if (tolerateNetworkErrors && /ERR_CONNECTION_REFUSED|WebSocket connection to .* failed/.test(text)) return;
    errors.push(`${role}: ${text}`);
  });
  page.on('pageerror', (e) => errors.push(`${role}: ${e}`));
}
const client = await context('client');
const worker = await context('worker');
const admin = await context('admin');
const all = [client, worker, admin];

let passed = 0;
let failed = 0;
async function test(name, body) {
  errors.length = 0;
  try {
    await body();
    if (errors.length) throw new Error(`console errors: ${errors.join(' | ')}`);
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`not ok - ${name}: ${e.message.split('\n')[0]}`);
    const line = (e.stack ?? '').split('\n').find((l) => l.includes('flows.mjs'));
    if (line) console.log(`    # at ${line.trim()}`);
    for (const c of all) console.log(`    # ${c.role} was at ${c.page.url()}`);
  } finally {
    const slug = name.replace(/\W+/g, '-').replace(/-$/, '');
    for (const c of all) {
      await c.page.screenshot({ path: `${out}flow-${slug}-${c.role}.png`, fullPage: true }).catch(() => {});
    }
  }
}
const T = { timeout: 15000 };
async function hydrated(page) {
  // The live indicator turns green once the WASM runs and the socket says hello.
  await page.waitForSelector('#conn.online', T);
}
async function signIn(c, username, password) {
  await c.page.goto(`${base}/signin`);
  await c.page.waitForLoadState('networkidle');
  await c.page.fill('input[name=username]', username);
  await c.page.fill('input[name=password]', password);
  await Promise.all([c.page.waitForURL(`${base}/`, T), c.page.click('#signin-form button[type=submit]')]);
  await hydrated(c.page);
}
// Records the requests a page makes from now on (its socket's frames are not requests).
function recordRequests(page) {
  const seen = [];
  const listener = (r) => seen.push({ url: r.url(), type: r.resourceType(), method: r.method() });
  page.on('request', listener);
  return { seen, stop: () => page.off('request', listener) };
}
// The live parts follow the socket's frames: after an event, a page may make at most one small JSON read of one
// row (a server function under /_fn/get_…), never fetch a page (its document or any HTML) again.
const SMALL_READS = /^\/_fn\/(get_order_row|get_order_message|get_transaction|get_unread_count)$/;
function assertNoPageFetch(name, rec) {
  for (const r of rec.seen) {
    const path = new URL(r.url).pathname;
    if (r.type === 'document' || !SMALL_READS.test(path)) {
      throw new Error(`${name} made a request, not a small read, after an event: ${r.method} ${r.url} (${r.type})`);
    }
  }
}
async function api(method, path, token, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body) headers['content-type'] = 'application/json';
  const r = await fetch(`${base}/api/v1${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (!r.ok) throw new Error(`${method} ${path} answered ${r.status}`);
  return r.status === 204 ? null : r.json();
}
async function token(username, password) {
  const r = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }),
  });
  return (await r.json()).access;
}
async function badge(page) {
  const hidden = await page.locator('#unread-badge.hidden').count();
  return hidden ? 0 : Number(await page.locator('#unread-badge').textContent());
}

let orderId = 0;
const clientName = `e2e_client_${stamp}`;

await test('a client signs up; the worker and the admin sign in', async () => {
  await client.page.goto(`${base}/signup`);
  await client.page.waitForLoadState('networkidle');
  await client.page.fill('input[name=full_name]', 'Aziza E2E');
  await client.page.fill('input[name=username]', clientName);
  await client.page.fill('input[name=password]', 'e2e-pass-2026');
  await Promise.all([client.page.waitForURL(`${base}/services`, T), client.page.click('#signup-form button[type=submit]')]);
  await hydrated(client.page);
  await client.page.waitForSelector('text=Aziza E2E', T);
  await client.page.waitForSelector('article[data-service="Plumbing repair"]', T);
  await signIn(worker, 'worker', 'worker-demo-2026');
  await worker.page.waitForSelector('h1:has-text("Orders assigned to me")', T);
  await signIn(admin, 'admin', 'admin-demo-2026');
  await admin.page.goto(`${base}/orders`);
  await hydrated(admin.page);
});

const lists = {};
await test('the client orders; the worker and the admin see it appear without reloading', async () => {
  for (const c of [worker, admin]) {
    await c.page.waitForLoadState('networkidle');
    lists[c.role] = recordRequests(c.page);
  }
  const card = client.page.locator('article[data-service="Plumbing repair"]');
  await card.locator('.order-open').click();
  await card.locator('select[name=worker_id]').selectOption({ label: 'Bekzod Usta (worker)' });
  await card.locator('textarea[name=description]').fill('The kitchen tap drips. Evenings after 18:00.');
  await Promise.all([client.page.waitForURL(/\/orders\/\d+$/, T), card.locator('button.order-submit').click()]);
  orderId = Number(client.page.url().split('/').pop());
  await client.page.waitForSelector('#order-status [data-status=pending]', T);
  for (const c of [worker, admin]) {
    await c.page.waitForSelector(`tr[data-order="${orderId}"] [data-status=pending]`, T);
  }
  await worker.page.waitForSelector(`.toast:has-text("#${orderId}")`, T);
  for (const c of [worker, admin]) {
    assertNoPageFetch(`the ${c.role}'s order list`, lists[c.role]);
    // The new order's frame carried its row: the list read nothing for it.
    const reads = lists[c.role].seen.filter((r) => new URL(r.url).pathname === '/_fn/get_order_row');
    if (reads.length) throw new Error(`the ${c.role}'s order list read the new order's row instead of taking it from the frame`);
  }
  for (const c of [worker, admin]) lists[c.role].stop();
});

await test('the client pays through the sandbox; everyone sees paid', async () => {
  await Promise.all([client.page.waitForURL(/\/sandbox\/payme\//, T), client.page.click('#pay-payme')]);
  await client.page.click('button[value=pay]');
  await client.page.waitForSelector('#status:has-text("paid")', T);
  await client.page.click('text=Back to the order');
  await client.page.waitForSelector('#order-status [data-status=paid]', T);
  await hydrated(client.page);
  for (const c of [worker, admin]) {
    await c.page.waitForSelector(`tr[data-order="${orderId}"] [data-status=paid]`, T);
  }
});

await test('the worker starts work; the client\'s badge and page update live', async () => {
  const before = await badge(client.page);
  await worker.page.click(`tr[data-order="${orderId}"] a >> nth=0`);
  await worker.page.waitForSelector('button[data-to=in_process]', T);
  await worker.page.click('button[data-to=in_process]');
  await worker.page.waitForSelector('#order-status [data-status=in_process]', T);
  await client.page.waitForSelector('#order-status [data-status=in_process]', T);
  await client.page.waitForFunction((n) => {
    const b = document.querySelector('#unread-badge');
    return b && !b.classList.contains('hidden') && Number(b.textContent) > n;
  }, before, T);
  await client.page.waitForSelector('#timeline >> text=is now In process', T);
});

await test('the client and the worker talk in the order\'s conversation', async () => {
  await client.page.fill('#message-text', 'Hello! Please bring a spare washer.');
  await client.page.click('#send-message');
  await client.page.waitForSelector('.message.mine:has-text("spare washer")', T);
  await worker.page.waitForSelector('.message:has-text("spare washer")', T);
  await worker.page.fill('#message-text', 'Sure, I will be there at 18:30.');
  await worker.page.click('#send-message');
  await client.page.waitForSelector('.message:not(.mine):has-text("18:30")', T);
});

await test('the notification page, an order page and the dashboard follow the frames, not fetched again', async () => {
  // Another order of the client, made through the API; the admin opens its page, the notification page and the
  // dashboard side by side in one context.
  const clientToken = await token(clientName, 'e2e-pass-2026');
  const services = await api('GET', '/services?limit=100', clientToken);
  const plumbing = services.results.find((x) => x.name === 'Plumbing repair');
  const other = await api('POST', '/orders', clientToken, { service_id: plumbing.id, description: 'Live check.' });
  const pages = {};
  const paths = { notifications: '/notifications', order: `/orders/${other.id}`, dashboard: '/admin' };
  for (const [name, path] of Object.entries(paths)) {
    const page = await admin.ctx.newPage();
    watch(page, `admin (${name})`);
    await page.goto(`${base}${path}`);
    await hydrated(page);
    await page.waitForLoadState('networkidle');
    pages[name] = page;
  }
  const number = async (page, selector) => Number((await page.textContent(selector)).replace(/\D/g, ''));
  const reaches = (page, selector, n) => page.waitForFunction(
    ([sel, want]) => Number(document.querySelector(sel)?.textContent.replace(/\D/g, '')) === want, [selector, n], T);
  const totalBefore = await number(pages.dashboard, '#stat-orders');
  const canceledBefore = await number(pages.dashboard, 'g.status-canceled text.value');
  const recorded = Object.fromEntries(Object.entries(pages).map(([name, page]) => [name, recordRequests(page)]));

  // A message from the client: the conversation and the timeline, the notification page, the recent events.
  await api('POST', `/orders/${other.id}/messages`, clientToken, { text: `Is the plumber free today, ${stamp}?` });
  await pages.order.waitForSelector(`#messages .message:has-text("free today, ${stamp}")`, T);
  await pages.order.waitForSelector(`#messages .message:has-text("Aziza E2E")`, T);
  await pages.order.waitForSelector(`#timeline >> text=New message on order #${other.id}`, T);
  const feed = pages.notifications;
  await feed.waitForSelector(`#feed > .note.unread[data-kind=order_message]:has-text("#${other.id}")`, T);
  await pages.dashboard.waitForSelector(`#recent > li:first-child:has-text("#${other.id}")`, T);

  // A new order: the dashboard's total and the notification page.
  const third = await api('POST', '/orders', clientToken, { service_id: plumbing.id });
  await reaches(pages.dashboard, '#stat-orders', totalBefore + 1);
  await feed.waitForSelector(`#feed > .note:first-child[data-kind=order_created]:has-text("#${third.id}")`, T);

  // The client cancels the first: the order page's status and buttons, the dashboard's counts.
  await api('PATCH', `/orders/${other.id}/status`, clientToken, { status: 'canceled' });
  await pages.order.waitForSelector('#order-status [data-status=canceled]', T);
  await pages.order.waitForSelector('#moves', { ...T, state: 'detached' });
  await reaches(pages.dashboard, 'g.status-canceled text.value', canceledBefore + 1);
  await api('PATCH', `/orders/${third.id}/status`, clientToken, { status: 'canceled' });
  await reaches(pages.dashboard, 'g.status-canceled text.value', canceledBefore + 2);

  for (const [name, rec] of Object.entries(recorded)) {
    rec.stop();
    assertNoPageFetch(`the ${name} page`, rec);
  }
  for (const [name, page] of Object.entries(pages)) {
    await page.screenshot({ path: `${out}flow-live-frames-${name}.png`, fullPage: true });
    await page.close();
  }
});

const newWorker = `e2e_worker_${stamp}`;
const newService = `Window cleaning ${stamp}`;
await test('the admin creates a worker and a service', async () => {
  await admin.page.goto(`${base}/admin/users`);
  await hydrated(admin.page);
  await admin.page.click('summary');
  // A taken username: the form comes back with the server's error and what was typed (the password excepted).
  await admin.page.fill('#create-user input[name=full_name]', `Olim ${stamp}`);
  await admin.page.fill('#create-user input[name=username]', 'worker');
  await admin.page.fill('#create-user input[name=password]', 'worker-pass-2026');
  await admin.page.selectOption('#create-user select[name=role]', 'worker');
  await Promise.all([admin.page.waitForURL(/__err=/, T), admin.page.click('#create-user button[type=submit]')]);
  await admin.page.waitForSelector('#create-user [role=alert]:has-text("already exists")', T);
  const kept = await admin.page.inputValue('#create-user input[name=full_name]');
  if (kept !== `Olim ${stamp}`) throw new Error(`the form came back without what was typed: "${kept}"`);
  await admin.page.fill('#create-user input[name=username]', newWorker);
  await admin.page.fill('#create-user input[name=password]', 'worker-pass-2026');
  await admin.page.click('#create-user button[type=submit]');
  await admin.page.waitForSelector(`tr[data-user="${newWorker}"]`, T);

  await admin.page.goto(`${base}/admin/services`);
  await hydrated(admin.page);
  await admin.page.click('summary');
  await admin.page.fill('#create-service input[name=name]', newService);
  await admin.page.fill('#create-service input[name=price]', '125000');
  await admin.page.fill('#create-service textarea[name=description]', 'Windows and balcony glass, inside and out.');
  await admin.page.click('#create-service button[type=submit]');
  const card = admin.page.locator(`article[data-service="${newService}"]`);
  await card.waitFor(T);
  await card.locator(`label:has-text("Olim ${stamp}") input`).check();
  await card.locator('button:has-text("Save workers")').click();
  await card.locator('text=Saved.').waitFor(T);

  const shop = await client.ctx.newPage();
  watch(shop, 'client');
  await shop.goto(`${base}/services`);
  await shop.waitForSelector(`article[data-service="${newService}"] >> text=125,000 so'm`, T);
  await shop.close();
  await admin.page.goto(`${base}/admin`);
  await hydrated(admin.page);
  await admin.page.waitForSelector('svg.bars', T);
});

await test('a dropped socket (server restarted) reconnects and shows what happened meanwhile', async () => {
  await client.page.goto(`${base}/orders/${orderId}`);
  await hydrated(client.page);
  tolerateNetworkErrors = true;
  serverA.kill('SIGKILL');
  await client.page.waitForSelector('#conn.offline', T);
  // While the client's instance is down, the worker completes the order through the other instance.
  const login = await fetch(`${other}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'worker', password: 'worker-demo-2026' }),
  }).then((r) => r.json());
  const done = await fetch(`${other}/api/v1/orders/${orderId}/status`, {
    method: 'PATCH', headers: { 'content-type': 'application/json', authorization: `Bearer ${login.access}` },
    body: JSON.stringify({ status: 'completed' }),
  });
  if (done.status !== 200) throw new Error(`completing the order answered ${done.status}`);
  serverA = startServer(port);
  await ready(base);
  await hydrated(client.page);
  tolerateNetworkErrors = false;
  await client.page.waitForSelector('#order-status [data-status=completed]', T);
  await client.page.waitForSelector(`.toast:has-text("#${orderId} is now Completed")`, T);
});

await test('the notification page filters, marks read, and syncs read state across tabs', async () => {
  await client.page.goto(`${base}/notifications`);
  await hydrated(client.page);
  await client.page.waitForSelector('.note.unread', T);
  const second = await client.ctx.newPage();
  watch(second, 'client');
  await second.goto(`${base}/orders`);
  await hydrated(second);
  if ((await badge(second)) === 0) throw new Error('the second tab shows no unread notifications');
  await client.page.selectOption('select[name=kind]', 'order_message');
  await Promise.all([client.page.waitForURL(/kind=order_message/, T), client.page.click('.filters button[type=submit]')]);
  await client.page.waitForSelector('.note[data-kind=order_message]', T);
  if (await client.page.locator('.note:not([data-kind=order_message])').count()) throw new Error('the kind filter let others through');
  await client.page.click('#read-all');
  // The badge is hidden (not removed) at zero: wait for the class, not for visibility.
  await second.waitForSelector('#unread-badge.hidden', { ...T, state: 'attached' });
  await client.page.waitForSelector('#unread-badge.hidden', { ...T, state: 'attached' });
  await second.close();
  await client.page.goto(`${base}/api/v1/notification-page/`);
  await client.page.waitForURL(`${base}/notifications`, T);
});

await test('the language switches, is remembered for the user, and renders on the server', async () => {
  await client.page.selectOption('#language', 'uz');
  await client.page.waitForSelector('html[lang=uz]', T);
  await hydrated(client.page);
  const fresh = await browser.newContext({ locale: 'ru-RU' });
  await reportCspViolations(fresh);
  const page = await fresh.newPage();
  watch(page, 'client (new device)');
  await page.goto(`${base}/signin`);
  if ((await page.getAttribute('html', 'lang')) !== 'ru') throw new Error('a Russian browser is not served Russian');
  await page.fill('input[name=username]', clientName);
  await page.fill('input[name=password]', 'e2e-pass-2026');
  await Promise.all([page.waitForURL(`${base}/`, T), page.click('#signin-form button[type=submit]')]);
  await page.waitForSelector('html[lang=uz]', T);
  await page.screenshot({ path: `${out}flow-language-new-device.png`, fullPage: true });
  await fresh.close();
  await client.page.selectOption('#language', 'en');
  await client.page.waitForSelector('html[lang=en]', T);
});

await test('pages are meaningful without JavaScript, sign-in included', async () => {
  const nojs = await browser.newContext({ javaScriptEnabled: false, locale: 'en-US' });
  const page = await nojs.newPage();
  await page.goto(`${base}/`);
  await page.waitForSelector('h1:has-text("Order services")');
  await page.goto(`${base}/signin`);
  await page.fill('input[name=username]', 'admin');
  await page.fill('input[name=password]', 'admin-demo-2026');
  await page.click('#signin-form button[type=submit]');
  await page.goto(`${base}/orders`);
  await page.waitForSelector(`tr[data-order="${orderId}"] [data-status=completed]`);
  await page.goto(`${base}/admin`);
  await page.waitForSelector('svg.bars');
  await page.screenshot({ path: `${out}flow-no-javascript-dashboard.png`, fullPage: true });
  await nojs.close();
});

await browser.close();
// Teardown only: the servers' graceful shutdown is tested elsewhere.
serverA.kill('SIGKILL');
serverB.kill('SIGKILL');
console.log(`\nbrowser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
