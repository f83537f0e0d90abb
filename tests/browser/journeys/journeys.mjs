// Browser journeys of first login and recovery (issue 4), in headless Chromium against a real
// IdP, a real SMTP server and a relying party that verifies its tokens. Started by run.sh,
// which passes: ISSUER, RP_PORT, CLIENT_ID, CLIENT_SECRET, MAIL_DIR, OUT_DIR, CONTACT_EMAIL.
//
// One journey per factor — platform passkey, passkey over the hybrid transport (in English),
// authenticator app (code from an independent TOTP implementation, key read off the page),
// email OTP (code read from the SMTP server; walked with the keyboard only) — each from the
// first sign-in with the initial password, through every onboarding step and the enrolment,
// to the relying party in at most 9 screens, then signing out and in again with password and
// that factor. Then: resuming after closing the browser (the link opened on another device),
// forgot password, forgot user ID, an expired initial password. Every screen is checked by
// axe-core and photographed at 1280 and 375 px.
import path from "node:path";
import { Journey, authenticator, device, expect } from "./lib/harness.mjs";
import { Mailbox, theCode, theLink } from "./lib/mail.mjs";
import { RelyingParty } from "./lib/rp.mjs";
import { base32Decode, nextStepAfter, timeStep, totp } from "./lib/totp.mjs";
import { MEMBERS, initialPassword } from "./members.mjs";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (run.sh sets it)`);
  return v;
};
const ISSUER = env("ISSUER");
const OUT = env("OUT_DIR");
const CONTACT = env("CONTACT_EMAIL");
const mail = new Mailbox(env("MAIL_DIR"));
const rp = new RelyingParty({
  issuer: ISSUER, port: Number(env("RP_PORT")), clientId: env("CLIENT_ID"), secret: env("CLIENT_SECRET"),
});
const MAX_SCREENS = 9;

/** Moves the keyboard focus with Tab until `selector` has it (proves keyboard reachability). */
async function tabTo(page, selector) {
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
  }
  throw new Error(`${selector} cannot be reached with the Tab key on ${page.url()}`);
}

/** Fills a field and presses the page's primary button, by mouse or by keyboard only. */
async function answer(page, fields, { keyboard, submit = "main button.primary" } = {}) {
  for (const [name, value] of fields) {
    const sel = `[name="${name}"]`;
    if (keyboard) {
      await tabTo(page, sel);
      await page.keyboard.press("ControlOrMeta+A");
      await page.keyboard.type(value);
    } else {
      await page.fill(sel, value);
    }
  }
  if (keyboard) {
    await tabTo(page, submit);
    await page.keyboard.press("Enter");
  } else {
    await page.click(submit);
  }
}

async function chooseMethod(page, factor, keyboard) {
  const sel = `input[name="method"][value="${factor}"]`;
  if (keyboard) {
    // Radio groups: Tab reaches the group, arrow keys move, Space selects.
    await tabTo(page, 'input[name="method"]');
    for (let i = 0; i < 3 && !(await page.evaluate((s) => document.activeElement?.matches(s), sel)); i++) {
      await page.keyboard.press("ArrowDown");
    }
    await page.keyboard.press("Space");
    expect(await page.isChecked(sel), `${factor} is not selected by keyboard`);
    await tabTo(page, "main button.primary");
    await page.keyboard.press("Enter");
  } else {
    await page.check(sel);
    await page.click("main button.primary");
  }
}

const text = (en) => (en ? EN : JA);
const JA = { agree: "同意する", progress: (n) => `ステップ ${n} / 7` };
const EN = { agree: "I agree", progress: (n) => `Step ${n} / 7` };

async function hasText(page, s) {
  return (await page.locator("main").innerText()).includes(s);
}

/**
 * The first login from the relying party to the enrolment page. Opens the verification link
 * in a new tab of the same browser (as a mail app does) and continues there; returns that tab.
 */
async function firstLogin(j, page, m, factor, { en = false, keyboard = false } = {}) {
  const t = text(en);
  j.startCounting();
  await page.goto(rp.authUrl(en ? { uiLocales: "en" } : {}));
  await j.at(page, "login");
  await answer(page, [["username", m.userId], ["password", initialPassword(m)]], { keyboard });

  await j.at(page, "birthdate");
  expect(await hasText(page, t.progress(2)), "progress on the birthdate step");
  await answer(page, [["birthdate", m.typed]], { keyboard });

  await j.at(page, "terms");
  expect(await hasText(page, t.progress(3)), "progress on the terms step");
  if (keyboard) {
    await tabTo(page, 'button[name="agree"]');
    await page.keyboard.press("Enter");
  } else {
    await page.getByRole("button", { name: t.agree }).click();
  }

  await j.at(page, "email");
  expect((await page.inputValue('[name="email"]')) === m.email, "the address from the import is prefilled");
  const before = mail.to(m.email).length;
  await answer(page, [], { keyboard });

  await j.at(page, "email-sent");
  const verify = await mail.wait(m.email, { subject: /メールアドレスの確認|confirm your email/i, after: before });
  const tab = await page.context().newPage();
  await tab.goto(theLink(verify));
  await page.close();
  page = tab;

  await j.at(page, "method");
  expect(await hasText(page, t.progress(5)), "progress on the method step");
  if (factor === "passkey" && !en) {
    expect(await hasText(page, "Bluetooth"), "a PC is told it can use a phone by QR code");
  }
  await chooseMethod(page, factor, keyboard);

  await j.at(page, "new-password");
  expect(await hasText(page, t.progress(6)), "progress on the new-password step");
  // The rules tick while typing (the page script).
  await page.fill('[name="new_password"]', "abc");
  expect((await page.getAttribute('#pw-rules li[data-rule="upper"]', "data-ok")) === "false", "upper-case rule open");
  await page.fill('[name="new_password"]', "");
  await answer(page, [["new_password", m.password], ["new_password_confirm", m.password]], { keyboard });
  return page;
}

/** Records the end of a first login: at the relying party, screens counted. */
async function arrived(j, page, amrPart) {
  await j.atRelyingParty(page);
  const screens = j.stopCounting();
  j.log(`${screens.length} screens: ${screens.join(" → ")}`);
  expect(screens.length <= MAX_SCREENS, `${screens.length} screens from login to the relying party (at most ${MAX_SCREENS})`);
  const claims = rp.signIns[rp.signIns.length - 1].claims;
  expect((claims.amr || []).includes(amrPart), `amr ${claims.amr} includes ${amrPart}`);
  expect(claims.email_verified === true, "email verified in the ID token");
  j.results = { screens };
  return claims;
}

async function signOut(j, page) {
  await page.goto(rp.logoutUrl());
  await page.waitForSelector('[data-rp="signed-out"]');
}

/** Signs in again with the password; returns the page at the second-factor step. */
async function signInAgain(j, page, m, step) {
  await page.goto(rp.authUrl());
  await j.at(page, "login");
  await answer(page, [["username", m.userId], ["password", m.password]]);
  await j.at(page, step);
  return page;
}

/** The OTP mail for a code page: sent on arrival, or — when the IdP asks to wait before
 * sending another (resend throttle) — after pressing `resend` once that is allowed. */
async function otpMail(page, address, after) {
  const subject = /ワンタイムパスワード|one-time password/i;
  const until = Date.now() + 90000;
  for (;;) {
    try {
      return await mail.wait(address, { subject, after, timeoutMs: 5000 });
    } catch (e) {
      if (Date.now() > until) throw e;
      await page.click('button[name="resend"]');
      await page.waitForLoadState("load");
      await new Promise((r) => setTimeout(r, 5000));
    }
  }
}

async function submitCode(page, code) {
  await page.fill('input[name="otp"]', code);
  await page.press('input[name="otp"]', "Enter");
}

// ---- the journeys ----

async function passkeyJourney(name, m, transport, en) {
  const j = new Journey(name, OUT);
  const d = await device({ locale: en ? "en-US" : "ja-JP" });
  try {
    let page = await d.context.newPage();
    page = await firstLogin(j, page, m, "passkey", { en });
    const auth = await authenticator(page, transport);
    await j.at(page, "enroll-passkey");
    await page.fill('input[name="label"]', transport === "internal" ? "このパソコン" : "わたしのスマートフォン");
    await page.click('[data-action="passkey-register"]');
    const claims = await arrived(j, page, "mfa");
    j.log("signed in:", claims.sub, claims.amr);
    expect((await auth.credentials()).length === 1, "one passkey on the authenticator");
    await signOut(j, page);
    // Password first: the login page's passkey autofill must not sign in by itself here, so
    // the authenticator refuses until the member is at the passkey step.
    await auth.setUserVerified(false);
    await signInAgain(j, page, m, "mfa-passkey");
    await auth.setUserVerified(true);
    await page.click('[data-action="passkey-authenticate"]');
    await j.atRelyingParty(page);
    const again = rp.signIns[rp.signIns.length - 1].claims;
    expect(again.sub === claims.sub && again.amr.includes("mfa"), `second sign-in amr ${again.amr}`);
  } finally {
    await d.close();
  }
  return j;
}

async function totpJourney() {
  const m = { ...MEMBERS.totp, password: "Kaede-Maple-2025!" };
  const j = new Journey("totp", OUT);
  const d = await device();
  try {
    let page = await d.context.newPage();
    page = await firstLogin(j, page, m, "totp");
    await j.at(page, "enroll-totp");
    const shown = await page.locator("[data-totp-secret]").first().textContent();
    const key = base32Decode(shown);
    expect(key.length >= 16, `a key of ${key.length} bytes`);
    const used = timeStep();
    await submitCode(page, totp(key, used));
    await arrived(j, page, "otp");
    await signOut(j, page);
    await signInAgain(j, page, m, "mfa-totp");
    // A code is accepted once: wait for the next one, as a member would.
    const next = await nextStepAfter(used);
    await submitCode(page, totp(key, next));
    await j.atRelyingParty(page);
  } finally {
    await d.close();
  }
  return j;
}

async function emailJourney() {
  const m = { ...MEMBERS.email, password: "Sakura-Spring-77#" };
  const j = new Journey("email", OUT);
  const d = await device({ width: 375, height: 812 });
  try {
    let page = await d.context.newPage();
    const before = () => mail.to(m.email).length;
    page = await firstLogin(j, page, m, "email", { keyboard: true });
    const n = before();
    await j.at(page, "enroll-email");
    const code = theCode(await otpMail(page, m.email, n - 1));
    await tabTo(page, 'input[name="otp"]');
    await page.keyboard.type(code);
    await page.keyboard.press("Enter");
    // An emailed code is a second step, not an AAL2 authenticator: loa:1, no "mfa".
    const claims = await arrived(j, page, "mca");
    expect(!claims.amr.includes("mfa"), `amr ${claims.amr} without mfa`);
    expect(claims.acr === "urn:kenpo:loa:1", `acr ${claims.acr}`);
    await signOut(j, page);
    const k = before();
    await signInAgain(j, page, m, "mfa-email");
    await submitCode(page, theCode(await otpMail(page, m.email, k)));
    await j.atRelyingParty(page);
  } finally {
    await d.close();
  }
  return j;
}

/** Stops after the mail went out and closes the browser; signs in on another browser and
 * resumes there; the link is opened on a third device ("go back to the first page"). */
async function resumeJourney() {
  const m = { ...MEMBERS.resume, password: "Ayame-Iris-55%" };
  const j = new Journey("resume", OUT);
  const pc = await device();
  const before = mail.to(m.email).length;
  try {
    const page = await pc.context.newPage();
    await page.goto(rp.authUrl());
    await j.at(page, "login");
    await answer(page, [["username", m.userId], ["password", initialPassword(m)]]);
    await j.at(page, "birthdate");
    await answer(page, [["birthdate", m.typed]]);
    await j.at(page, "terms");
    await page.click('button[name="agree"]');
    await j.at(page, "email");
    await page.click("main button.primary");
    await j.at(page, "email-sent");
    // Reload and back button on the way: harmless.
    await page.reload();
    await j.at(page, "email-sent");
    await page.goBack();
    await page.waitForLoadState("load");
    const back = await page.locator("main").getAttribute("data-step");
    expect(["email-sent", "email"].includes(back) || back === null, `back button shows ${back}`);
  } finally {
    await pc.close();
  }
  const phone = await device({ width: 375, height: 812 });
  const other = await device();
  try {
    const page = await phone.context.newPage();
    await page.goto(rp.authUrl());
    await j.at(page, "login");
    await answer(page, [["username", m.userId], ["password", initialPassword(m)]]);
    await j.at(page, "email-sent");
    j.log("resumed at email-sent on another browser");
    const verify = await mail.wait(m.email, { subject: /メールアドレスの確認/, after: before });
    const elsewhere = await other.context.newPage();
    await elsewhere.goto(theLink(verify));
    await j.at(elsewhere, "email-verified");
    // The waiting page learns it by itself (page script) and says so.
    await page.waitForFunction(() => document.getElementById("email-confirmed")?.textContent.includes("確認できました"), null, { timeout: 15000 });
    await j.screen(page, "email-sent-confirmed");
    await page.click('button[name="continue"]');
    await j.at(page, "method");
    await chooseMethod(page, "email", false);
    await j.at(page, "new-password");
    // Every failed rule is named.
    await answer(page, [["new_password", "abc"], ["new_password_confirm", "abd"]]);
    await j.at(page, "new-password");
    const alert = await page.locator('[role="alert"]').innerText();
    for (const rule of ["8文字以上", "英大文字", "数字", "記号", "一致しません"]) {
      expect(alert.includes(rule), `rule ${rule} named in: ${alert}`);
    }
    await answer(page, [["new_password", m.password], ["new_password_confirm", m.password]]);
    const n = mail.to(m.email).length;
    await j.at(page, "enroll-email");
    await submitCode(page, theCode(await otpMail(page, m.email, n - 1)));
    await j.atRelyingParty(page);
  } finally {
    await phone.close();
    await other.close();
  }
  return j;
}

async function forgotPasswordJourney() {
  const m = { ...MEMBERS.email, password: "Sakura-Spring-77#" };
  const newPassword = "Tsubaki-Winter-31&";
  const j = new Journey("forgot-password", OUT);
  const d = await device({ width: 375, height: 812 });
  try {
    const page = await d.context.newPage();
    await page.goto(rp.authUrl());
    await j.at(page, "login");
    await page.click('a[href^="/recovery/password"]');
    await j.at(page, "forgot-password");
    expect(await hasText(page, CONTACT), "the union's contact address is shown");
    const before = mail.to(m.email).length;
    await answer(page, [["username", m.userId]]);
    await j.at(page, "recovery-sent");
    const reset = await mail.wait(m.email, { subject: /パスワード再設定/, after: before });
    await page.goto(theLink(reset));
    await j.at(page, "reset-password");
    await answer(page, [["new_password", newPassword], ["new_password_confirm", newPassword]]);
    await j.at(page, "reset-done");
    await mail.wait(m.email, { subject: /パスワードが変更されました/, after: before });
    await page.click("main a.button");
    await j.at(page, "login");
    const k = mail.to(m.email).length;
    await answer(page, [["username", m.userId], ["password", newPassword]]);
    await j.at(page, "mfa-email");
    await submitCode(page, theCode(await otpMail(page, m.email, k)));
    await j.atRelyingParty(page);
  } finally {
    await d.close();
  }
  return j;
}

async function forgotUserIdJourney() {
  const m = MEMBERS.totp;
  const j = new Journey("forgot-userid", OUT);
  const d = await device();
  try {
    const page = await d.context.newPage();
    await page.goto(`${ISSUER}/login`);
    await j.at(page, "login");
    await page.click('a[href^="/recovery/user-id"]');
    await j.at(page, "forgot-userid");
    const before = mail.to(m.email).length;
    await answer(page, [["email", m.email.toUpperCase()]]);
    await j.at(page, "recovery-sent");
    const ids = await mail.wait(m.email, { subject: /ユーザID/, after: before });
    expect(ids.text.includes(m.userId), `the user ID is in the mail: ${ids.text}`);
    // An unknown address gets the same answer.
    await page.goto(`${ISSUER}/recovery/user-id`);
    await j.at(page, "forgot-userid");
    await answer(page, [["email", "nobody@example.jp"]]);
    await j.at(page, "recovery-sent");
  } finally {
    await d.close();
  }
  return j;
}

async function expiredJourney() {
  const m = MEMBERS.expired;
  const j = new Journey("expired-initial-password", OUT);
  const d = await device();
  try {
    const page = await d.context.newPage();
    await page.goto(rp.authUrl());
    await j.at(page, "login");
    await answer(page, [["username", m.userId], ["password", initialPassword(m)]]);
    await j.at(page, "login", "login-expired");
    const alert = await page.locator('[role="alert"]').innerText();
    expect(alert.includes("有効期限"), `expiry explained: ${alert}`);
    expect(alert.includes(CONTACT), `contact address given: ${alert}`);
  } finally {
    await d.close();
  }
  return j;
}

const JOURNEYS = [
  ["passkey", () => passkeyJourney("passkey", { ...MEMBERS.passkey, password: "Fuji-Mountain-88!" }, "internal", false)],
  ["passkey-hybrid", () => passkeyJourney("passkey-hybrid", { ...MEMBERS.hybrid, password: "Biwa-Lake-2025?" }, "cable", true)],
  ["totp", totpJourney],
  ["email", emailJourney],
  ["resume", resumeJourney],
  ["forgot-password", forgotPasswordJourney],
  ["forgot-userid", forgotUserIdJourney],
  ["expired-initial-password", expiredJourney],
];

const only = process.argv.slice(2);
await rp.start();
let failed = 0;
const summary = [];
for (const [name, run] of JOURNEYS) {
  if (only.length && !only.includes(name)) continue;
  const t = Date.now();
  try {
    const j = await run();
    const s = j.results?.screens;
    summary.push(`ok    ${name} (${j.screens.length} screens checked${s ? `, ${s.length} from login to the relying party` : ""}, ${((Date.now() - t) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed += 1;
    summary.push(`FAIL  ${name}: ${e.message}`);
    console.error(`FAIL ${name}\n${e.stack}`);
  }
}
await rp.stop();
console.log("\n" + summary.join("\n"));
console.log(`screenshots: ${path.resolve(OUT)}`);
process.exit(failed ? 1 : 0);
