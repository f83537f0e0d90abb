// Reads the mails the SMTP sink caught, decoding MIME as a mail program would: multipart
// bodies, base64 / quoted-printable parts, RFC 2047 encoded subjects, UTF-8.
import fs from "node:fs";
import path from "node:path";

function splitHead(raw) {
  const i = raw.search(/\r?\n\r?\n/);
  const head = i < 0 ? raw : raw.slice(0, i);
  const body = i < 0 ? "" : raw.slice(i).replace(/^\r?\n\r?\n/, "");
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const c = line.indexOf(":");
    if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
  }
  return { headers, body };
}

function decodeWords(s) {
  return s.replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=\s*(?==\?)?/g, (_, charset, enc, text) => {
    const bytes = enc.toUpperCase() === "B"
      ? Buffer.from(text, "base64")
      : Buffer.from(text.replace(/_/g, " ").replace(/=([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))), "latin1");
    return new TextDecoder(charset.toLowerCase()).decode(bytes);
  });
}

function decodeBody(body, encoding) {
  const e = (encoding || "7bit").toLowerCase();
  if (e === "base64") return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  if (e === "quoted-printable") {
    const bytes = Buffer.from(
      body.replace(/=\r?\n/g, "").replace(/=([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))),
      "latin1",
    );
    return bytes.toString("utf8");
  }
  return Buffer.from(body, "latin1").toString("utf8");
}

function parts(headers, body, out) {
  const type = headers["content-type"] || "text/plain";
  const boundary = /boundary="?([^";]+)"?/i.exec(type);
  if (/^multipart\//i.test(type) && boundary) {
    const pieces = body.split("--" + boundary[1]);
    for (const piece of pieces.slice(1)) {
      if (piece.startsWith("--")) break;
      const p = splitHead(piece.replace(/^\r?\n/, ""));
      parts(p.headers, p.body, out);
    }
    return;
  }
  const text = decodeBody(body, headers["content-transfer-encoding"]);
  if (/^text\/html/i.test(type)) out.html += text;
  else if (/^text\/plain/i.test(type)) out.text += text;
}

/** Parses one raw message (as a latin1 string, so bytes survive until decoded). */
export function parseMail(raw) {
  const { headers, body } = splitHead(raw);
  const out = { text: "", html: "" };
  parts(headers, body, out);
  const addresses = (h) => (h || "").match(/[^\s<>,"]+@[^\s<>,"]+/g) || [];
  return {
    to: addresses(headers["x-envelope-to"] || headers["to"]).map((a) => a.toLowerCase()),
    subject: decodeWords(headers["subject"] || ""),
    text: out.text.replace(/\r\n/g, "\n"),
    html: out.html,
  };
}

export class Mailbox {
  constructor(dir) {
    this.dir = dir;
  }

  all() {
    if (!fs.existsSync(this.dir)) return [];
    return fs
      .readdirSync(this.dir)
      .filter((f) => f.endsWith(".eml"))
      .sort()
      .map((f) => ({ file: f, ...parseMail(fs.readFileSync(path.join(this.dir, f), "latin1")) }));
  }

  to(address) {
    return this.all().filter((m) => m.to.includes(address.toLowerCase()));
  }

  /** Waits for a mail to `address` newer than the first `after` ones whose subject matches. */
  async wait(address, { subject, after = 0, timeoutMs = 15000 } = {}) {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const found = this.to(address).slice(after).filter((m) => !subject || subject.test(m.subject));
      if (found.length) return found[found.length - 1];
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no mail to ${address} matching ${subject} after ${after}`);
  }
}

/** The one link of a verification or reset mail (SPEC: exactly one). */
export function theLink(mail) {
  const links = mail.text.match(/https?:\/\/[^\s<>"]+/g) || [];
  if (links.length !== 1) throw new Error(`expected one link, found ${links.length}: ${mail.text}`);
  return links[0];
}

/** The code of an OTP mail (SPEC: the only six-digit number of the text body). */
export function theCode(mail) {
  const codes = mail.text.match(/(?<!\d)\d{6}(?!\d)/g) || [];
  if (codes.length !== 1) throw new Error(`expected one 6-digit code, found ${codes}: ${mail.text}`);
  return codes[0];
}
