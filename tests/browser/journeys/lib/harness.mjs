// What every journey shares: a fresh Chromium profile per "device", virtual authenticators,
// and the check made on every screen the member sees — axe-core (no serious or critical
// violation), no horizontal scrolling on a 375 px phone, screenshots at 1280 and 375 px.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

/** A device: its own browser profile (cookies, storage), like a member's phone or PC. */
export async function device({ locale = "ja-JP", width = 1280, height = 900 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kenpo-journey-"));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    locale,
    viewport: { width, height },
  });
  context.setDefaultTimeout(20000);
  const close = async () => {
    await context.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { context, close };
}

/** Adds a virtual authenticator to a page: `internal` (this device's face/fingerprint) or
 * `cable` (a phone reached by QR code and Bluetooth, the hybrid transport). */
export async function authenticator(page, transport) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2", transport, hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  return {
    credentials: async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials,
    /** Whether the "member" passes the face/fingerprint check (false: every ceremony fails). */
    setUserVerified: (isUserVerified) => cdp.send("WebAuthn.setUserVerified", { authenticatorId, isUserVerified }),
  };
}

export class Journey {
  constructor(name, outDir) {
    this.name = name;
    this.dir = path.join(outDir, name);
    fs.rmSync(this.dir, { recursive: true, force: true });
    fs.mkdirSync(this.dir, { recursive: true });
    this.screens = [];
    this.counting = false;
    this.counted = [];
  }

  log(...a) {
    console.log(`  [${this.name}]`, ...a);
  }

  /** Starts counting screens (at the login page of a sign-in). */
  startCounting() {
    this.counting = true;
    this.counted = [];
  }

  /** Stops counting and returns the screens seen since `startCounting`. */
  stopCounting() {
    this.counting = false;
    return this.counted.slice();
  }

  /** Waits for the IdP page `step` (its `main[data-step]`), then checks and records it. */
  async at(page, step, label = step) {
    try {
      await page.waitForSelector(`main[data-step="${step}"]`, { timeout: 20000 });
    } catch (e) {
      const here = await page.locator("main").getAttribute("data-step").catch(() => null);
      const alert = await page.locator('[role="alert"]').first().textContent().catch(() => null);
      throw new Error(`expected step ${step}, at ${page.url()} step=${here} alert=${alert}`);
    }
    await this.screen(page, label);
    return page;
  }

  /** Waits for the relying party's signed-in page and records it. */
  async atRelyingParty(page) {
    try {
      await page.waitForSelector('[data-rp="signed-in"]', { timeout: 20000 });
    } catch (e) {
      const here = await page.locator("main").getAttribute("data-step").catch(() => null);
      const alert = await page.locator('[role="alert"]').first().textContent({ timeout: 1000 }).catch(() => null);
      const body = await page.locator("body").innerText({ timeout: 1000 }).catch(() => "");
      throw new Error(`expected the relying party, at ${page.url()} step=${here} alert=${alert}\n${body.slice(0, 600)}`);
    }
    await this.screen(page, "relying-party");
    return page;
  }

  /** Checks a screen: accessibility, phone width, screenshots. */
  async screen(page, label) {
    await page.waitForLoadState("load");
    const n = String(this.screens.length + 1).padStart(2, "0");
    this.screens.push(label);
    if (this.counting) this.counted.push(label);
    await page.evaluate(AXE);
    const result = await page.evaluate(async () =>
      // eslint-disable-next-line no-undef
      axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } }),
    );
    const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    if (bad.length) {
      const detail = bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((x) => x.target.join(" ")).join(", ")}`);
      throw new Error(`axe on ${label} (${page.url()}):\n  ${detail.join("\n  ")}`);
    }
    const size = page.viewportSize();
    await page.screenshot({ path: path.join(this.dir, `${n}-${label}-1280.png`), fullPage: true });
    await page.setViewportSize({ width: 375, height: 812 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 0) throw new Error(`${label}: ${overflow}px of horizontal scrolling at 375 px`);
    await page.screenshot({ path: path.join(this.dir, `${n}-${label}-375.png`), fullPage: true });
    await page.setViewportSize(size);
  }

  /** Presses the page's one primary button (keyboard-free shortcut for `Next`). */
  async primary(page) {
    await page.locator("main button.primary").click();
  }
}

/** Fails the journey with a message. */
export function expect(condition, message) {
  if (!condition) throw new Error(message);
}
