// Second factors in a real browser (headless Chromium driven by playwright-core), against the
// IdP started by run.sh. Passkeys use CDP virtual authenticators: `internal` (this device's
// fingerprint / face) and `cable` (a phone through the QR code / Bluetooth path), with resident
// keys and user verification; one with user verification failing must be refused. Every page
// is screenshotted to tests/browser/output/ and checked with axe-core (WCAG 2 A/AA).
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = process.env.FACTORS_IDP_URL;
const OUTBOX = process.env.FACTORS_OUTBOX;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const OUT = path.resolve(here, "..", "output");
const AXE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
assert.ok(BASE && OUTBOX, "run through run.sh (FACTORS_IDP_URL, FACTORS_OUTBOX)");
fs.mkdirSync(OUT, { recursive: true });
for (const f of fs.readdirSync(OUT)) if (/^factors-.*\.png$/.test(f)) fs.rmSync(path.join(OUT, f));

const password = (user) => `Pw-${user}-2025!`;
let shot = 0;
const shots = [];

// ---- browser helpers ----

async function browser({ width = 1024, height = 900 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kenpo-chromium-"));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    locale: "ja-JP",
    viewport: { width, height },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  // Tests of the button and of the second factor turn autofill (conditional mediation) off;
  // the autofill test turns it back on. (An init script is not subject to the page's CSP.)
  await context.addInitScript(() => {
    if (window.localStorage && localStorage.getItem("kenpo-test-no-autofill") === "1" && window.PublicKeyCredential) {
      PublicKeyCredential.isConditionalMediationAvailable = async () => false;
    }
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(20000);
  const close = async () => {
    await context.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { context, page, close };
}

async function autofill(page, on) {
  await page.evaluate((off) => {
    if (off) localStorage.setItem("kenpo-test-no-autofill", "1");
    else localStorage.removeItem("kenpo-test-no-autofill");
  }, !on);
}

async function authenticator(page, { transport, verified = true }) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport,
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: verified,
      automaticPresenceSimulation: true,
    },
  });
  return {
    credentials: async () =>
      (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials,
  };
}

async function step(page) {
  return page.locator("main").getAttribute("data-step");
}

async function expectStep(page, name) {
  await page.waitForSelector(`main[data-step="${name}"]`);
  assert.equal(await step(page), name);
}

async function capture(page, name) {
  shot += 1;
  const file = path.join(OUT, `factors-${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.push(path.basename(file));
}

async function accessible(page, label) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa"] } }),
  );
  const bad = result.violations.filter((v) => ["serious", "critical"].includes(v.impact));
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`),
    [],
    `accessibility of ${label}`,
  );
}

// The relying party `browser-rp` (registered by the test IdP): its redirect URI is answered
// here through the DevTools Fetch domain, so the browser really follows the IdP's redirect
// (and the page's CSP `form-action` must allow it).
const RP_CALLBACK = "https://rp.example/cb";
async function relyingParty(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Fetch.enable", { patterns: [{ urlPattern: "https://rp.example/*" }] });
  cdp.on("Fetch.requestPaused", (e) =>
    cdp.send("Fetch.fulfillRequest", {
      requestId: e.requestId,
      responseCode: 200,
      responseHeaders: [{ name: "Content-Type", value: "text/html; charset=utf-8" }],
      body: Buffer.from('<!doctype html><title>RP</title><main data-rp="signed-in">RP</main>').toString("base64"),
    }).catch(() => {}), // a late request (favicon) while the browser closes
  );
}
function authorizeUrl() {
  const q = new URLSearchParams({
    response_type: "code",
    client_id: "browser-rp",
    redirect_uri: RP_CALLBACK,
    scope: "openid",
    state: crypto.randomUUID(),
    nonce: crypto.randomUUID(),
    // PKCE is required of every client; this test never redeems the code, so the verifier is
    // thrown away.
    code_challenge: crypto
      .createHash("sha256")
      .update(crypto.randomBytes(32).toString("base64url"))
      .digest("base64url"),
    code_challenge_method: "S256",
  });
  return `${BASE}/authorize?${q}`;
}
async function atRelyingParty(page) {
  await page.waitForURL((u) => u.href.startsWith(`${RP_CALLBACK}?`) && u.searchParams.has("code"));
}

async function signInWithPassword(page, user, start = `${BASE}/login`) {
  await page.goto(start);
  await expectStep(page, "login");
  await page.fill("[name=username]", user);
  await page.fill("[name=password]", password(user));
  await Promise.all([
    page.waitForNavigation(),
    page.click('form[action="/login"] button[type=submit]'),
  ]);
}

async function signOut(page) {
  await page.context().clearCookies();
}

// ---- mail and codes ----

function decodePart(headers, body) {
  const enc = (/content-transfer-encoding:\s*([^\s;]+)/i.exec(headers) || [])[1] || "7bit";
  if (/base64/i.test(enc)) return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  if (/quoted-printable/i.test(enc)) {
    const bytes = body
      .replace(/=\r?\n/g, "")
      .replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, "latin1").toString("utf8");
  }
  return body;
}

// The text part of the newest mail to `to` in the outbox.
function lastMailText(to) {
  const files = fs
    .readdirSync(OUTBOX)
    .filter((f) => f.endsWith(".eml"))
    .map((f) => path.join(OUTBOX, f))
    .map((f) => ({ f, raw: fs.readFileSync(f, "utf8"), t: fs.statSync(f).mtimeMs }))
    .filter((m) => new RegExp(`^To: .*${to.replace(".", "\\.")}`, "mi").test(m.raw))
    .sort((a, b) => a.t - b.t);
  assert.ok(files.length > 0, `a mail to ${to}`);
  const raw = files[files.length - 1].raw;
  const boundary = (/boundary="?([^";\r\n]+)"?/i.exec(raw) || [])[1];
  assert.ok(boundary, "a multipart mail");
  for (const part of raw.split(`--${boundary}`)) {
    const [headers, ...rest] = part.split(/\r?\n\r?\n/);
    if (/content-type:\s*text\/plain/i.test(headers)) return decodePart(headers, rest.join("\n\n"));
  }
  throw new Error("no text part");
}

function codeIn(text) {
  const sixes = text.match(/(?<!\d)\d{6}(?!\d)/g) || [];
  assert.equal(sixes.length, 1, `one six-digit code in: ${text}`);
  return sixes[0];
}

function base32(s) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, value = 0;
  const out = [];
  for (const c of s.replace(/[\s=]/g, "").toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// RFC 6238, SHA-1, 6 digits, 30 s (node's crypto, independent of the IdP).
function totp(secret, t = Date.now() / 1000) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(t / 30)));
  const h = crypto.createHmac("sha1", secret).update(counter).digest();
  const o = h[h.length - 1] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, "0");
}

// ---- the tests ----

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test("platform passkey: enrol at first login, second factor, passwordless button, autofill", async () => {
  const { page, close } = await browser();
  try {
    await page.goto(`${BASE}/login`);
    await autofill(page, false);
    const device = await authenticator(page, { transport: "internal" });
    await capture(page, "login");
    await accessible(page, "login");

    await signInWithPassword(page, "hanako");
    await expectStep(page, "enroll-passkey");
    assert.match(await page.textContent("main"), /Bluetooth/);
    await capture(page, "enroll-passkey");
    await accessible(page, "enroll-passkey");
    await page.fill("[name=label]", "テスト用パソコン");
    await Promise.all([
      page.waitForURL(`${BASE}/signin/done`),
      page.click('[data-action="passkey-register"]'),
    ]);
    await expectStep(page, "done");
    await capture(page, "done");
    const creds = await device.credentials();
    assert.equal(creds.length, 1);
    assert.equal(creds[0].isResidentCredential, true, "a discoverable credential");

    await page.goto(`${BASE}/account`);
    await expectStep(page, "account");
    assert.match(await page.textContent("main"), /テスト用パソコン/);
    await capture(page, "account");
    await accessible(page, "account");

    // Second factor after the password, for a relying party.
    await relyingParty(page);
    await signOut(page);
    await signInWithPassword(page, "hanako", authorizeUrl());
    await expectStep(page, "mfa-passkey");
    await capture(page, "mfa-passkey");
    await accessible(page, "mfa-passkey");
    await Promise.all([atRelyingParty(page), page.click('[data-action="passkey-authenticate"]')]);

    // Passwordless from the login page: no user ID typed.
    await signOut(page);
    await page.goto(`${BASE}/login`);
    await expectStep(page, "login");
    await Promise.all([
      page.waitForURL(`${BASE}/signin/done`),
      page.click('[data-action="passkey-login"]'),
    ]);
    await page.goto(`${BASE}/account`);
    await expectStep(page, "account");

    // Autofill (conditional mediation): the browser offers the passkey in the user ID field;
    // the virtual authenticator answers at once.
    await signOut(page);
    await autofill(page, true);
    await page.goto(`${BASE}/login`);
    await page.waitForURL(`${BASE}/signin/done`);
    await expectStep(page, "done");
  } finally {
    await close();
  }
});

test("a phone through the hybrid (QR code / Bluetooth) transport", async () => {
  const { page, close } = await browser();
  try {
    await page.goto(`${BASE}/login`);
    await autofill(page, false);
    const phone = await authenticator(page, { transport: "cable" });
    await signInWithPassword(page, "keiko");
    await expectStep(page, "enroll-passkey");
    await page.fill("[name=label]", "iPhone");
    await Promise.all([
      page.waitForURL(`${BASE}/signin/done`),
      page.click('[data-action="passkey-register"]'),
    ]);
    assert.equal((await phone.credentials()).length, 1);
    await signOut(page);
    await signInWithPassword(page, "keiko");
    await expectStep(page, "mfa-passkey");
    await page.locator("details.phone-help summary").click();
    await capture(page, "mfa-passkey-phone-help");
    await Promise.all([
      page.waitForURL(`${BASE}/signin/done`),
      page.click('[data-action="passkey-authenticate"]'),
    ]);
  } finally {
    await close();
  }
});

test("user verification failing is refused with a clear message", async () => {
  const { page, close } = await browser();
  try {
    await page.goto(`${BASE}/login`);
    await autofill(page, false);
    await authenticator(page, { transport: "internal", verified: false });
    await signInWithPassword(page, "yuki");
    await expectStep(page, "enroll-passkey");
    await page.fill("[name=label]", "PC");
    await page.click('[data-action="passkey-register"]');
    const status = page.locator(".passkey-status.alert");
    await status.waitFor();
    const message = await status.textContent();
    assert.match(message, /もう一度|別の方法/, message);
    await capture(page, "enroll-passkey-refused");
    await page.reload();
    await expectStep(page, "enroll-passkey"); // nothing was enrolled
  } finally {
    await close();
  }
});

test("authenticator app at first login, on a phone-sized screen", async () => {
  const { page, close } = await browser({ width: 375, height: 812 });
  try {
    await relyingParty(page);
    await signInWithPassword(page, "jiro", authorizeUrl());
    await expectStep(page, "enroll-totp");
    await capture(page, "enroll-totp-375px");
    await accessible(page, "enroll-totp");
    const png = await page.request.get(await page.getAttribute("a[download]", "href").then((h) => new URL(h, BASE).href));
    assert.equal(png.headers()["content-type"], "image/png");
    await page.locator("details summary").first().click();
    const key = await page.textContent("[data-totp-secret]");
    assert.match(key.trim(), /^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$/);
    const used = Math.floor(Date.now() / 1000 / 30);
    await page.fill("[name=otp]", totp(base32(key)));
    await Promise.all([atRelyingParty(page), page.click("main form button[type=submit].primary")]);

    // Signing in again for the relying party: the password, then the next code (a code is
    // accepted once, so wait for the app to show a new one, as a member would).
    await signOut(page);
    await signInWithPassword(page, "jiro", authorizeUrl());
    await expectStep(page, "mfa-totp");
    await capture(page, "mfa-totp-375px");
    await accessible(page, "mfa-totp");
    while (Math.floor(Date.now() / 1000 / 30) <= used) await page.waitForTimeout(500);
    await page.fill("[name=otp]", totp(base32(key)));
    await Promise.all([atRelyingParty(page), page.click("main form button[type=submit].primary")]);
  } finally {
    await close();
  }
});

test("email one-time passwords: enrolment and sign-in", async () => {
  const { page, close } = await browser();
  try {
    await relyingParty(page);
    await signInWithPassword(page, "akira", authorizeUrl());
    await expectStep(page, "enroll-email");
    await capture(page, "enroll-email");
    await accessible(page, "enroll-email");
    await page.fill("[name=otp]", codeIn(lastMailText("akira@example.jp")));
    await Promise.all([atRelyingParty(page), page.click("main form button.primary")]);

    await signOut(page);
    await signInWithPassword(page, "shiro", authorizeUrl());
    await expectStep(page, "mfa-email");
    await capture(page, "mfa-email");
    await accessible(page, "mfa-email");
    await page.fill("[name=otp]", "000000" === codeIn(lastMailText("shiro@example.jp")) ? "111111" : "000000");
    await Promise.all([page.waitForNavigation(), page.click("main form button.primary")]);
    await page.locator('[role="alert"]').first().waitFor();
    await capture(page, "mfa-email-wrong-code");
    await page.fill("[name=otp]", codeIn(lastMailText("shiro@example.jp")));
    await Promise.all([atRelyingParty(page), page.click("main form button.primary")]);
  } finally {
    await close();
  }
});

let failed = 0;
for (const t of tests) {
  const started = Date.now();
  try {
    await t.fn();
    console.log(`ok   ${t.name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${t.name}\n${e && e.stack ? e.stack : e}`);
  }
}
console.log(`\nscreenshots in ${OUT}:\n  ${shots.join("\n  ")}`);
console.log(`${tests.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
