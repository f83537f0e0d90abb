//! Errors of the portal's pages, converted to a response only here: a plain Japanese (or
//! English) page, or a redirect to sign in. Internal causes are logged once, with a reference
//! the member can quote; their text never reaches the response. The back-channel endpoint has
//! its own JSON errors (`auth::logout`).

use crate::pages::i18n::{self, Text};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kenpo_shared::Lang;
use kenpo_shared::scope;
use kenpo_shared::web::Page;
use maud::html;

/// Seconds a member is asked to wait while a backend or the IdP cannot be reached.
pub const RETRY_AFTER_SECS: u64 = 10;

use crate::texts::error::{UNAVAILABLE_BODY, UNAVAILABLE_TITLE};

#[derive(Debug)]
pub enum PageError {
    /// The page, or what it names, does not exist or is not the member's.
    NotFound(Lang),
    /// Not signed in (or the session ended): go through the IdP, then come back here.
    SignIn { return_to: String },
    /// A request the page cannot act on, with a message for the member.
    BadRequest(Lang, Text),
    /// A stale or forged form (CSRF check failed).
    Forbidden(Lang),
    /// The IdP cannot be reached.
    Unavailable(Lang),
    /// The portal's own database or Redis cannot be reached.
    BackendUnavailable(Lang),
    /// Something broke; logged with this reference.
    Internal(Lang, String),
    /// Go elsewhere first (a staff page without a staff session: the staff sign-in).
    Redirect(String),
}

impl PageError {
    /// An internal failure, or [`PageError::BackendUnavailable`] when the request found Redis
    /// or the database unreachable (see `kenpo_shared::scope`).
    pub fn internal(lang: Lang, cause: impl std::fmt::Display) -> Self {
        let reference = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
        if let Some(backend) = scope::outage() {
            tracing::warn!(reference, backend = backend.as_str(), error = %cause, "backend unavailable on a portal page");
            return PageError::BackendUnavailable(lang);
        }
        tracing::error!(reference, error = %cause, "internal error on a portal page");
        PageError::Internal(lang, reference)
    }

    pub fn sign_in(path_and_query: &str) -> Self {
        PageError::SignIn {
            return_to: path_and_query.to_string(),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, lang, title, message) = match &self {
            PageError::SignIn { return_to } => {
                let q = serde_urlencoded::to_string([("return_to", return_to)]).unwrap_or_default();
                let mut res = Redirect::to(&format!("/auth/login?{q}")).into_response();
                no_store(&mut res);
                return res;
            }
            PageError::Redirect(to) => {
                let mut res = Redirect::to(to).into_response();
                no_store(&mut res);
                return res;
            }
            PageError::NotFound(l) => (
                StatusCode::NOT_FOUND,
                *l,
                i18n::NOT_FOUND_TITLE.get(*l),
                i18n::NOT_FOUND_BODY.get(*l).to_string(),
            ),
            PageError::BadRequest(l, m) => (
                StatusCode::BAD_REQUEST,
                *l,
                i18n::ERROR_TITLE.get(*l),
                m.get(*l).to_string(),
            ),
            PageError::Forbidden(l) => (
                StatusCode::FORBIDDEN,
                *l,
                i18n::ERROR_TITLE.get(*l),
                i18n::STALE_FORM.get(*l).to_string(),
            ),
            PageError::Unavailable(l) | PageError::BackendUnavailable(l) => {
                let body = match self {
                    PageError::Unavailable(_) => i18n::IDP_UNAVAILABLE,
                    _ => UNAVAILABLE_BODY,
                };
                let mut res = error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    *l,
                    UNAVAILABLE_TITLE.get(*l),
                    body.get(*l),
                );
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
                return res;
            }
            PageError::Internal(l, r) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                *l,
                i18n::ERROR_TITLE.get(*l),
                format!(
                    "{} ({}: {r})",
                    i18n::INTERNAL_ERROR.get(*l),
                    i18n::REFERENCE.get(*l)
                ),
            ),
        };
        error_page(status, lang, title, &message)
    }
}

/// Pages show personal data: never cache them.
pub fn no_store(res: &mut Response) {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Converts store and other internal failures on pages (with the page's language).
pub trait PageResultExt<T> {
    fn page(self, lang: Lang) -> Result<T, PageError>;
}

impl<T, E: std::fmt::Display> PageResultExt<T> for Result<T, E> {
    fn page(self, lang: Lang) -> Result<T, PageError> {
        self.map_err(|e| PageError::internal(lang, e))
    }
}

/// A standalone error page (no request context needed).
pub fn error_page(status: StatusCode, lang: Lang, title: &str, message: &str) -> Response {
    let page = Page {
        lang,
        title,
        service_name: lang.pick("けんぽWeb お知らせ", "Kenpo Web notices"),
        nonce: "",
        step: Some("portal-error"),
        progress: None,
        nav: Vec::new(),
        lang_switch: None,
        scripts: Vec::new(),
    };
    let body = html! {
        h1 { (title) }
        (kenpo_shared::web::alert(message))
        p { a href="/" { (i18n::BACK_HOME.get(lang)) } }
    };
    let mut res = (status, page.render(body)).into_response();
    no_store(&mut res);
    res
}
