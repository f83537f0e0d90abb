// The notice portal in headless Chromium: the demo member signs in through the IdP (password +
// emailed one-time code), every page is checked with axe-core (no serious or critical
// violation allowed) and photographed at 1280 px and 375 px, the deduction CSV is downloaded
// and checked, the keyboard reaches the content, and signing out returns to the portal.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// Injected with page.evaluate: the pages' nonce-based CSP blocks addScriptTag.
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const IDP = process.env.KENPO_BROWSER_IDP_URL;
const PORTAL = process.env.KENPO_BROWSER_PORTAL_URL;
const OUTBOX = process.env.KENPO_BROWSER_OUTBOX_DIR;
const SHOTS = process.env.KENPO_BROWSER_SCREENSHOTS;
const USER = process.env.KENPO_DEMO_USER ?? 'demo';
const PASSWORD = process.env.KENPO_DEMO_PASSWORD ?? 'Kenpo-Demo-2025!';
fs.mkdirSync(SHOTS, { recursive: true });

const failures = [];
function check(ok, message) {
  if (!ok) failures.push(message);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${message}`);
}

// The newest mail in the outbox written after `since`, as text.
function newestMailSince(since) {
  if (!fs.existsSync(OUTBOX)) return null;
  const files = fs.readdirSync(OUTBOX)
    .filter((f) => f.endsWith('.eml'))
    .map((f) => path.join(OUTBOX, f))
    .filter((f) => fs.statSync(f).mtimeMs >= since)
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return files.length ? fs.readFileSync(files[0], 'utf8') : null;
}

// The only 6-digit number of the mail's text part (quoted-printable or base64 decoded).
function otpFrom(mail) {
  const candidates = [mail];
  for (const m of mail.matchAll(/Content-Transfer-Encoding: base64\r?\n\r?\n([A-Za-z0-9+/=\r\n]+)/gi)) {
    candidates.push(Buffer.from(m[1].replace(/\s/g, ''), 'base64').toString('utf8'));
  }
  for (const text of candidates) {
    const codes = text.replace(/=\r?\n/g, '').match(/(?<!\d)\d{6}(?!\d)/g);
    if (codes) return codes[0];
  }
  return null;
}

async function axe(page, label) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } }));
  for (const v of result.violations) console.log(`     axe ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(bad.length === 0, `${label}: no serious axe violations`);
}

// Checks a screen at 1280 px and at 375 px: axe at both widths (the phone layout differs),
// no horizontal scrolling on the phone, a full-page screenshot of each.
async function screen(page, name) {
  await page.waitForLoadState('load');
  await axe(page, `${name} (1280 px)`);
  await page.screenshot({ path: path.join(SHOTS, `${name}-1280.png`), fullPage: true });
  await page.setViewportSize({ width: 375, height: 812 });
  await axe(page, `${name} (375 px)`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `${name}: no horizontal scrolling at 375 px (${overflow})`);
  await page.screenshot({ path: path.join(SHOTS, `${name}-375.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
}

async function step(page) {
  return page.locator('main').getAttribute('data-step');
}

async function signIn(page) {
  await page.goto(`${PORTAL}/`);
  await page.click('[data-action="login"]');
  await page.waitForURL((u) => u.href.startsWith(IDP));
  check((await step(page)) === 'login', 'the sign-in link leads to the IdP login page');
  await page.fill('[name="username"]', USER);
  await page.fill('[name="password"]', PASSWORD);
  const since = Date.now() - 1000;
  await Promise.all([page.waitForNavigation(), page.click('main button[type="submit"]')]);
  for (let i = 0; i < 5 && page.url().startsWith(IDP); i++) {
    const s = await step(page);
    if (s === 'mfa-email') {
      let mail = null;
      for (let t = 0; t < 50 && !mail; t++) {
        mail = newestMailSince(since);
        if (!mail) await page.waitForTimeout(200);
      }
      const code = mail && otpFrom(mail);
      check(Boolean(code), 'the one-time code arrived in the outbox');
      await page.fill('[name="otp"]', code ?? '000000');
      await Promise.all([page.waitForNavigation(), page.click('main form button[type="submit"]:not([name="resend"])')]);
    } else {
      throw new Error(`unexpected IdP step ${s} at ${page.url()}`);
    }
  }
  await page.waitForURL((u) => u.href.startsWith(PORTAL));
}

const LAST_YEAR = new Date().getFullYear() - 1;
const PAGES = [
  ['home', '/'],
  ['medical', '/medical'],
  ['medical-person', '/medical?branch=02'],
  ['deduction', `/medical/deduction?year=${LAST_YEAR}`],
  ['deduction-print', `/medical/deduction/print?year=${LAST_YEAR}`],
  ['benefits', '/benefits'],
  ['eligibility', '/eligibility'],
  ['eligibility-print-masked', '/eligibility/print?masked=1'],
  ['medical-en', '/medical?lang=en'],
  ['home-en', '/?lang=en'],
  ['home-ja', '/?lang=ja'],
];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'ja-JP', acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(`${PORTAL}/`);
  check((await step(page)) === 'portal-welcome', 'signed out, / is the welcome page');
  await screen(page, 'welcome');

  // The keyboard: the first Tab reaches the skip link.
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement?.classList.contains('skip')), 'the first Tab focuses the skip link');

  await signIn(page);
  check((await step(page)) === 'portal-home', 'after sign-in the member is on the home page');
  for (const [name, url] of PAGES) {
    const res = await page.goto(`${PORTAL}${url}`);
    check(res.status() === 200, `${name}: 200`);
    const html = await page.content();
    check(!html.includes('山田') && !html.includes('3456789'), `${name}: no other household's data`);
    await screen(page, name);
  }
  const notFound = await page.goto(`${PORTAL}/medical?symbol=12&number=3456789`);
  check(notFound.status() === 404, "another household's 記号・番号 in the URL: not found");
  await screen(page, 'not-found');

  // The print stylesheet hides navigation and forms; the masked card hides the 番号.
  await page.emulateMedia({ media: 'print' });
  await page.goto(`${PORTAL}/eligibility/print?masked=1`);
  check(!(await page.locator('header.site nav').isVisible()), 'print: navigation hidden');
  check(!(await page.content()).includes('1234567'), 'masked print: no 番号');
  await page.screenshot({ path: path.join(SHOTS, 'eligibility-print-media-1280.png'), fullPage: true });
  await page.goto(`${PORTAL}/medical/deduction/print?year=${LAST_YEAR}`);
  await page.screenshot({ path: path.join(SHOTS, 'deduction-print-media-1280.png'), fullPage: true });
  await page.emulateMedia({ media: 'screen' });

  // The deduction CSV, downloaded as a member would.
  await page.goto(`${PORTAL}/medical/deduction?year=${LAST_YEAR}`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[href^="/medical/deduction.csv"]')]);
  const bytes = fs.readFileSync(await download.path());
  const text = bytes.toString('utf8');
  check(bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf, 'CSV: UTF-8 byte-order mark');
  check(text.includes('被保険者等が支払った医療費の額') && /\r\n合計,,,,,\d+,\d+,\r\n$/.test(text), 'CSV: header and total row');
  check(download.suggestedFilename() === `iryouhi-${LAST_YEAR}.csv`, `CSV file name ${download.suggestedFilename()}`);

  // Sign out: through the IdP and back.
  await page.goto(`${PORTAL}/`);
  await Promise.all([page.waitForURL((u) => u.href.startsWith(`${PORTAL}/?state=`)), page.click('.member-bar button[type="submit"]')]);
  check((await step(page)) === 'portal-signed-out', 'signing out returns to the portal, signed out');
  await screen(page, 'signed-out');
  await page.goto(`${PORTAL}/medical`);
  check(page.url().startsWith(IDP), 'after sign-out, notices ask for a new sign-in at the IdP');
  await context.close();
} finally {
  await browser.close();
}
console.log(`screenshots: ${SHOTS}`);
if (failures.length) {
  console.error(`${failures.length} check(s) failed:\n - ${failures.join('\n - ')}`);
  process.exit(1);
}
