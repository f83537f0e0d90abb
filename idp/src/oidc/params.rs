//! The parameters of an endpoint that takes them in the query of a GET or the form of a POST
//! (authorization, RP-initiated logout; OIDC Core §3.1.2.1): kept as the raw pairs, so the
//! endpoint can refuse a repeated parameter rather than pick one; and the form bodies of the
//! protocol endpoints (token, introspection, revocation, userinfo).

use crate::error::OAuthError;
use crate::oidc::request::single_params;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, header};
use std::collections::HashMap;
use std::convert::Infallible;

/// Name–value pairs in the order sent; a body or query that does not parse yields none.
pub struct Params(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = Infallible;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if req.method() == Method::GET {
            let q = req.uri().query().unwrap_or("");
            return Ok(Params(serde_urlencoded::from_str(q).unwrap_or_default()));
        }
        let body = Bytes::from_request(req, state).await.unwrap_or_default();
        Ok(Params(
            serde_urlencoded::from_bytes(&body).unwrap_or_default(),
        ))
    }
}

/// Parses an `application/x-www-form-urlencoded` body with each parameter at most once.
pub fn form_params(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<String, String>, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let pairs = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .map_err(|_| OAuthError::invalid_request("malformed form body"))?;
    single_params(pairs).map_err(|name| {
        OAuthError::invalid_request(format!("parameter `{name}` given more than once"))
    })
}

/// Whether a URI query names any of `names` (credentials and tokens belong in a header or the
/// body: RFC 6750 §2, RFC 6749 §2.3.1).
pub fn query_has(query: Option<&str>, names: &[&str]) -> bool {
    query.is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| names.contains(&k.as_ref()))
    })
}
