//! The JSON endpoints that page scripts call (passkey ceremonies, the `email-sent` status):
//! a body extractor whose errors are JSON in the member's language, and [`ScriptError`], the
//! `PageError` of a script. `static/passkey.js` follows `{"redirect": url}` and shows
//! `{"error": message}` as it is.

use crate::error::PageError;
use crate::pages::i18n;
use crate::security::csrf::CsrfToken;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kenpo_shared::web::negotiate_lang;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// What a script (JSON) endpoint of a hosted page answers.
pub type ScriptResult = Result<Response, ScriptError>;

/// Why a script endpoint did not do what was asked.
#[derive(Debug)]
pub enum ScriptError {
    /// What a page would have answered: a redirect becomes `{"redirect": …}`, an error its
    /// message.
    Page(PageError),
    /// A refusal with a message for the member (a ceremony that failed, a throttle).
    Refused(StatusCode, String),
}

impl From<PageError> for ScriptError {
    fn from(e: PageError) -> Self {
        ScriptError::Page(e)
    }
}

impl IntoResponse for ScriptError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ScriptError::Refused(status, message) => (status, message),
            ScriptError::Page(PageError::Redirect(to)) => {
                return json_ok(json!({ "redirect": to }));
            }
            ScriptError::Page(PageError::NotFound(l)) => {
                (StatusCode::NOT_FOUND, i18n::NOT_FOUND_BODY.get(l).into())
            }
            ScriptError::Page(PageError::BadRequest(l, t)) => {
                (StatusCode::BAD_REQUEST, t.get(l).into())
            }
            ScriptError::Page(PageError::NotAllowed(l)) => {
                (StatusCode::FORBIDDEN, i18n::NOT_ALLOWED.get(l).into())
            }
            ScriptError::Page(PageError::Forbidden(l)) => {
                (StatusCode::FORBIDDEN, i18n::STALE_FORM.get(l).into())
            }
            ScriptError::Page(PageError::Unavailable(l)) => {
                let mut res = json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    crate::texts::error::UNAVAILABLE_BODY.get(l),
                );
                res.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(crate::error::RETRY_AFTER_SECS),
                );
                return res;
            }
            ScriptError::Page(PageError::Internal(l, reference)) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "{} ({}: {reference})",
                    i18n::INTERNAL_ERROR.get(l),
                    i18n::REFERENCE.get(l)
                ),
            ),
        };
        json_error(status, &message)
    }
}

/// A JSON request body from a page script. The body must be a JSON object whose `csrf`
/// member matches this browser's cookie; anything else is refused in JSON before the handler
/// runs.
pub struct ScriptJson<T> {
    pub body: T,
    /// The whole object, for the fields every ceremony carries (`flow`, `next`).
    pub raw: Value,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ScriptJson<T> {
    type Rejection = ScriptError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let lang = negotiate_lang(&parts);
        let token = parts.extensions.get::<CsrfToken>().cloned();
        let json_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bad = || ScriptError::Page(PageError::BadRequest(lang, i18n::BAD_REQUEST));
        if !json_type {
            return Err(bad());
        }
        let bytes = axum::body::Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|_| bad())?;
        let raw: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let submitted = raw.get("csrf").and_then(Value::as_str).unwrap_or("");
        if !token.is_some_and(|t| t.verify(submitted)) {
            return Err(ScriptError::Page(PageError::Forbidden(lang)));
        }
        let body = T::deserialize(&raw).map_err(|_| bad())?;
        Ok(ScriptJson { body, raw })
    }
}

impl<T> ScriptJson<T> {
    /// A string member of the body (`flow`, `next`), if present.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.raw.get(name).and_then(Value::as_str)
    }
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

pub fn json_ok(value: Value) -> Response {
    no_store(axum::Json(value).into_response())
}

/// `{"error": message}`; the page script shows the message as it is.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    no_store((status, axum::Json(json!({"error": message}))).into_response())
}

/// Turns a page's redirect into one for a script: `{"redirect": url}`, its cookies kept (a
/// sign-in sets the session cookie on it).
pub fn follow(res: Response) -> Response {
    if res.status().is_redirection()
        && let Some(location) = res
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    {
        let mut out = json_ok(json!({"redirect": location}));
        for c in res.headers().get_all(header::SET_COOKIE) {
            out.headers_mut().append(header::SET_COOKIE, c.clone());
        }
        return out;
    }
    let status = if res.status().is_success() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        res.status()
    };
    json_error(status, i18n::INTERNAL_ERROR.get(kenpo_shared::Lang::Ja))
}
