//! What the back-channel protocol endpoints (`/token`, `/par`, `/introspect`, `/revoke`)
//! share: credentials and tokens only in the body, never in the URI query, and answers that
//! no cache may keep (RFC 6749 §5.1).

use crate::error::OAuthError;
use crate::oidc::client_auth;
use crate::oidc::params::form_params;
use crate::state::AppState;
use crate::store::clients::Client;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;

/// A protocol POST: its headers and raw body (form parameters are read by `form_params`),
/// once the query is known to carry no secret.
pub struct ProtocolPost {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl FromRequest<AppState> for ProtocolPost {
    /// The body extractor's own rejection (a body over the limit, say) or an [`OAuthError`].
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        // The body is read first, as it was by the `Bytes` extractor: its rejection wins.
        let query = client_auth::query_free(req.uri().query());
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        query.map_err(IntoResponse::into_response)?;
        Ok(Self { headers, body })
    }
}

impl ProtocolPost {
    /// The form parameters and the client they authenticate (RFC 6749 §2.3); a client
    /// assertion may name any of `audiences` (the endpoint's URL first).
    pub async fn authenticate(
        &self,
        state: &AppState,
        audiences: &[String],
        now: i64,
    ) -> Result<(HashMap<String, String>, Arc<Client>), OAuthError> {
        let params = form_params(&self.headers, &self.body)?;
        let client =
            client_auth::authenticate(state, &self.headers, &params, audiences, now).await?;
        Ok((params, client))
    }
}

/// Marks a protocol answer as not to be cached.
pub fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A protocol endpoint's answer: the success uncached, or the OAuth error (uncached too).
pub fn answer<T: IntoResponse>(result: Result<T, OAuthError>) -> Response {
    match result {
        Ok(v) => no_store(v.into_response()),
        Err(e) => e.into_response(),
    }
}
