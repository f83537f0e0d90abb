//! Signing members in through the IdP and keeping them signed in: the OIDC client (`flow`:
//! authorization code + PKCE + state + nonce, RFC 9207 `iss`, pushed requests and DPoP-bound
//! tokens via `dpop`), the portal's own session
//! (`session`), its revalidation by refresh token (`revalidate`), and both kinds of logout
//! (`logout`: RP-initiated and back-channel).

pub mod cookies;
pub mod dpop;
pub mod flow;
pub mod login;
pub mod logout;
pub mod provider;
pub mod revalidate;
pub mod session;
pub mod tokens;

use crate::error::PageError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use kenpo_shared::ids::MemberKey;
use session::PortalSession;

/// A signed-in member: the household comes from their verified ID token, never the request.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub key: MemberKey,
    pub session: PortalSession,
    /// The session's store id.
    pub id: String,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let lang = kenpo_shared::web::negotiate_lang(parts);
        let return_to = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |u| u.0.clone())
            .path_and_query()
            .map_or_else(|| "/".into(), std::string::ToString::to_string);
        let Some(token) = state.cookies.get(parts, cookies::SESSION) else {
            return Err(PageError::sign_in(&return_to));
        };
        match revalidate::current(state, &token, state.now()).await {
            Ok(Some(me)) => Ok(me),
            Ok(None) => Err(PageError::sign_in(&return_to)),
            Err(e) => Err(PageError::internal(lang, e)),
        }
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, PageError> {
        signed_in(parts, state).await
    }
}

/// The optional form: pages that also work signed out (the start page).
pub async fn signed_in(parts: &Parts, state: &AppState) -> Result<Option<SignedIn>, PageError> {
    let Some(token) = state.cookies.get(parts, cookies::SESSION) else {
        return Ok(None);
    };
    revalidate::current(state, &token, state.now())
        .await
        .map_err(|e| PageError::internal(kenpo_shared::web::negotiate_lang(parts), e))
}
