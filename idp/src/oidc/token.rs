//! The token endpoint (RFC 6749 §3.2): `authorization_code` (with PKCE, `token/code.rs`) and
//! `refresh_token` (rotation; reuse revokes the family, `token/refresh.rs`). Every answer carries
//! `Cache-Control: no-store`.
//!
//! Both grants do everything that can fail (checks, the access-token record in the short-lived
//! store, the ID token's signature) before the one durable step that spends what the client
//! presented, so a failed request leaves the code or refresh token usable for a retry.

mod code;
mod refresh;

pub use code::{CodeRefusal, check_code};

use crate::error::OAuthError;
use crate::oidc::access::{self, AccessRecord};
use crate::oidc::claims::{self, IdTokenInput};
use crate::oidc::keys::Alg;
use crate::oidc::protocol::{ProtocolPost, no_store};
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::grants::Grant;
use crate::store::members::Member;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;

pub async fn post(State(state): State<AppState>, post: ProtocolPost) -> Response {
    let v = match token(&state, &post).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    // RFC 9449 §8.2: the nonce for the client's next proof rides along.
    let nonce = state
        .dpop_nonces()
        .current(&state.eph, state.now())
        .await
        .ok()
        .flatten();
    let mut res = axum::Json(v).into_response();
    if let Some(n) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
        res.headers_mut().insert("dpop-nonce", n);
    }
    let mut res = no_store(res);
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

async fn token(state: &AppState, post: &ProtocolPost) -> Result<Value, OAuthError> {
    let now = state.now();
    let audiences = [state.url("/token"), state.issuer.clone()];
    let (params, client) = post.authenticate(state, &audiences, now).await?;
    // A DPoP proof binds the tokens issued here to its key (RFC 9449 §5).
    let jkt = state
        .verify_dpop(&post.headers, "POST", "/token", None, now)
        .await?;
    if jkt.is_none() && client.require_dpop {
        return Err(OAuthError::invalid_dpop_proof(
            "this client must send a DPoP proof",
        ));
    }
    let grant = GrantRequest {
        state,
        client: &client,
        params: &params,
        jkt: jkt.as_deref(),
        now,
    };
    match params.get("grant_type").map(String::as_str) {
        None | Some("") => Err(OAuthError::invalid_request("missing grant_type")),
        Some("authorization_code") => {
            // Hook (issue 11): a staff sign-in's code is redeemed on its own path.
            match crate::staff::oidc::exchange(state, &client, &params, now).await? {
                Some(staff_tokens) => Ok(staff_tokens),
                None => code::exchange(&grant).await,
            }
        }
        Some("refresh_token") => refresh::exchange(&grant).await,
        Some(_) => Err(OAuthError::unsupported_grant_type(
            "only authorization_code and refresh_token are supported",
        )),
    }
}

/// A token request of an authenticated client, as both grants read it.
#[derive(Clone, Copy)]
struct GrantRequest<'a> {
    state: &'a AppState,
    client: &'a Client,
    params: &'a HashMap<String, String>,
    /// The key of the request's DPoP proof, if it came with one.
    jkt: Option<&'a str>,
    now: i64,
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn respond(
    state: &AppState,
    client: &Client,
    member: &Member,
    grant: &Grant,
    scopes: &[String],
    nonce: Option<&str>,
    code: Option<&str>,
    refresh: String,
    jkt: Option<&str>,
    now: i64,
) -> Result<Value, OAuthError> {
    let tokens = &state.config.tokens;
    let claims_request: Option<Value> = grant
        .claims
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok());
    let record = AccessRecord {
        grant_id: grant.id.clone(),
        client_id: client.client_id.clone(),
        member_id: member.id.clone(),
        scopes: scopes.to_vec(),
        claims: claims::member_claims(
            member,
            &claims::released(scopes, claims_request.as_ref().map(|c| &c["userinfo"])),
        ),
        issued_at: now,
        expires_at: now + tokens.access_token_ttl_secs,
        jkt: jkt.map(String::from),
    };
    let access_token = access::issue(&state.eph, &record).await?;
    let mut body = json!({
        "access_token": access_token,
        "token_type": if jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": tokens.access_token_ttl_secs,
        "refresh_token": refresh,
        "scope": scopes.join(" "),
    });
    if scopes.iter().any(|s| s == "openid") {
        let alg = client
            .id_token_alg
            .or_else(|| Alg::parse(&tokens.default_signing_alg))
            .unwrap_or(Alg::Es256);
        let key = state.keys.signer(alg).map_err(OAuthError::server_error)?;
        let input = IdTokenInput {
            issuer: state.issuer.clone(),
            client_id: client.client_id.clone(),
            member: member.clone(),
            names: claims::released(scopes, claims_request.as_ref().map(|c| &c["id_token"])),
            nonce: nonce.map(String::from),
            auth_time: grant.auth_time,
            amr: grant.amr_list(),
            acr: grant.acr.clone(),
            sid: grant.sid.clone(),
            now,
            ttl: tokens.id_token_ttl_secs,
            access_token: Some(access_token.clone()),
            code: code.map(String::from),
        };
        let id_token = if alg == Alg::Rs256 {
            // An RSA signature takes about a millisecond: keep it off the async workers.
            tokio::task::spawn_blocking(move || claims::id_token(&key, &input))
                .await
                .map_err(OAuthError::server_error)?
        } else {
            claims::id_token(&key, &input)
        }
        .map_err(OAuthError::server_error)?;
        body["id_token"] = json!(id_token);
    }
    Ok(body)
}

#[cfg(test)]
mod properties {
    //! Form bodies of the protocol endpoints are untrusted: no panic on any bytes; unique
    //! parameters read back exactly, and any parameter given twice is refused.
    use crate::oidc::params::form_params;
    use axum::http::{HeaderMap, HeaderValue, header};
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn form_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        h
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_body_is_answered_without_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = form_params(&form_headers(), &body);
            let _ = form_params(&HeaderMap::new(), &body);
        }

        #[test]
        fn unique_parameters_read_back_and_duplicates_are_refused(
            params in prop::collection::hash_map("[a-z_]{1,12}", "\\PC{0,20}", 0..8),
            dup in any::<prop::sample::Index>(),
        ) {
            let pairs: Vec<(String, String)> = params.clone().into_iter().collect();
            let body = serde_urlencoded::to_string(&pairs).unwrap();
            let got = form_params(&form_headers(), body.as_bytes()).unwrap();
            prop_assert_eq!(&got, &params.into_iter().collect::<HashMap<_, _>>());
            if !pairs.is_empty() {
                let (k, v) = pairs[dup.index(pairs.len())].clone();
                let mut twice = pairs.clone();
                twice.push((k, v));
                let body = serde_urlencoded::to_string(&twice).unwrap();
                let e = form_params(&form_headers(), body.as_bytes()).unwrap_err();
                prop_assert_eq!(e.code, "invalid_request");
            }
        }
    }
}
