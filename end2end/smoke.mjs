// The smallest browser check: the server-rendered page loads in Chromium, hydrates (switching the language,
// which only the WASM can do), the API docs render, and the console stays free of errors.
// Usage: BASE_URL=http://127.0.0.1:3000 node smoke.mjs   (writes screenshots to test-results/)
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const base = process.env.BASE_URL ?? 'http://127.0.0.1:3000';
const out = new URL('./test-results/', import.meta.url).pathname;
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
let passed = 0;
let failed = 0;
async function check(name, body) {
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await body(page);
    if (errors.length) throw new Error(`console errors: ${errors.join(' | ')}`);
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`not ok - ${name}: ${e.message}`);
  } finally {
    await page.screenshot({ path: `${out}${name.replace(/\W+/g, '-')}.png`, fullPage: true }).catch(() => {});
    await page.close();
  }
}

await check('home page renders on the server and hydrates', async (page) => {
  await page.goto(`${base}/`, { waitUntil: 'networkidle' });
  if ((await page.getAttribute('html', 'lang')) !== 'en') throw new Error('the page is not in English');
  await page.waitForSelector('h1:has-text("Order services")');
  // Only the hydrated page reacts: switching the language stores it and renders the page again in Russian.
  await page.selectOption('#language', 'ru');
  await page.waitForSelector('html[lang=ru]', { timeout: 10000 });
  await page.waitForSelector('h1:has-text("Заказывайте")', { timeout: 10000 });
});

await check('the API docs render from the binary', async (page) => {
  await page.goto(`${base}/api/docs/`, { waitUntil: 'networkidle' });
  await page.waitForSelector('.opblock-tag', { timeout: 15000 });
});

await browser.close();
console.log(`\nbrowser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
