//! The two error families, kept apart from day one: [`OAuthError`] answers protocol endpoints
//! with RFC 6749 / 6750 codes in JSON; [`PageError`] answers hosted pages with a plain
//! Japanese (or English) page. Internal causes are logged once, here, with a reference the
//! member can quote; their text never reaches the response.
//!
//! A failure caused by an unreachable backend (Redis or the database down or too slow, as
//! noted in the request's `kenpo_shared::scope`) is not an internal error: pages answer the
//! "temporarily unavailable" page and protocol endpoints `temporarily_unavailable`, both 503
//! with `Retry-After`, whichever path the error took to get here.

use crate::pages::i18n::{self as i18n, Text};
use crate::store::StoreError;
use crate::store::ephemeral::EphemeralError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kenpo_shared::Lang;
use kenpo_shared::scope;
use serde_json::json;

/// Seconds a client is asked to wait before retrying while a backend is unreachable.
pub const RETRY_AFTER_SECS: u64 = 10;

use crate::texts::error::{UNAVAILABLE_BODY, UNAVAILABLE_TITLE};

/// An error of a protocol endpoint (token, userinfo, introspection, revocation, …).
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
    /// RFC 6750: errors of bearer-protected resources go in `WWW-Authenticate`.
    pub bearer: bool,
    /// RFC 9449 §7.1: errors of a resource reached with a DPoP-bound token (or one that must
    /// be) go in a `WWW-Authenticate: DPoP` challenge instead.
    pub dpop: bool,
    /// A nonce for the client's next DPoP proof (`DPoP-Nonce`, RFC 9449 §8).
    pub dpop_nonce: Option<String>,
}

impl OAuthError {
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            bearer: false,
            dpop: false,
            dpop_nonce: None,
        }
    }
    pub fn invalid_dpop_proof(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_dpop_proof", d)
    }
    /// RFC 9449 §8: retry with the nonce in the `DPoP-Nonce` header.
    pub fn use_dpop_nonce(nonce: Option<String>) -> Self {
        Self {
            dpop_nonce: nonce,
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "use_dpop_nonce",
                "the authorization server requires a nonce in the DPoP proof",
            )
        }
    }
    /// The same error as a protected resource answers it to a DPoP request (RFC 9449 §7.1,
    /// §9): 401 with a `DPoP` challenge (403 stays 403).
    pub fn at_dpop_resource(self) -> Self {
        let status = if self.status == StatusCode::FORBIDDEN {
            self.status
        } else if matches!(
            self.code,
            "invalid_token" | "invalid_dpop_proof" | "use_dpop_nonce"
        ) {
            StatusCode::UNAUTHORIZED
        } else {
            self.status
        };
        Self {
            status,
            bearer: false,
            dpop: true,
            ..self
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", d)
    }
    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", d)
    }
    pub fn invalid_token(d: impl Into<String>) -> Self {
        Self {
            bearer: true,
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_token", d)
        }
    }
    pub fn insufficient_scope(d: impl Into<String>) -> Self {
        Self {
            bearer: true,
            ..Self::new(StatusCode::FORBIDDEN, "insufficient_scope", d)
        }
    }
    /// An internal failure, or `temporarily_unavailable` when the request found a backend
    /// unreachable.
    pub fn server_error(cause: impl std::fmt::Display) -> Self {
        let reference = crate::security::tokens::new_id();
        if let Some(backend) = scope::outage() {
            tracing::warn!(reference, backend = backend.as_str(), error = %cause, "backend unavailable on a protocol endpoint");
            return Self::temporarily_unavailable(format!(
                "the service is temporarily unavailable, retry later (reference {reference})"
            ));
        }
        tracing::error!(reference, error = %cause, "internal error on a protocol endpoint");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            format!("internal error (reference {reference})"),
        )
    }
    pub fn temporarily_unavailable(d: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            d,
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code, "error_description": self.description});
        let mut res = (self.status, axum::Json(body)).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        if let Some(n) = self
            .dpop_nonce
            .as_deref()
            .and_then(|n| HeaderValue::from_str(n).ok())
        {
            h.insert("dpop-nonce", n);
        }
        if self.dpop {
            let v = format!(
                "DPoP error=\"{}\", error_description=\"{}\", algs=\"{}\"",
                self.code,
                self.description.replace('"', "'"),
                crate::oidc::dpop::ALGS.join(" ")
            );
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(header::WWW_AUTHENTICATE, v);
            }
        } else if self.bearer {
            let v = format!(
                "Bearer error=\"{}\", error_description=\"{}\"",
                self.code,
                self.description.replace('"', "'")
            );
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(header::WWW_AUTHENTICATE, v);
            }
        } else if self.code == "invalid_client" {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"kenpo\""),
            );
        }
        res
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        OAuthError::server_error(e)
    }
}

impl From<crate::oidc::grants::GrantError> for OAuthError {
    fn from(e: crate::oidc::grants::GrantError) -> Self {
        OAuthError::server_error(e)
    }
}

impl From<EphemeralError> for OAuthError {
    fn from(e: EphemeralError) -> Self {
        OAuthError::server_error(e)
    }
}

/// What a hosted-page or console handler answers.
pub type PageResult = Result<Response, PageError>;

/// Why a hosted page does not show: an error for the person, or the page they belong on.
///
/// Guards and extractors reject with it, so handlers return `Result<Response, PageError>` and
/// use `?` throughout.
#[derive(Debug)]
pub enum PageError {
    /// Not an error: the member belongs on another page (the login page without a session,
    /// the step they owe, or back at the relying party). Answered with a 303 there.
    Redirect(String),
    /// The page or the thing it names does not exist (or is not the member's).
    NotFound(Lang),
    /// A request the page cannot act on, with a message for the member.
    BadRequest(Lang, Text),
    /// The form was stale or forged (CSRF check failed).
    Forbidden(Lang),
    /// Something broke; logged with this reference.
    Internal(Lang, String),
    /// A backend (Redis, the database) cannot be reached: 503 with `Retry-After`.
    Unavailable(Lang),
    /// Signed in, but the role does not allow this page or action.
    NotAllowed(Lang),
}

impl PageError {
    /// An internal failure, or [`PageError::Unavailable`] when the request found a backend
    /// unreachable (so handlers need not tell the two apart).
    pub fn internal(lang: Lang, cause: impl std::fmt::Display) -> Self {
        let reference = crate::security::tokens::new_id()[..10].to_string();
        if let Some(backend) = scope::outage() {
            tracing::warn!(reference, backend = backend.as_str(), error = %cause, "backend unavailable on a hosted page");
            return PageError::Unavailable(lang);
        }
        tracing::error!(reference, error = %cause, "internal error on a hosted page");
        PageError::Internal(lang, reference)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, lang, title, message) = match &self {
            PageError::Redirect(to) => {
                let mut res = axum::response::Redirect::to(to).into_response();
                crate::pages::no_store(&mut res);
                return res;
            }
            PageError::NotAllowed(l) => (
                StatusCode::FORBIDDEN,
                *l,
                i18n::ERROR_TITLE.get(*l),
                i18n::NOT_ALLOWED.get(*l).to_string(),
            ),
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
            PageError::Unavailable(l) => {
                let mut res = crate::pages::error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    *l,
                    UNAVAILABLE_TITLE.get(*l),
                    UNAVAILABLE_BODY.get(*l),
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
        crate::pages::error_page(status, lang, title, &message)
    }
}

/// Converts store failures on hosted pages (with the page's language).
pub trait PageResultExt<T> {
    fn page(self, lang: Lang) -> Result<T, PageError>;
}

impl<T, E: std::fmt::Display> PageResultExt<T> for Result<T, E> {
    fn page(self, lang: Lang) -> Result<T, PageError> {
        self.map_err(|e| PageError::internal(lang, e))
    }
}

impl From<crate::oidc::dpop::Refusal> for OAuthError {
    fn from(r: crate::oidc::dpop::Refusal) -> Self {
        use crate::oidc::dpop::{DpopError, Refusal};
        match r {
            Refusal::Proof(DpopError::UseNonce, nonce) => OAuthError::use_dpop_nonce(nonce),
            Refusal::Proof(e, nonce) => OAuthError {
                dpop_nonce: nonce,
                ..OAuthError::invalid_dpop_proof(e.to_string())
            },
            Refusal::Store(e) => OAuthError::server_error(e),
        }
    }
}
