//! The `authorization_code` grant. The code's record is read first and checked against the
//! calling client, the redirect URI, the PKCE verifier and the clock ([`check_code`], pure);
//! only a request that passes takes the code (an atomic take), so a client holding a leaked
//! code, or a request with a wrong verifier, cannot burn it for the client it was issued to.
//!
//! A code used twice was copied: the grant its first use produced is revoked (RFC 6749
//! §4.1.2, §10.5) — when the same client presents it again, or when two redemptions race and
//! one of them finds the code already taken.

use super::GrantRequest;
use crate::error::OAuthError;
use crate::oidc::code::{self, CodeRecord, Redeemed};
use crate::security::tokens::{b64url, new_token, same, token_hash};
use crate::store::clients::Client;
use crate::store::grants::{Grant, RefreshToken};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Why a code is refused to a client (each answered `invalid_grant`; the code stays usable by
/// the request it was issued for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeRefusal {
    #[error("the code was issued to another client")]
    OtherClient,
    #[error("redirect_uri does not match the authorization request")]
    RedirectUri,
    #[error("the code has expired")]
    Expired,
    #[error("code_verifier is required")]
    VerifierMissing,
    #[error("code_verifier does not match the code_challenge")]
    VerifierMismatch,
    #[error("no code_challenge was sent for this code")]
    UnexpectedVerifier,
    #[error("this client must use PKCE and the code has no code_challenge")]
    ChallengeMissing,
}

/// RFC 7636 §4.1: 43–128 characters of the unreserved set.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
}

/// The checks of a code exchange, in the order a refusal is reported: client, redirect URI,
/// expiry, PKCE (S256: `BASE64URL(SHA256(verifier)) == challenge`, compared in constant time).
pub fn check_code(
    record: &CodeRecord,
    client: &Client,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    now: i64,
) -> Result<(), CodeRefusal> {
    if record.client_id != client.client_id {
        return Err(CodeRefusal::OtherClient);
    }
    if redirect_uri != Some(record.redirect_uri.as_str()) {
        return Err(CodeRefusal::RedirectUri);
    }
    // The store's TTL ends a code on time; its recorded expiry, written by the replica that
    // issued it, is judged with the replicas' clock allowance.
    if kenpo_shared::clock::lapsed(record.expires_at, now) {
        return Err(CodeRefusal::Expired);
    }
    match (&record.code_challenge, verifier) {
        (Some(challenge), Some(v)) => {
            let computed = b64url(&Sha256::digest(v.as_bytes()));
            if !valid_verifier(v) || !same(computed.as_bytes(), challenge.as_bytes()) {
                return Err(CodeRefusal::VerifierMismatch);
            }
        }
        (Some(_), None) => return Err(CodeRefusal::VerifierMissing),
        (None, Some(_)) => return Err(CodeRefusal::UnexpectedVerifier),
        // Codes are issued only for requests that passed the PKCE rule; this holds even if a
        // client's registration changed in between.
        (None, None) if client.requires_pkce() => return Err(CodeRefusal::ChallengeMissing),
        (None, None) => {}
    }
    Ok(())
}

pub(super) async fn exchange(req: &GrantRequest<'_>) -> Result<Value, OAuthError> {
    let (state, client, now) = (req.state, req.client, req.now);
    let code = req
        .params
        .get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("missing code"))?;
    let tombstone_ttl = state.config.tokens.refresh_family_ttl_secs.min(86_400);
    let record = match code::peek(&state.eph, code).await? {
        Redeemed::Fresh(r) => r,
        Redeemed::Replayed {
            grant_id,
            client_id,
        } => {
            // Only the client the code was for can have copied it from itself: another client's
            // attempt must not end a sign-in it has nothing to do with.
            if client_id.as_deref().is_none_or(|c| c == client.client_id) {
                let revoked = state
                    .grants()
                    .revoke(&grant_id, "authorization code reuse", now)
                    .await?;
                tracing::warn!(grant_id, revoked, client_id = %client.client_id, "authorization code replayed");
            }
            return Err(OAuthError::invalid_grant("the code has already been used"));
        }
        Redeemed::Unknown => return Err(OAuthError::invalid_grant("unknown or expired code")),
    };
    check_code(
        &record,
        client,
        req.params.get("redirect_uri").map(String::as_str),
        req.params.get("code_verifier").map(String::as_str),
        now,
    )
    .map_err(|r| OAuthError::invalid_grant(r.to_string()))?;
    // RFC 9449 §10: a request bound to a key (`dpop_jkt`) is redeemed only with a proof of it.
    if let Some(bound) = record.dpop_jkt.as_deref()
        && req.jkt != Some(bound)
    {
        return Err(OAuthError::invalid_dpop_proof(
            "the authorization request was bound to another DPoP key",
        ));
    }
    if !code::take(&state.eph, code, &record, tombstone_ttl).await? {
        // Another redemption of this very code won the take a moment ago: a copied code used
        // twice at once. Its grant is revoked (marked first, so the winner sees it).
        let revoked = state
            .grants()
            .revoke(&record.grant_id, "authorization code reuse", now)
            .await?;
        tracing::warn!(grant_id = %record.grant_id, revoked, client_id = %client.client_id, "authorization code redeemed twice at once");
        return Err(OAuthError::invalid_grant("the code has already been used"));
    }
    let grant = Grant {
        id: record.grant_id.clone(),
        client_id: client.client_id.clone(),
        member_id: record.member_id.clone(),
        sid: record.sid.clone(),
        scope: record.scopes.join(" "),
        claims: record.claims.as_ref().map(|c| c.to_string()),
        auth_time: record.auth_time,
        amr: serde_json::to_string(&record.amr).map_err(OAuthError::server_error)?,
        acr: record.acr.clone(),
        created_at: now,
        expires_at: now + state.config.tokens.refresh_family_ttl_secs,
        revoked_at: None,
        revoked_reason: None,
    };
    let refresh = new_token();
    let refresh_row = RefreshToken {
        token_hash: token_hash(&refresh),
        grant_id: grant.id.clone(),
        created_at: now,
        expires_at: now
            + state
                .config
                .tokens
                .refresh_token_ttl_secs
                .min(state.config.tokens.refresh_family_ttl_secs),
        rotated_at: None,
        // RFC 9449 §5: a public client's refresh token is bound to its DPoP key; a
        // confidential client's is bound to its credentials already.
        dpop_jkt: req.jkt.filter(|_| client.is_public()).map(String::from),
    };
    let member = state
        .grants()
        .create(grant.clone(), Some(refresh_row))
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the member no longer exists"))?;
    // A racing redemption that lost the take revokes by marker before the database; a grant
    // created after that revocation ran is caught here.
    if state.grants().is_revoked(&grant.id).await? {
        state
            .grants()
            .revoke(&grant.id, "authorization code reuse", now)
            .await?;
        return Err(OAuthError::invalid_grant("the code has already been used"));
    }
    super::respond(
        state,
        client,
        &member,
        &grant,
        &record.scopes,
        record.nonce.as_deref(),
        Some(code),
        refresh,
        req.jkt,
        now,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::clients::AuthMethod;
    use kenpo_shared::clock::REPLICA_SKEW_SECS;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    // RFC 7636 appendix B.
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client(id: &str) -> Client {
        crate::oidc::test_support::client(id, AuthMethod::ClientSecretBasic)
    }

    fn record(challenge: Option<&str>) -> CodeRecord {
        CodeRecord {
            client_id: "rp".into(),
            redirect_uri: "https://rp.example/cb".into(),
            member_id: "m1".into(),
            sid: "sid".into(),
            scopes: vec!["openid".into()],
            nonce: None,
            code_challenge: challenge.map(String::from),
            auth_time: 100,
            amr: vec!["pwd".into()],
            acr: "urn:kenpo:loa:1".into(),
            claims: None,
            expires_at: 160,
            grant_id: "g1".into(),
            dpop_jkt: None,
        }
    }

    const CB: Option<&str> = Some("https://rp.example/cb");

    #[test]
    fn a_matching_exchange_passes() {
        // At 190: exchanged at a replica whose clock is 30 s ahead of the issuer's (the store's
        // TTL, not this check, ends the code on time).
        for now in [159, 190] {
            let record = record(Some(CHALLENGE));
            let checked = check_code(&record, &client("rp"), CB, Some(VERIFIER), now);
            assert_eq!(checked, Ok(()), "at {now}");
        }
        let mut legacy = client("rp");
        legacy.pkce_optional = true;
        assert_eq!(check_code(&record(None), &legacy, CB, None, 120), Ok(()));
    }

    #[test]
    fn every_refusal() {
        let r = record(Some(CHALLENGE));
        let rp = client("rp");
        let cases: [(CodeRefusal, Result<(), CodeRefusal>); 9] = [
            (
                CodeRefusal::OtherClient,
                check_code(&r, &client("other"), CB, Some(VERIFIER), 120),
            ),
            (
                CodeRefusal::RedirectUri,
                check_code(&r, &rp, Some("https://rp.example/cb/"), Some(VERIFIER), 120),
            ),
            (
                CodeRefusal::RedirectUri,
                check_code(&r, &rp, None, Some(VERIFIER), 120),
            ),
            (
                CodeRefusal::Expired,
                check_code(&r, &rp, CB, Some(VERIFIER), 160 + REPLICA_SKEW_SECS),
            ),
            (
                CodeRefusal::VerifierMissing,
                check_code(&r, &rp, CB, None, 120),
            ),
            (
                CodeRefusal::VerifierMismatch,
                check_code(&r, &rp, CB, Some(&"W".repeat(43)), 120),
            ),
            (
                // The right digest of a verifier outside RFC 7636's alphabet is still refused.
                CodeRefusal::VerifierMismatch,
                check_code(
                    &record(Some(&b64url(&Sha256::digest(b"short")))),
                    &rp,
                    CB,
                    Some("short"),
                    120,
                ),
            ),
            (
                CodeRefusal::UnexpectedVerifier,
                check_code(&record(None), &rp, CB, Some(VERIFIER), 120),
            ),
            (
                CodeRefusal::ChallengeMissing,
                check_code(&record(None), &rp, CB, None, 120),
            ),
        ];
        for (want, got) in cases {
            assert_eq!(got, Err(want));
        }
        // The client is checked before anything else: another client learns nothing more.
        assert_eq!(
            check_code(&record(None), &client("other"), None, None, 999),
            Err(CodeRefusal::OtherClient)
        );
    }
}
