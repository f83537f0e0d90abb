//! The UserInfo endpoint (OIDC Core 5.3), GET or POST, with the access token in the
//! `Authorization: Bearer` header or (POST) the form body, never both and never in the query;
//! errors per RFC 6750. A DPoP-bound token comes as `Authorization: DPoP` with a proof of its
//! key for this request and this token (RFC 9449 §7); sent as `Bearer` it is refused.

use crate::error::OAuthError;
use crate::oidc::access;
use crate::oidc::params::{form_params, query_has};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// How an access token was presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    pub token: String,
    /// `Authorization: DPoP` (RFC 9449 §7.1) rather than `Bearer` or the form body.
    pub dpop: bool,
}

/// The access token of a request: the `Authorization` header (`Bearer` or `DPoP`) or (POST,
/// bearer only) the form body — exactly one method (RFC 6750 §2). A token in the URI query
/// (§2.3, which leaks into logs and histories) is not accepted, alone or beside another one.
pub fn bearer(
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Option<Presented>, OAuthError> {
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
                    if (scheme.eq_ignore_ascii_case("bearer")
                        || scheme.eq_ignore_ascii_case("dpop"))
                        && !token.trim().is_empty() =>
                {
                    Some(Presented {
                        token: token.trim().to_string(),
                        dpop: scheme.eq_ignore_ascii_case("dpop"),
                    })
                }
                _ => {
                    return Err(OAuthError::invalid_request(
                        "the Authorization header must be `Bearer <token>` or `DPoP <token>`",
                    ));
                }
            }
        }
    };
    let from_body = if *method == Method::POST && !body.is_empty() {
        form_params(headers, body)?
            .remove("access_token")
            .map(|token| Presented { token, dpop: false })
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
        // RFC 6750 §3.1: no credentials at all → bare challenges (either scheme), no error code.
        Ok(None) => {
            let mut res = StatusCode::UNAUTHORIZED.into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kenpo\""),
            );
            if let Ok(v) = HeaderValue::from_str(&format!(
                "DPoP algs=\"{}\"",
                crate::oidc::dpop::ALGS.join(" ")
            )) {
                res.headers_mut().append(header::WWW_AUTHENTICATE, v);
            }
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
    let Some(presented) = bearer(method, headers, query, body)? else {
        return Ok(None);
    };
    // Errors of a DPoP request (or about a DPoP-bound token) carry the DPoP challenge.
    let dpop_errors = |e: OAuthError, dpop: bool| if dpop { e.at_dpop_resource() } else { e };
    let record = access::lookup(&state.eph, &presented.token, now)
        .await?
        .ok_or_else(|| {
            dpop_errors(
                OAuthError::invalid_token("the access token is invalid or expired"),
                presented.dpop,
            )
        })?;
    let bound = record.jkt.is_some();
    authorise_presentation(
        state,
        method,
        "/userinfo",
        headers,
        &presented,
        &record,
        now,
    )
    .await
    .map_err(|e| dpop_errors(e, presented.dpop || bound))?;
    if state.grants().is_revoked(&record.grant_id).await? {
        return Err(dpop_errors(
            OAuthError::invalid_token("the access token has been revoked"),
            bound,
        ));
    }
    if !record.scopes.iter().any(|s| s == "openid") {
        return Err(dpop_errors(
            OAuthError::insufficient_scope("the openid scope is required"),
            bound,
        ));
    }
    Ok(Some(Value::Object(record.claims)))
}

/// Whether the token was presented as its binding demands: a bound token only with the DPoP
/// scheme and a proof of its key for this request and this token (`ath`); an unbound one only
/// as a bearer token (RFC 9449 §7.1). Any protected resource of the IdP calls this.
pub async fn authorise_presentation(
    state: &AppState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    presented: &Presented,
    record: &access::AccessRecord,
    now: i64,
) -> Result<(), OAuthError> {
    match (&record.jkt, presented.dpop) {
        (None, false) => Ok(()),
        (None, true) => Err(OAuthError::invalid_token(
            "the access token is not DPoP-bound: present it as a Bearer token",
        )),
        (Some(_), false) => Err(OAuthError::invalid_token(
            "the access token is DPoP-bound: present it with the DPoP scheme and a proof",
        )),
        (Some(bound), true) => {
            let jkt = state
                .verify_dpop(headers, method.as_str(), path, Some(&presented.token), now)
                .await?
                .ok_or_else(|| OAuthError::invalid_dpop_proof("a DPoP proof is required"))?;
            if &jkt != bound {
                return Err(OAuthError::invalid_dpop_proof(
                    crate::oidc::dpop::DpopError::OtherKey.to_string(),
                ));
            }
            Ok(())
        }
    }
}
