//! The parameters of an endpoint that takes them in the query of a GET or the form of a POST
//! (authorization, RP-initiated logout; OIDC Core §3.1.2.1): kept as the raw pairs, so the
//! endpoint can refuse a repeated parameter rather than pick one.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::Method;
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
