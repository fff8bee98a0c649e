// The browser app's flows, in three browser contexts at once (a client, a worker and an admin), against a freshly
// seeded server this script starts (and restarts) itself. Every test saves a screenshot of each context's page
// under test-results/, and fails on any browser console error (Content-Security-Policy violations included).
//
// Usage (the README's test command runs it): SERVER_BIN=.../server DATABASE_URL=... JWT_SECRET=... node flows.mjs
// The environment is passed to two server instances on E2E_PORT (the browsers' one, restarted by the
// dropped-socket test) and E2E_PORT + 1 (a second instance, used while the first is down).
import { chromium } from 'playwright-core';
import { execFileSync, spawn } from 'node:child_process';
import { createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, verify } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';

const port = Number(process.env.E2E_PORT ?? 3301);
const base = `http://127.0.0.1:${port}`;
const other = `http://127.0.0.1:${port + 1}`;
const out = new URL('./test-results/', import.meta.url).pathname;
mkdirSync(out, { recursive: true });
const stamp = Date.now().toString(36);

// ---- the outside world: a Bot API and a push service, local fakes speaking the real protocols ------------------
// The Bot API takes every sendMessage; the push service checks each request's VAPID signature (an ES256 JWT for
// its origin, made with the key in the header) and decrypts its aes128gcm payload with the device's private key,
// which only this script (the "browser") has.
async function listen(handler) {
  const server = createServer(handler);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}
async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}
const BOT = { token: '4242:e2e-token', name: 'task_e2e_bot', secret: 'e2e-hook-secret', messages: [] };
const bot = await listen(async (req, res) => {
  const sent = await body(req);
  if (req.url !== `/bot${BOT.token}/sendMessage`) {
    res.writeHead(401).end(JSON.stringify({ ok: false, error_code: 401, description: 'Unauthorized' }));
    return;
  }
  const message = JSON.parse(sent.toString());
  BOT.messages.push(message);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ ok: true, result: { message_id: BOT.messages.length, chat: { id: message.chat_id } } }));
});
const b64url = (buf) => Buffer.from(buf).toString('base64url');
const device = createECDH('prime256v1');
device.generateKeys();
const DEVICE = { auth: randomBytes(16), received: [], rejected: [] };
function checkVapid(header, origin) {
  const [, token, key] = /^vapid t=([^,]+), k=(\S+)$/.exec(header ?? '') ?? [];
  if (!token) throw new Error(`not a VAPID authorization: ${header}`);
  const point = Buffer.from(key, 'base64url');
  const publicKey = createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64url(point.subarray(1, 33)), y: b64url(point.subarray(33, 65)) },
    format: 'jwk',
  });
  const [h, c, sig] = token.split('.');
  const signed = verify('sha256', Buffer.from(`${h}.${c}`), { key: publicKey, dsaEncoding: 'ieee-p1363' },
    Buffer.from(sig, 'base64url'));
  if (!signed) throw new Error('the VAPID signature does not verify');
  const claims = JSON.parse(Buffer.from(c, 'base64url').toString());
  if (claims.aud !== origin) throw new Error(`aud ${claims.aud}, not ${origin}`);
  if (!(claims.exp > Date.now() / 1000 && claims.exp < Date.now() / 1000 + 86400)) throw new Error('exp');
  if (!/^(mailto:|https:)/.test(claims.sub)) throw new Error(`sub ${claims.sub}`);
}
function decrypt(encrypted) {
  // RFC 8188's header (salt, record size, key id: the sender's public key), then RFC 8291's keys.
  const salt = encrypted.subarray(0, 16);
  const idlen = encrypted[20];
  const senderPublic = encrypted.subarray(21, 21 + idlen);
  const sealed = encrypted.subarray(21 + idlen);
  const shared = device.computeSecret(senderPublic);
  const info = Buffer.concat([Buffer.from('WebPush: info\0'), device.getPublicKey(), senderPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', shared, DEVICE.auth, info, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  const plain = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
  let end = plain.length - 1;
  while (end > 0 && plain[end] === 0) end -= 1;
  if (plain[end] !== 2) throw new Error('no last-record delimiter');
  return JSON.parse(plain.subarray(0, end).toString());
}
const push = await listen(async (req, res) => {
  const sent = await body(req);
  try {
    if (req.headers['content-encoding'] !== 'aes128gcm') throw new Error('not aes128gcm');
    checkVapid(req.headers.authorization, push.url);
    DEVICE.received.push(decrypt(sent));
    res.writeHead(201).end();
  } catch (e) {
    DEVICE.rejected.push(e.message);
    res.writeHead(400).end();
  }
});
const vapidPrivateKey = execFileSync(process.env.SERVER_BIN, ['vapid-keys']).toString()
  .match(/^VAPID_PRIVATE_KEY=(\S+)$/m)[1];

// ---- the servers ----------------------------------------------------------------------------------------------
function startServer(p) {
  const child = spawn(process.env.SERVER_BIN, ['serve'], {
    env: {
      ...process.env, LEPTOS_SITE_ADDR: `127.0.0.1:${p}`, PUBLIC_URL: `http://127.0.0.1:${p}`,
      TELEGRAM_API_BASE: bot.url, TELEGRAM_BOT_TOKEN: BOT.token, TELEGRAM_BOT_USERNAME: BOT.name,
      TELEGRAM_WEBHOOK_SECRET: BOT.secret, VAPID_PRIVATE_KEY: vapidPrivateKey, VAPID_SUBJECT: 'mailto:ops@task.test',
      WEB_PUSH_ALLOW_LOCAL: 'true',
    },
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
    // While the server is down on purpose, the browser reports the refused (and, for a request in flight as it was
    // killed, reset) connections: expected, not the app's.
    if (tolerateNetworkErrors && /ERR_CONNECTION_(REFUSED|RESET)|WebSocket connection to .* failed/.test(text)) return;
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

await test('the worker links Telegram, enables push, sets quiet hours, and gets the next order on both', async () => {
  const page = worker.page;
  await page.goto(`${base}/settings`);
  await hydrated(page);
  await page.waitForSelector('#telegram-state:has-text("Not linked")', T);
  // "Link Telegram" leads to the bot's deep link; Telegram then calls the webhook with `/start <token>`.
  // The form's post goes to the server as it is; its answer sends the browser to Telegram, which this machine
  // cannot reach: the answer is read for where it leads, and Telegram's page is played instead.
  let answer = null;
  await page.route('**/_fn/create_telegram_link', async (route) => {
    answer = await route.fetch({ maxRedirects: 0 });
    await route.fulfill({ status: 200, contentType: 'text/html', body: '<title>Telegram</title><p>Start</p>' });
  });
  await Promise.all([page.waitForSelector('text=Start', T), page.click('#link-telegram')]);
  await page.unroute('**/_fn/create_telegram_link');
  if (answer?.status() !== 302) throw new Error(`Link Telegram answered ${answer?.status()}`);
  const link = new URL(answer.headers().location);
  if (link.origin !== 'https://t.me') throw new Error(`Link Telegram leads to ${link}`);
  if (link.pathname !== `/${BOT.name}`) throw new Error(`the deep link names ${link.pathname}`);
  const chat = 770000 + Math.floor(Math.random() * 1000);
  const hook = await fetch(`${base}/api/v1/telegram/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': BOT.secret },
    body: JSON.stringify({ update_id: 1, message: { message_id: 1, date: 0, chat: { id: chat, type: 'private' },
      text: `/start ${link.searchParams.get('start')}` } }),
  });
  if (hook.status !== 200) throw new Error(`the webhook answered ${hook.status}`);
  await page.goto(`${base}/settings`);
  await hydrated(page);
  await page.waitForSelector('#telegram-state:has-text("Linked")', T);
  // "Enable notifications on this device": the browser's subscription is this script's device (a headless browser
  // has no push service of its own), with permission granted as a person would.
  await worker.ctx.grantPermissions(['notifications'], { origin: base });
  await page.evaluate(({ endpoint, p256dh, auth }) => {
    PushManager.prototype.subscribe = async () => ({
      endpoint, toJSON: () => ({ endpoint, expirationTime: null, keys: { p256dh, auth } }),
    });
  }, { endpoint: `${push.url}/device`, p256dh: b64url(device.getPublicKey()), auth: b64url(DEVICE.auth) });
  await page.waitForSelector('#enable-push:not([hidden])', T);
  await Promise.all([page.waitForURL(/\/settings\?saved=1$/, T), page.click('#enable-push')]);
  await page.waitForSelector('#push-state:has-text(": 1")', T);
  // Quiet hours two to three hours from now (Tashkent time): the next order is not held by them.
  const hour = (new Date().getUTCHours() + 5) % 24;
  const at = (h) => `${String(h % 24).padStart(2, '0')}:00`;
  await page.check('input[name=quiet]');
  await page.fill('input[name=quiet_from]', at(hour + 2));
  await page.fill('input[name=quiet_to]', at(hour + 3));
  await Promise.all([page.waitForURL(/\/settings\?saved=1$/, T), page.click('#notification-settings button[type=submit]')]);
  await page.waitForSelector(`input[name=quiet_from][value="${at(hour + 2)}"]`, T);

  // The next order for the worker.
  const clientToken = await token(clientName, 'e2e-pass-2026');
  const adminToken = await token('admin', 'admin-demo-2026');
  const workers = await api('GET', '/users?role=worker&limit=100', adminToken);
  const me = workers.results.find((u) => u.username === 'worker');
  const services = await api('GET', '/services?limit=100', clientToken);
  const plumbing = services.results.find((x) => x.name === 'Plumbing repair');
  const order = await api('POST', '/orders', clientToken, { service_id: plumbing.id, worker_id: me.id,
    description: 'Channels check.' });
  const deadline = Date.now() + 15000;
  const onTelegram = () => BOT.messages.find((m) => m.chat_id === chat && m.text.includes(`/orders/${order.id}`));
  const onPush = () => DEVICE.received.find((m) => m.url.endsWith(`/orders/${order.id}`));
  while (!(onTelegram() && onPush()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (DEVICE.rejected.length) throw new Error(`the push service refused: ${DEVICE.rejected.join('; ')}`);
  if (!onTelegram()) throw new Error('no Telegram message for the order');
  if (!onPush()) throw new Error('no push message for the order');
  if (!onPush().title.includes(`#${order.id}`)) throw new Error(`push title: ${onPush().title}`);
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
