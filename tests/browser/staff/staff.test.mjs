// The staff console in headless Chromium against `kenpo` (run.sh): the demo administrator
// registers a passkey from the invitation mail (CDP virtual authenticator), invites an
// operator; the operator registers theirs, signs in again with it, finds the demo member by
// kana, unlocks them, resets their second factors; the member then enrols again; a bad members
// CSV's preview shows its line numbers and stores nothing; the portal's staff page is reached
// through the IdP. Every screen: axe-core (no serious/critical) at 1280 and 375 px, no
// horizontal scrolling at 375 px, screenshots.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { Mailbox, theLink, theCode } from "../journeys/lib/mail.mjs";

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const IDP = process.env.KENPO_BROWSER_IDP_URL;
const PORTAL = process.env.KENPO_BROWSER_PORTAL_URL;
const SHOTS = process.env.KENPO_BROWSER_SCREENSHOTS;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const mail = new Mailbox(process.env.KENPO_BROWSER_OUTBOX_DIR);
fs.mkdirSync(SHOTS, { recursive: true });

let failures = 0;
let shot = 0;
function check(ok, message) {
  if (!ok) failures += 1;
  console.log(`${ok ? "ok  " : "FAIL"} ${message}`);
  if (!ok) throw new Error(message);
}

/** Waits for a new mail to `address` (outbox file names are random: compare sets, not order). */
async function newMail(address, seen, subject) {
  const until = Date.now() + 15000;
  while (Date.now() < until) {
    const found = mail.to(address).filter((m) => !seen.has(m.file) && subject.test(m.subject));
    if (found.length) return found[0];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no new mail to ${address} matching ${subject}`);
}

async function device() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kenpo-staff-"));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM, headless: true, locale: "ja-JP", viewport: { width: 1280, height: 900 },
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"],
  });
  context.setDefaultTimeout(20000);
  const page = context.pages()[0] || (await context.newPage());
  return { page, close: async () => { await context.close(); fs.rmSync(dir, { recursive: true, force: true }); } };
}

async function authenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
}

async function at(page, step, label = step) {
  await page.waitForSelector(`main[data-step="${step}"]`).catch(async () => {
    const here = await page.locator("main").getAttribute("data-step").catch(() => null);
    const alert = await page.locator('[role="alert"]').first().textContent().catch(() => null);
    throw new Error(`expected ${step}, at ${page.url()} step=${here} alert=${alert}`);
  });
  await screen(page, label);
}

async function axe(page, label) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of bad) console.log(`     axe ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
  check(bad.length === 0, `${label}: no serious or critical axe violation`);
}

async function screen(page, label) {
  await page.waitForLoadState("load");
  shot += 1;
  const name = `${String(shot).padStart(2, "0")}-${label}`;
  await axe(page, `${label} (1280 px)`);
  await page.screenshot({ path: path.join(SHOTS, `${name}-1280.png`), fullPage: true });
  await page.setViewportSize({ width: 375, height: 812 });
  await axe(page, `${label} (375 px)`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `${label}: no horizontal scrolling at 375 px (${overflow})`);
  await page.screenshot({ path: path.join(SHOTS, `${name}-375.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
}

async function registerFromInvitation(page, address, label) {
  const invite = await newMail(address, new Set(), /招待/);
  await page.goto(theLink(invite));
  await at(page, "staff-enroll", `enroll-${label}`);
  await authenticator(page);
  await page.fill('[name="label"]', "事務所のパソコン");
  await page.click('[data-action="passkey-register"]');
  await at(page, "staff-members", `members-${label}`);
}

async function action(page, value, reason) {
  await page.fill('[name="reason"]', reason);
  await page.click(`button[name="action"][value="${value}"]`);
  await page.waitForSelector('[role="status"], [role="alert"]');
  const ok = await page.locator('main [role="status"]').count();
  check(ok > 0, `action ${value} done`);
}

const main = async () => {
  // 1. The demo administrator registers a passkey from the invitation mail, invites an operator.
  const admin = await device();
  await registerFromInvitation(admin.page, "admin@example.jp", "administrator");
  await admin.page.goto(`${IDP}/staff/staff`);
  await at(admin.page, "staff-staff", "staff-accounts");
  await admin.page.fill('[name="email"]', "operator@example.jp");
  await admin.page.fill('[name="name"]', "窓口 担当");
  await admin.page.selectOption("#role-new", "operator");
  await admin.page.fill("#reason-invite", "窓口担当の着任");
  await admin.page.click('form[action="/staff/staff"] button.primary');
  await admin.page.waitForSelector('main [role="status"]');
  await screen(admin.page, "staff-invited");
  for (const p of ["/staff/clients", "/staff/keys", "/staff/audit"]) {
    await admin.page.goto(`${IDP}${p}`);
    await at(admin.page, `staff-${p.split("/")[2]}`, p.split("/")[2]);
  }
  await admin.close();

  // 2. The operator registers their passkey, signs out and in again with it.
  const op = await device();
  await registerFromInvitation(op.page, "operator@example.jp", "operator");
  await op.page.click('form[action="/staff/logout"] button');
  await at(op.page, "staff-login", "staff-login");
  await op.page.click('[data-action="passkey-authenticate"]');
  await op.page.waitForSelector('main[data-step="staff-members"]');
  check(true, "the operator signs in with the passkey");

  // 3. The demo member pauses their account with wrong passwords.
  const member = await device();
  for (let i = 0; i < 7; i += 1) {
    await member.page.goto(`${IDP}/login`);
    await member.page.fill('[name="username"]', "demo");
    await member.page.fill('[name="password"]', "wrong-password");
    await member.page.click('form[action="/login"] button.primary');
    await member.page.waitForSelector('[role="alert"]');
  }
  const paused = await member.page.locator('[role="alert"]').first().textContent();
  check(/停止|試行/.test(paused), `the member is paused: ${paused.trim().slice(0, 40)}`);

  // 4. The operator finds them by kana, unlocks, resets their factors.
  await op.page.fill('[name="q"]', "ケンポ");
  await op.page.click('form[role="search"] button');
  await op.page.waitForSelector('[data-member="demo"]');
  await screen(op.page, "search-kana");
  await op.page.click('[data-member="demo"]');
  await at(op.page, "staff-member", "member");
  await action(op.page, "unlock", "本人から電話（ログインできない）");
  await screen(op.page, "member-unlocked");
  await action(op.page, "reset-mfa", "スマートフォンの機種変更");
  await op.page.goto(`${IDP}/staff/audit?q=demo`);
  await at(op.page, "staff-audit", "audit-member");
  const audit = await op.page.locator("main").innerText();
  check(audit.includes("member.unlock") && audit.includes("mfa.reset"), "the audit trail shows both actions");

  // 5. The member signs in and enrols a factor again.
  const before = new Set(mail.to("demo@example.jp").map((m) => m.file));
  await member.page.goto(`${IDP}/login`);
  await member.page.fill('[name="username"]', "demo");
  await member.page.fill('[name="password"]', "Kenpo-Demo-2025!");
  await member.page.click('form[action="/login"] button.primary');
  await member.page.waitForSelector('main[data-step="method"]');
  await member.page.check('input[name="method"][value="email"]');
  await member.page.click("main button.primary");
  await member.page.waitForSelector('main[data-step="enroll-email"]');
  const otp = await newMail("demo@example.jp", before, /ワンタイム/);
  await member.page.fill('[name="otp"]', theCode(otp));
  await member.page.click("main button.primary");
  await member.page.waitForSelector('main[data-step="done"]');
  check(true, "the member enrolled again after the reset");
  await member.close();

  // 6. A bad members CSV: the preview names its lines and stores nothing.
  await op.page.goto(`${IDP}/staff/import`);
  await at(op.page, "staff-import", "import");
  const csv = "user_id,symbol,number,birthdate,name,name_kana,email\nokrow,77,7777777,1970-01-01,取込 太郎,トリコミ タロウ,\nbadrow,7x,7777778,1970-13-01,取込 次郎,トリコミ ジロウ,not-a-mail\n";
  await op.page.setInputFiles('[name="file"]', { name: "members.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await op.page.click('form[action="/staff/import/upload"] button.primary');
  await op.page.waitForSelector('main [role="alert"]');
  const report = await op.page.locator('main [role="alert"]').innerText();
  check(report.includes("3行目"), `the report names line 3: ${report.replace(/\s+/g, " ").slice(0, 120)}`);
  await screen(op.page, "import-bad-file");
  await op.page.goto(`${IDP}/staff/members?q=okrow`);
  check((await op.page.locator('[data-member="okrow"]').count()) === 0, "nothing of the bad file was stored");

  // 7. The portal's staff page, reached through the IdP's staff sign-in.
  await op.page.goto(`${PORTAL}/staff`);
  await at(op.page, "staff-import", "portal-import");
  await op.page.setInputFiles('[name="file"]', { name: "medical.csv", mimeType: "text/csv", buffer: Buffer.from("記号,番号\n1,2\n") });
  await op.page.click('form[action="/staff/import/upload"] button.primary');
  await op.page.waitForSelector('main [role="alert"]');
  await screen(op.page, "portal-import-bad-file");
  await op.close();
  console.log(`${shot} screens checked; ${failures} failed`);
};

main().then(
  () => process.exit(failures ? 1 : 0),
  (e) => { console.error(e); process.exit(1); },
);
