//! The UserInfo endpoint (OIDC Core 5.3), GET or POST, with the access token in the
//! `Authorization: Bearer` header or (POST) the form body, never both and never in the query;
//! errors per RFC 6750.

use crate::error::OAuthError;
use crate::oidc::access;
use crate::oidc::params::{form_params, query_has};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The bearer token of a request: the `Authorization` header or (POST) the form body — exactly
/// one method (RFC 6750 §2). A token in the URI query (§2.3, which leaks into logs and
/// histories) is not accepted, alone or beside another one.
pub fn bearer(
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Option<String>, OAuthError> {
    if query_has(query, &["access_token"]) {
        return Err(OAuthError::invalid_request(
            "the access token must not be sent in the URI query",
        ));
    }
    let from_header = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| OAuthError::invalid_request("malformed Authorization header"))?;
            match v.split_once(' ') {
                Some((scheme, token))
                    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
                {
                    Some(token.trim().to_string())
                }
                _ => {
                    return Err(OAuthError::invalid_request(
                        "the Authorization header must be `Bearer <token>`",
                    ));
                }
            }
        }
    };
    let from_body = if *method == Method::POST && !body.is_empty() {
        form_params(headers, body)?.remove("access_token")
    } else {
        None
    };
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "the access token was sent in more than one way",
        )),
        (h, b) => Ok(h.or(b)),
    }
}

pub async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match userinfo(&state, &method, uri.query(), &headers, &body).await {
        Ok(Some(v)) => {
            let mut res = axum::Json(v).into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        // RFC 6750 §3.1: no credentials at all → a bare challenge, no error code.
        Ok(None) => {
            let mut res = StatusCode::UNAUTHORIZED.into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kenpo\""),
            );
            res
        }
        Err(e) => e.into_response(),
    }
}

async fn userinfo(
    state: &AppState,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<Value>, OAuthError> {
    let now = state.now();
    let Some(token) = bearer(method, headers, query, body)? else {
        return Ok(None);
    };
    let record = access::lookup(&state.eph, &token, now)
        .await?
        .ok_or_else(|| OAuthError::invalid_token("the access token is invalid or expired"))?;
    if state.grants().is_revoked(&record.grant_id).await? {
        return Err(OAuthError::invalid_token(
            "the access token has been revoked",
        ));
    }
    if !record.scopes.iter().any(|s| s == "openid") {
        return Err(OAuthError::insufficient_scope(
            "the openid scope is required",
        ));
    }
    Ok(Some(Value::Object(record.claims)))
}
