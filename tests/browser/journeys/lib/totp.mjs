// RFC 6238 TOTP (SHA-1, 6 digits, 30 s) from node's own HMAC: an implementation independent
// of the IdP's, fed with the key exactly as the page shows it to the member.
import crypto from "node:crypto";

export function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const clean = text.toUpperCase().replace(/[\s=-]/g, "");
  let bits = "";
  for (const c of clean) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${c}`);
    bits += v.toString(2).padStart(5, "0");
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

export function timeStep(unixSeconds = Date.now() / 1000) {
  return Math.floor(unixSeconds / 30);
}

export function totp(key, step = timeStep()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = crypto.createHmac("sha1", key).update(counter).digest();
  const o = h[h.length - 1] & 0x0f;
  const bin = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(bin % 1_000_000).padStart(6, "0");
}

/** Waits until the time step is later than `used` (a code is accepted once). */
export async function nextStepAfter(used) {
  while (timeStep() <= used) await new Promise((r) => setTimeout(r, 250));
  return timeStep();
}
