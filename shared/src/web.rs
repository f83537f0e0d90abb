//! Page chrome and browser security shared by both services: a per-request CSP nonce, strict
//! security headers, language negotiation for pages, and the one HTML layout every page is
//! rendered through.

use crate::lang::Lang;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use rand::RngCore;

/// Cookie that remembers the language chosen with the switch.
pub const LANG_COOKIE: &str = "kenpo_lang";
pub const STYLESHEET: &str = include_str!("../static/kenpo.css");
/// Cache-busting path of the stylesheet (content hash), served with a long max-age.
pub fn stylesheet_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| format!("/static/kenpo.{:08x}.css", fnv(STYLESHEET.as_bytes())))
}

fn fnv(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// Serves the shared stylesheet.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// The nonce of this request's Content-Security-Policy; scripts carry it.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CspNonce {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<CspNonce>()
            .cloned()
            .unwrap_or_else(|| CspNonce(String::new())))
    }
}

/// Extra origins a page's forms may end up at (the relying party a sign-in returns to), set as
/// a response extension by handlers; CSP `form-action` also governs the redirects after a POST.
#[derive(Clone, Debug, Default)]
pub struct FormActionOrigins(pub Vec<String>);

#[derive(Clone, Debug, Default)]
pub struct SecurityHeaders {
    /// Send `Strict-Transport-Security` (only when served over https).
    pub hsts: bool,
}

/// Adds a CSP nonce to the request and strict security headers to the response.
pub async fn security_headers(
    State(cfg): State<SecurityHeaders>,
    mut req: Request,
    next: Next,
) -> Response {
    let mut raw = [0u8; 18];
    rand::rng().fill_bytes(&mut raw);
    let nonce = base64::engine::general_purpose::STANDARD.encode(raw);
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut res = next.run(req).await;
    let extra = res
        .extensions()
        .get::<FormActionOrigins>()
        .map(|o| o.0.iter().map(|s| format!(" {s}")).collect::<String>())
        .unwrap_or_default();
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}' 'strict-dynamic'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; form-action 'self'{extra}; \
         frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    );
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    if cfg.hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    res
}

/// The language of a page, from (first match) `?lang=`, `?ui_locales=`, the language cookie,
/// and `Accept-Language`; Japanese otherwise.
#[derive(Clone, Copy, Debug)]
pub struct PageLang(pub Lang);

pub fn negotiate_lang(parts: &Parts) -> Lang {
    let query = parts.uri.query().unwrap_or("");
    for (k, v) in form_pairs(query) {
        if k == "lang"
            && let Some(l) = Lang::from_tag(&v)
        {
            return l;
        }
        if k == "ui_locales"
            && let Some(l) = Lang::from_ui_locales(&v)
        {
            return l;
        }
    }
    if let Some(l) = cookie_value(parts, LANG_COOKIE).and_then(|v| Lang::from_tag(&v)) {
        return l;
    }
    parts
        .headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Lang::from_accept_language)
        .unwrap_or_default()
}

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PageLang(negotiate_lang(parts)))
    }
}

/// Remembers a language chosen with the switch (`?lang=en`) in a cookie.
pub async fn remember_lang(req: Request, next: Next) -> Response {
    let chosen = req
        .uri()
        .query()
        .and_then(|q| form_pairs(q).into_iter().find(|(k, _)| k == "lang"))
        .and_then(|(_, v)| Lang::from_tag(&v));
    let mut res = next.run(req).await;
    if let Some(lang) = chosen {
        let cookie = format!(
            "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
            lang.code()
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default()
}

/// A cookie's value from the request headers.
pub fn cookie_value(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Everything the layout needs besides the body.
pub struct Page<'a> {
    pub lang: Lang,
    pub title: &'a str,
    pub service_name: &'a str,
    pub nonce: &'a str,
    /// `data-step` of `<main>` (the hosted-page contract).
    pub step: Option<&'a str>,
    /// Progress through a multi-step flow, e.g. (3, 7).
    pub progress: Option<(u8, u8)>,
    /// Links shown in the header (label, href).
    pub nav: Vec<(String, String)>,
    /// Link to this page in the other language.
    pub lang_switch: Option<String>,
    pub scripts: Vec<&'a str>,
}

impl Page<'_> {
    pub fn render(&self, body: Markup) -> Markup {
        let l = self.lang;
        html! {
            (DOCTYPE)
            html lang=(l.code()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="referrer" content="no-referrer";
                    title { (self.title) " | " (self.service_name) }
                    link rel="stylesheet" href=(stylesheet_path());
                }
                body {
                    a.skip href="#main" { (l.pick("本文へ移動", "Skip to content")) }
                    header.site {
                        div.site-inner {
                            span.brand { (self.service_name) }
                            nav aria-label=(l.pick("サイト内", "Site")) {
                                @for (label, href) in &self.nav {
                                    a href=(href) { (label) }
                                }
                                @if let Some(href) = &self.lang_switch {
                                    a.lang href=(href) lang=(l.pick("en", "ja")) { (l.pick("English", "日本語")) }
                                }
                            }
                        }
                    }
                    main id="main" data-step=[self.step] {
                        @if let Some((n, of)) = self.progress {
                            p.progress {
                                (l.pick("ステップ", "Step")) " " (n) " / " (of)
                                progress value=(n) max=(of) aria-hidden="true" {}
                            }
                        }
                        (body)
                    }
                    footer.site { p { "© " (self.service_name) } }
                    @for src in &self.scripts {
                        script nonce=(self.nonce) src=(src) {}
                    }
                }
            }
        }
    }
}

/// An error or notice box announced to screen readers.
pub fn alert(message: &str) -> Markup {
    html! { div.alert role="alert" { (message) } }
}

/// A polite status message (success notices).
pub fn notice(message: &str) -> Markup {
    html! { div.notice role="status" { (message) } }
}

/// Inline JSON for a page script, escaped so it cannot close the script element.
pub fn json_island(id: &str, value: &serde_json::Value) -> Markup {
    let text = value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    html! { script id=(id) type="application/json" { (PreEscaped(text)) } }
}

/// The URL of the current page with `lang` set to the other language.
pub fn lang_switch_href(path_and_query: &str, current: Lang) -> String {
    let other = match current {
        Lang::Ja => "en",
        Lang::En => "ja",
    };
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut pairs: Vec<(String, String)> = form_pairs(query)
        .into_iter()
        .filter(|(k, _)| k != "lang")
        .collect();
    pairs.push(("lang".into(), other.into()));
    let q = serde_urlencoded::to_string(pairs).unwrap_or_default();
    format!("{path}?{q}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lang_switch_keeps_the_query() {
        assert_eq!(
            lang_switch_href("/login?flow=abc&lang=ja", Lang::Ja),
            "/login?flow=abc&lang=en"
        );
        assert_eq!(lang_switch_href("/", Lang::En), "/?lang=ja");
    }

    #[test]
    fn json_island_cannot_break_out() {
        let m = json_island("x", &serde_json::json!({"a": "</script><b>"})).into_string();
        assert!(!m.contains("</script><b>"));
    }
}
