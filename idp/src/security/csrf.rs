//! CSRF protection of every hosted form: a random value in a host-only `HttpOnly` cookie, and
//! in each form an HMAC of it under a server key. A forged cross-site form cannot read the
//! cookie nor compute the HMAC; a cookie planted from elsewhere is ruled out by the `__Host-`
//! prefix. Protocol endpoints that relying parties POST to (authorize, token, logout) are not
//! forms of ours and are not covered.

use crate::security::tokens::{b64url, new_token, same};
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use ring::hmac;

const BASE: &str = "kenpo_csrf";

/// The token to put in this page's forms (hidden field `csrf`).
#[derive(Clone, Debug)]
pub struct CsrfToken(String);

impl CsrfToken {
    pub fn value(&self) -> &str {
        &self.0
    }

    /// Whether a submitted form token matches this browser's cookie.
    pub fn verify(&self, submitted: &str) -> bool {
        !self.0.is_empty() && same(self.0.as_bytes(), submitted.as_bytes())
    }
}

fn form_token(key: &[u8; 32], cookie: &str) -> String {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    b64url(hmac::sign(&k, cookie.as_bytes()).as_ref())
}

/// Gives every page request a CSRF cookie (setting one when absent).
pub async fn ensure_cookie(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let name = state.cookies.csrf();
    let existing = crate::security::request::cookie(req.headers(), &name).filter(|v| v.len() == 43);
    let (cookie, fresh) = match existing {
        Some(v) => (v, false),
        None => (new_token(), true),
    };
    req.extensions_mut()
        .insert(CsrfToken(form_token(&state.cookies.csrf_key, &cookie)));
    let mut res = next.run(req).await;
    if fresh {
        res.headers_mut()
            .append(SET_COOKIE, state.cookies.set(BASE, &cookie, None));
    }
    res
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<CsrfToken>()
            .cloned()
            .unwrap_or(CsrfToken(String::new())))
    }
}
