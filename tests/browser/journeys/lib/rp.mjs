// A relying party for the journeys, written with node's own crypto (independent of the IdP):
// discovery, authorization code + PKCE, client_secret_basic token exchange, and ID token
// verification against the JWKS (signature, iss, aud, exp, nonce). Its callback page is the
// member's last screen of a sign-in ("back at the service").
import http from "node:http";
import crypto from "node:crypto";

const b64url = (buf) => Buffer.from(buf).toString("base64url");

export class RelyingParty {
  constructor({ issuer, port, clientId, secret }) {
    this.issuer = issuer;
    this.port = port;
    this.clientId = clientId;
    this.secret = secret;
    this.redirect = `http://localhost:${port}/cb`;
    this.pending = new Map();
    this.signIns = [];
  }

  async start() {
    const res = await fetch(`${this.issuer}/.well-known/openid-configuration`);
    this.meta = await res.json();
    if (this.meta.issuer !== this.issuer) throw new Error(`issuer mismatch: ${this.meta.issuer}`);
    this.server = http.createServer((req, res) => this.handle(req, res).catch((e) => {
      res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
      res.end(String(e.stack || e));
    }));
    await new Promise((r) => this.server.listen(this.port, "127.0.0.1", r));
  }

  stop() {
    return new Promise((r) => this.server.close(r));
  }

  /** A new authorization request URL. */
  authUrl({ uiLocales, prompt } = {}) {
    const state = b64url(crypto.randomBytes(16));
    const nonce = b64url(crypto.randomBytes(16));
    const verifier = b64url(crypto.randomBytes(32));
    const challenge = b64url(crypto.createHash("sha256").update(verifier).digest());
    this.pending.set(state, { nonce, verifier });
    const u = new URL(this.meta.authorization_endpoint);
    const q = {
      response_type: "code", client_id: this.clientId, redirect_uri: this.redirect,
      scope: "openid profile email member", state, nonce,
      code_challenge: challenge, code_challenge_method: "S256",
    };
    if (uiLocales) q.ui_locales = uiLocales;
    if (prompt) q.prompt = prompt;
    for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v);
    return u.toString();
  }

  /** RP-initiated logout URL for the last sign-in. */
  logoutUrl() {
    const last = this.signIns[this.signIns.length - 1];
    const u = new URL(this.meta.end_session_endpoint);
    u.searchParams.set("id_token_hint", last.idToken);
    u.searchParams.set("post_logout_redirect_uri", `http://localhost:${this.port}/signed-out`);
    u.searchParams.set("client_id", this.clientId);
    return u.toString();
  }

  async verifyIdToken(jwt, nonce) {
    const [h, p, s] = jwt.split(".");
    const header = JSON.parse(Buffer.from(h, "base64url"));
    const claims = JSON.parse(Buffer.from(p, "base64url"));
    const jwks = await (await fetch(this.meta.jwks_uri)).json();
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    if (!jwk) throw new Error(`no key ${header.kid} in the JWKS`);
    const key = crypto.createPublicKey({ key: jwk, format: "jwk" });
    const data = Buffer.from(`${h}.${p}`);
    const sig = Buffer.from(s, "base64url");
    let ok;
    if (header.alg === "ES256") ok = crypto.verify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, sig);
    else if (header.alg === "EdDSA") ok = crypto.verify(null, data, key, sig);
    else if (header.alg === "RS256") ok = crypto.verify("sha256", data, key, sig);
    else throw new Error(`unexpected alg ${header.alg}`);
    if (!ok) throw new Error("ID token signature does not verify");
    const now = Date.now() / 1000;
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (claims.iss !== this.issuer) throw new Error(`iss ${claims.iss}`);
    if (!aud.includes(this.clientId)) throw new Error(`aud ${claims.aud}`);
    if (!(claims.exp > now)) throw new Error("expired ID token");
    if (claims.nonce !== nonce) throw new Error("nonce mismatch");
    return claims;
  }

  page(title, body) {
    return `<!doctype html><html lang="ja"><head><meta charset="utf-8">` +
      `<meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title>` +
      `<style>body{font-family:sans-serif;margin:0;color:#1a1a1a}header{background:#1e6b30;color:#fff;padding:.75rem 1rem}` +
      `main{max-width:36rem;margin:1.5rem auto;padding:1rem}</style></head>` +
      `<body><header>組合のお知らせ（テスト用サービス）</header><main>${body}</main></body></html>`;
  }

  async handle(req, res) {
    const url = new URL(req.url, `http://localhost:${this.port}`);
    if (url.pathname === "/signed-out") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(this.page("ログアウトしました", `<h1 data-rp="signed-out">ログアウトしました</h1>`));
      return;
    }
    if (url.pathname !== "/cb") {
      res.writeHead(404);
      res.end();
      return;
    }
    const state = url.searchParams.get("state");
    const pending = this.pending.get(state);
    if (!pending) throw new Error(`unknown state ${state}`);
    this.pending.delete(state);
    if (url.searchParams.get("error")) throw new Error(`error from the IdP: ${url.search}`);
    if (url.searchParams.get("iss") !== this.issuer) throw new Error("iss parameter missing or wrong");
    const tokenRes = await fetch(this.meta.token_endpoint, {
      method: "POST",
      headers: {
        authorization: "Basic " + Buffer.from(`${encodeURIComponent(this.clientId)}:${encodeURIComponent(this.secret)}`).toString("base64"),
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams({
        grant_type: "authorization_code", code: url.searchParams.get("code"),
        redirect_uri: this.redirect, code_verifier: pending.verifier,
      }),
    });
    const tokens = await tokenRes.json();
    if (!tokenRes.ok) throw new Error(`token endpoint: ${JSON.stringify(tokens)}`);
    const claims = await this.verifyIdToken(tokens.id_token, pending.nonce);
    this.signIns.push({ claims, idToken: tokens.id_token });
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(this.page("ログインしました", `<h1 data-rp="signed-in">ログインしました</h1>` +
      `<p>本人確認の方法: <span data-amr>${(claims.amr || []).join(" ")}</span></p>`));
  }
}
