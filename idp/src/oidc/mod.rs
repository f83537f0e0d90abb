//! The OpenID Connect provider: discovery, keys, the authorization and token endpoints,
//! userinfo, introspection, revocation and logout (RP-initiated and back-channel).

pub mod access;
pub mod authorize;
pub mod backchannel;
pub mod claims;
pub mod client_auth;
pub mod code;
pub mod discovery;
pub mod dpop;
pub mod grants;
pub mod introspect;
pub mod keys;
pub mod logout;
pub mod par;
pub mod params;
pub mod protocol;
pub mod request;
pub mod revoke;
#[cfg(test)]
pub mod test_support;
pub mod token;
pub mod userinfo;

use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

pub async fn discovery(State(state): State<AppState>) -> Response {
    let mut res = (
        [(header::CONTENT_TYPE, "application/json")],
        state.discovery.clone(),
    )
        .into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    let body = state.keys.jwks_json();
    let mut res = (
        [(header::CONTENT_TYPE, "application/jwk-set+json")],
        body.as_str().to_owned(),
    )
        .into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}
