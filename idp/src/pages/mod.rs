//! Hosted pages: every page is a value rendered through the shared layout with this request's
//! CSP nonce, language and CSRF token; `forms` has the field helpers that keep labels, hints
//! and errors tied to their inputs (JIS X 8341-3 / WCAG AA).

pub mod forms;
pub mod i18n;
pub mod script;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kenpo_shared::Lang;
use kenpo_shared::web::{CspNonce, FormActionOrigins, Page, negotiate_lang};
use maud::{Markup, html};

use crate::security::csrf::CsrfToken;
use crate::state::AppState;

/// A hosted page's request: the state, the page context and the one time it is decided at.
pub struct Hosted {
    pub state: AppState,
    pub ctx: Ctx,
    pub now: i64,
}

impl FromRequestParts<AppState> for Hosted {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state).await?;
        Ok(Hosted {
            state: state.clone(),
            ctx,
            now: state.now(),
        })
    }
}

/// What a hosted page needs from its request.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub lang: Lang,
    pub nonce: String,
    pub csrf: CsrfToken,
    pub path_and_query: String,
    /// Cookies decided deep in a service, set on whatever response the handler returns.
    pub cookies: PendingCookies,
}

/// Cookies a request decided to set below its handler (a session cookie renewed at a second
/// factor, a device token at a completed sign-in): the [`set_pending_cookies`] middleware adds
/// them to the response, whichever way the handler answers (page, redirect, script JSON).
#[derive(Clone, Debug, Default)]
pub struct PendingCookies(std::sync::Arc<std::sync::Mutex<Vec<axum::http::HeaderValue>>>);

impl PendingCookies {
    pub fn push(&self, cookie: axum::http::HeaderValue) {
        if let Ok(mut v) = self.0.lock() {
            v.push(cookie);
        }
    }

    fn take(&self) -> Vec<axum::http::HeaderValue> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

pub async fn set_pending_cookies(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let jar = PendingCookies::default();
    req.extensions_mut().insert(jar.clone());
    let mut res = next.run(req).await;
    for c in jar.take() {
        res.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
    res
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let nonce = CspNonce::from_request_parts(parts, state).await?.0;
        let csrf = CsrfToken::from_request_parts(parts, state).await?;
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map(|u| u.0.clone())
            .unwrap_or_else(|| parts.uri.clone());
        let cookies = parts
            .extensions
            .get::<PendingCookies>()
            .cloned()
            .unwrap_or_default();
        Ok(Ctx {
            lang: negotiate_lang(parts),
            nonce,
            csrf,
            cookies,
            path_and_query: uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "/".into()),
        })
    }
}

/// How a page is framed.
#[derive(Default)]
pub struct Frame<'a> {
    pub title: &'a str,
    pub step: Option<&'a str>,
    pub progress: Option<(u8, u8)>,
    pub scripts: Vec<&'a str>,
    /// Origin the page's forms may finally redirect to (the relying party).
    pub form_action: Option<String>,
    pub nav: Vec<(String, String)>,
}

impl Ctx {
    pub fn t(&self, text: i18n::Text) -> &'static str {
        text.get(self.lang)
    }

    pub fn render(&self, state: &AppState, frame: Frame<'_>, body: Markup) -> Response {
        self.render_status(state, StatusCode::OK, frame, body)
    }

    pub fn render_status(
        &self,
        state: &AppState,
        status: StatusCode,
        frame: Frame<'_>,
        body: Markup,
    ) -> Response {
        let service = match self.lang {
            Lang::Ja => state.config.union.service_name.as_str(),
            Lang::En => state.config.union.service_name_en.as_str(),
        };
        let page = Page {
            lang: self.lang,
            title: frame.title,
            service_name: service,
            nonce: &self.nonce,
            step: frame.step,
            progress: frame.progress,
            nav: frame.nav,
            lang_switch: Some(kenpo_shared::web::lang_switch_href(
                &self.path_and_query,
                self.lang,
            )),
            scripts: frame.scripts,
        };
        let mut res = (status, page.render(body)).into_response();
        no_store(&mut res);
        if let Some(origin) = frame.form_action {
            res.extensions_mut().insert(FormActionOrigins(vec![origin]));
        }
        res
    }
}

/// Pages show personal data and one-time state: never cache them.
pub fn no_store(res: &mut Response) {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A standalone error page (no request context needed).
pub fn error_page(status: StatusCode, lang: Lang, title: &str, message: &str) -> Response {
    let page = Page {
        lang,
        title,
        service_name: lang.pick("けんぽWeb", "Kenpo Web"),
        nonce: "",
        step: Some("error"),
        progress: None,
        nav: Vec::new(),
        lang_switch: None,
        scripts: Vec::new(),
    };
    let body = html! {
        h1 { (title) }
        (kenpo_shared::web::alert(message))
        p { a href="/" { (i18n::BACK_TO_START.get(lang)) } }
    };
    let mut res = (status, page.render(body)).into_response();
    no_store(&mut res);
    res
}
