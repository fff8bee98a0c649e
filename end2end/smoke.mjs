// The smallest browser check: the server-rendered page loads in Chromium and switches language, a new client
// signs up and the page's island hydrates and goes live, the API docs render, and the console stays free of errors
// (Content-Security-Policy violations included).
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
// The pages run under their Content-Security-Policy: any violation is a console error, which fails the check
// (Chromium logs most as errors itself; the event catches every one, reported or not).
const REPORT_CSP_VIOLATIONS = () => document.addEventListener('securitypolicyviolation', (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline code'} at ${where}`);
});
let passed = 0;
let failed = 0;
async function check(name, body) {
  const page = await browser.newPage();
  await page.addInitScript(REPORT_CSP_VIOLATIONS);
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

await check('home page renders on the server, switches language, and a new client goes live', async (page) => {
  await page.goto(`${base}/`, { waitUntil: 'networkidle' });
  if ((await page.getAttribute('html', 'lang')) !== 'en') throw new Error('the page is not in English');
  await page.waitForSelector('h1:has-text("Order services")');
  // The language form: stored in the cookie, and the page rendered again by the server in Russian.
  await page.selectOption('#language', 'ru');
  await page.waitForSelector('html[lang=ru]', { timeout: 10000 });
  await page.waitForSelector('h1:has-text("Заказывайте")', { timeout: 10000 });
  // Signing up lands on the catalogue; the top bar's island hydrates and its live feed connects.
  await page.goto(`${base}/signup`);
  await page.fill('input[name=full_name]', 'Smoke Test');
  await page.fill('input[name=username]', `smoke_${Date.now().toString(36)}`);
  await page.fill('input[name=password]', 'smoke-pass-2026');
  await Promise.all([page.waitForURL(`${base}/services`), page.click('#signup-form button[type=submit]')]);
  await page.waitForSelector('#conn.online', { timeout: 15000 });
  // A form posted once is not posted again while its answer loads: the page's guard cancels a second submit.
  const prevented = await page.evaluate(() => {
    const form = document.querySelector('form[method=post]');
    const submit = () => {
      const event = new Event('submit', { bubbles: true, cancelable: true });
      form.dispatchEvent(event);
      return event.defaultPrevented;
    };
    return [submit(), submit()];
  });
  if (prevented[0] || !prevented[1]) throw new Error(`submits prevented: ${prevented}`);
});

await check('the API docs render from the binary', async (page) => {
  await page.goto(`${base}/api/docs/`, { waitUntil: 'networkidle' });
  await page.waitForSelector('.opblock-tag', { timeout: 15000 });
});

await browser.close();
console.log(`\nbrowser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
