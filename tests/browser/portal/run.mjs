// The notice portal in headless Chromium: the demo member signs in through the IdP (password +
// emailed one-time code), every page is checked with axe-core (no serious or critical
// violation allowed) and photographed at 1280 px and 375 px, the deduction CSV is downloaded
// and checked, the keyboard reaches the content, and signing out returns to the portal.
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import fs from 'node:fs';
import path from 'node:path';

const IDP = process.env.KENPO_IDP_URL;
const PORTAL = process.env.KENPO_PORTAL_URL;
const OUTBOX = process.env.KENPO_OUTBOX_DIR;
const SHOTS = process.env.KENPO_SCREENSHOTS;
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
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of bad) console.log(`   axe ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  check(bad.length === 0, `${label}: no serious axe violations (${result.violations.length} minor)`);
}

async function shot(page, name, width) {
  await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
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
  await Promise.all([page.waitForLoadState('load'), page.click('main button[type="submit"]')]);
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
      await Promise.all([page.waitForLoadState('load'), page.click('main form button[type="submit"]:not([name="resend"])')]);
    } else {
      throw new Error(`unexpected IdP step ${s} at ${page.url()}`);
    }
  }
  await page.waitForURL((u) => u.href.startsWith(PORTAL));
}

const PAGES = [
  ['home', '/'],
  ['medical', '/medical'],
  ['medical-person', '/medical?branch=02'],
  ['deduction', `/medical/deduction?year=${new Date().getFullYear() - 1}`],
  ['deduction-print', `/medical/deduction/print?year=${new Date().getFullYear() - 1}`],
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
  for (const [width, height, mobile] of [[1280, 900, false], [375, 812, true]]) {
    console.log(`--- ${width} px`);
    const context = await browser.newContext({
      viewport: { width, height }, isMobile: mobile, hasTouch: mobile, locale: 'ja-JP', acceptDownloads: true,
    });
    const page = await context.newPage();
    await page.goto(`${PORTAL}/`);
    check((await step(page)) === 'portal-welcome', 'signed out, / is the welcome page');
    await axe(page, 'welcome');
    await shot(page, 'welcome', width);

    // The keyboard: the first Tab reaches the skip link, which leads to the content.
    await page.keyboard.press('Tab');
    check(await page.evaluate(() => document.activeElement?.classList.contains('skip')), 'the first Tab focuses the skip link');

    await signIn(page);
    check((await step(page)) === 'portal-home', 'after sign-in the member is on the home page');
    for (const [name, url] of PAGES) {
      const res = await page.goto(`${PORTAL}${url}`);
      check(res.status() === 200, `${name}: 200`);
      const html = await page.content();
      check(!html.includes('山田') && !html.includes('3456789'), `${name}: no other household's data`);
      await axe(page, name);
      await shot(page, name, width);
    }
    // No page is wider than the screen on a phone.
    await page.goto(`${PORTAL}/medical`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, `medical: no horizontal scrolling at ${width} px (${overflow})`);

    // The print stylesheet hides navigation and forms.
    await page.emulateMedia({ media: 'print' });
    await page.goto(`${PORTAL}/eligibility/print?masked=1`);
    check(!(await page.locator('header.site nav').isVisible()), 'print: navigation hidden');
    check(!(await page.content()).includes('1234567'), 'masked print: no 番号');
    await shot(page, 'eligibility-print-media', width);
    await page.emulateMedia({ media: 'screen' });

    // The deduction CSV.
    await page.goto(`${PORTAL}/medical/deduction?year=${new Date().getFullYear() - 1}`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[href^="/medical/deduction.csv"]')]);
    const file = await download.path();
    const bytes = fs.readFileSync(file);
    const text = bytes.toString('utf8');
    check(bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf, 'CSV: UTF-8 byte-order mark');
    check(text.includes('被保険者等が支払った医療費の額') && /\r\n合計,,,,,\d+,\d+,\r\n$/.test(text), 'CSV: header and total row');
    check(download.suggestedFilename().startsWith('iryouhi-'), `CSV file name ${download.suggestedFilename()}`);

    // Sign out: through the IdP and back.
    await page.goto(`${PORTAL}/`);
    await Promise.all([page.waitForURL((u) => u.href.startsWith(`${PORTAL}/?state=`)), page.click('.member-bar button[type="submit"]')]);
    check((await step(page)) === 'portal-signed-out', 'signing out returns to the portal, signed out');
    await axe(page, 'signed-out');
    await shot(page, 'signed-out', width);
    const again = await page.goto(`${PORTAL}/medical`);
    check(again.url().startsWith(IDP), 'after sign-out, notices ask for a new sign-in at the IdP');
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(`screenshots: ${SHOTS}`);
if (failures.length) {
  console.error(`${failures.length} check(s) failed:\n - ${failures.join('\n - ')}`);
  process.exit(1);
}
