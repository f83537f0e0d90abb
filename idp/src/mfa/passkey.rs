//! Passkeys (WebAuthn, webauthn-rs): enrolment, second-factor sign-in after the password, and
//! passwordless sign-in (a button on the login page, or the browser's autofill through
//! conditional mediation).
//!
//! Policy: discoverable credentials (`residentKey: required`), user verification required, any
//! authenticator attachment (never `platform`), so a PC without a fingerprint reader can use a
//! phone through the cross-device QR code / Bluetooth (hybrid) path. Because user verification
//! is required at every assertion, a passkey alone satisfies both factors.
//!
//! States: a ceremony is started (`start_*`), its server state is kept in the short-lived
//! store under a random ceremony id for `mfa.ceremony_ttl_secs`, and finished (`finish_*`) by
//! *taking* that state (atomic read-and-delete). Enrolment and second-factor ceremonies are
//! bound to the member and the IdP session that started them; passwordless ones to nobody
//! (the credential names its member through the user handle).
//!
//! Threats:
//! - replay of a ceremony response: webauthn-rs would accept the same state twice; the state is
//!   taken as it is read, so a second finish finds nothing (on any replica);
//! - a response finished in another session (stolen ceremony id): refused, the state names the
//!   session it belongs to;
//! - a cloned authenticator: a signature counter that does not move forward is refused, both
//!   against the ceremony's snapshot (webauthn-rs) and against the stored counter (one
//!   conditional UPDATE), and logged with an audit event;
//! - a credential registered to two members: credential ids are unique in the database;
//! - a passkey of a deleted credential or of another member presented in a passwordless
//!   sign-in: the credential must exist and its member must own the user handle it returns;
//! - flooding the store with ceremonies: the options endpoints are rate limited per address.

use crate::security::tokens::{b64url, new_id};
use crate::state::AppState;
use crate::store::audit::OrLog;
use crate::store::credentials::{CredentialStore, PasskeyRow, PasskeyUse};
use crate::store::ephemeral::{EphemeralError, secs};
use crate::store::members::Member;
use crate::store::{StoreError, audit::Actor};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, WebauthnError,
};

/// Longest device name a member may give a passkey (characters).
pub const LABEL_MAX: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// No ceremony under this id for this member and session: expired, already finished
    /// (a replay), or never started here.
    #[error("ceremony expired, replayed or unknown")]
    Expired,
    /// The authenticator's answer does not verify (user verification missing, wrong origin or
    /// challenge, bad signature, …).
    #[error("response refused: {0}")]
    Refused(String),
    /// The credential is not (or no longer) registered here.
    #[error("unknown credential")]
    UnknownCredential,
    /// The credential is already registered (to this or another member).
    #[error("credential already registered")]
    Duplicate,
    /// The signature counter went backwards: a cloned authenticator is possible.
    #[error("signature counter did not advance")]
    CounterRegression,
    /// The member has no passkey to ask for.
    #[error("no passkey enrolled")]
    NoPasskey,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ephemeral(#[from] EphemeralError),
    #[error("state could not be encoded: {0}")]
    Encode(String),
}

pub type PasskeyResult<T> = Result<T, PasskeyError>;

/// Which ceremony a stored state belongs to; part of the key, so states never cross over.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Register,
    SecondFactor,
    Passwordless,
    /// Staff console (issue 11): registration from an invitation link, and sign-in.
    StaffRegister,
    StaffLogin,
}

impl Kind {
    fn key(self, ceremony: &str) -> String {
        let k = match self {
            Kind::Register => "wa:reg",
            Kind::SecondFactor => "wa:auth",
            Kind::Passwordless => "wa:disc",
            Kind::StaffRegister => "wa:staffreg",
            Kind::StaffLogin => "wa:stafflogin",
        };
        format!("{k}:{ceremony}")
    }
}

/// Who a ceremony belongs to: the member and the IdP session (`sid`) that started it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Owner {
    pub member_id: String,
    pub sid: String,
}

#[derive(Serialize, Deserialize)]
struct Stored<S> {
    owner: Option<Owner>,
    expires_at: i64,
    state: S,
}

pub(crate) async fn put_state<S: Serialize>(
    state: &AppState,
    kind: Kind,
    owner: Option<Owner>,
    value: S,
    now: i64,
) -> PasskeyResult<String> {
    let ceremony = new_id();
    let ttl = state.config.mfa.ceremony_ttl_secs;
    state
        .eph
        .put_json(
            &kind.key(&ceremony),
            &Stored {
                owner,
                expires_at: now + ttl,
                state: value,
            },
            secs(ttl),
        )
        .await?;
    Ok(ceremony)
}

/// Takes a ceremony's state: once only, before it expires, by its owner.
pub(crate) async fn take_state<S: DeserializeOwned>(
    state: &AppState,
    kind: Kind,
    ceremony: &str,
    owner: Option<&Owner>,
    now: i64,
) -> PasskeyResult<S> {
    if ceremony.is_empty() || ceremony.len() > 64 {
        return Err(PasskeyError::Expired);
    }
    let stored: Option<Stored<S>> = state.eph.take_json(&kind.key(ceremony)).await?;
    match stored {
        Some(s) if s.expires_at > now && s.owner.as_ref() == owner => Ok(s.state),
        _ => Err(PasskeyError::Expired),
    }
}

/// A passkey's credential id as stored (base64url).
pub fn credential_id(passkey: &Passkey) -> String {
    b64url(passkey.cred_id())
}

fn parse_row(row: &PasskeyRow) -> PasskeyResult<Passkey> {
    serde_json::from_str(&row.passkey)
        .map_err(|e| PasskeyError::Store(StoreError::corrupt(format!("passkey {}: {e}", row.id))))
}

/// The backup flags a passkey was registered with (not exposed by webauthn-rs but part of its
/// serialised form).
fn backup_flags(passkey: &Passkey) -> (bool, bool) {
    let v = serde_json::to_value(passkey).unwrap_or_default();
    let flag = |k: &str| v["cred"][k].as_bool().unwrap_or(false);
    (flag("backup_eligible"), flag("backup_state"))
}

/// A device name as the member typed it: trimmed, control characters removed, at most
/// `LABEL_MAX` characters; None when nothing is left.
pub fn clean_label(input: &str) -> Option<String> {
    let s: String = kenpo_shared::ids::normalize(input)
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let s = s.trim();
    (!s.is_empty()).then(|| s.chars().take(LABEL_MAX).collect())
}

pub(crate) fn refused(e: WebauthnError) -> PasskeyError {
    match e {
        WebauthnError::CredentialPossibleCompromise => PasskeyError::CounterRegression,
        other => PasskeyError::Refused(format!("{other:?}")),
    }
}

/// The creation options as sent to the browser, asking for a discoverable credential (so the
/// passkey signs in without a user ID) with user verification, and never restricting the
/// attachment (so the browser offers "use a phone or tablet", the hybrid path, as well as this
/// device). webauthn-rs asks for `residentKey: "discouraged"` by default.
pub fn discoverable(ccr: &CreationChallengeResponse) -> PasskeyResult<serde_json::Value> {
    let mut v = serde_json::to_value(ccr).map_err(|e| PasskeyError::Encode(e.to_string()))?;
    let sel = &mut v["publicKey"]["authenticatorSelection"];
    if !sel.is_object() {
        *sel = json!({});
    }
    if let Some(sel) = sel.as_object_mut() {
        sel.insert("residentKey".into(), json!("required"));
        sel.insert("requireResidentKey".into(), json!(true));
        sel.insert("userVerification".into(), json!("required"));
        sel.remove("authenticatorAttachment");
    }
    Ok(v)
}

/// The account a passkey is registered for, as WebAuthn names it (a member, or staff in
/// `staff::passkey`).
pub(crate) struct Registrant<'a> {
    pub handle: uuid::Uuid,
    pub name: &'a str,
    pub display_name: &'a str,
    /// The account's passkeys so far: the authenticator is asked not to make a second one.
    pub existing: Vec<Passkey>,
}

/// Starts a registration ceremony bound to `owner`; the browser's options, in the
/// discoverable form of [`discoverable`].
pub(crate) async fn start_registration_ceremony(
    state: &AppState,
    kind: Kind,
    owner: Owner,
    who: Registrant<'_>,
    now: i64,
) -> PasskeyResult<(String, serde_json::Value)> {
    let exclude: Vec<_> = who.existing.iter().map(|p| p.cred_id().clone()).collect();
    let (ccr, reg) = state
        .webauthn
        .start_passkey_registration(
            who.handle,
            who.name,
            who.display_name,
            (!exclude.is_empty()).then_some(exclude),
        )
        .map_err(refused)?;
    let ceremony = put_state::<PasskeyRegistration>(state, kind, Some(owner), reg, now).await?;
    Ok((ceremony, discoverable(&ccr)?))
}

/// Takes the state of a ceremony of [`start_registration_ceremony`] and verifies the
/// authenticator's answer: the new passkey, not stored yet.
pub(crate) async fn finish_registration_ceremony(
    state: &AppState,
    kind: Kind,
    owner: &Owner,
    ceremony: &str,
    credential: &RegisterPublicKeyCredential,
    now: i64,
) -> PasskeyResult<Passkey> {
    let reg: PasskeyRegistration = take_state(state, kind, ceremony, Some(owner), now).await?;
    state
        .webauthn
        .finish_passkey_registration(credential, &reg)
        .map_err(refused)
}

/// Starts enrolling a passkey for a signed-in member.
pub async fn start_registration(
    state: &AppState,
    member: &Member,
    owner: Owner,
    now: i64,
) -> PasskeyResult<(String, serde_json::Value)> {
    let store = CredentialStore::new(state.db.clone());
    let handle = store.user_handle(&member.id, now).await?;
    let existing = store
        .passkeys(&member.id)
        .await?
        .iter()
        .map(parse_row)
        .collect::<PasskeyResult<Vec<_>>>()?;
    let who = Registrant {
        handle,
        name: &member.user_id,
        display_name: &member.name,
        existing,
    };
    start_registration_ceremony(state, Kind::Register, owner, who, now).await
}

/// Finishes an enrolment: verifies the authenticator's answer and stores the passkey.
pub async fn finish_registration(
    state: &AppState,
    owner: Owner,
    ceremony: &str,
    credential: &RegisterPublicKeyCredential,
    label: &str,
    now: i64,
) -> PasskeyResult<PasskeyRow> {
    let passkey =
        finish_registration_ceremony(state, Kind::Register, &owner, ceremony, credential, now)
            .await?;
    let store = CredentialStore::new(state.db.clone());
    let cred_id = credential_id(&passkey);
    if store.passkey_by_credential(&cred_id).await?.is_some() {
        return Err(PasskeyError::Duplicate);
    }
    let (backup_eligible, backup_state) = backup_flags(&passkey);
    let row = PasskeyRow {
        id: new_id(),
        member_id: owner.member_id.clone(),
        credential_id: cred_id,
        label: label.to_string(),
        passkey: serde_json::to_string(&passkey)
            .map_err(|e| PasskeyError::Encode(e.to_string()))?,
        backup_eligible,
        backup_state,
        sign_count: 0,
        created_at: now,
        last_used_at: None,
    };
    match store.add_passkey(row.clone()).await {
        Ok(()) => Ok(row),
        // Lost a race with the same credential (unique index): it is registered once.
        Err(_)
            if store
                .passkey_by_credential(&row.credential_id)
                .await?
                .is_some() =>
        {
            Err(PasskeyError::Duplicate)
        }
        Err(e) => Err(e.into()),
    }
}

/// Starts a second-factor assertion with the member's passkeys.
pub async fn start_second_factor(
    state: &AppState,
    member: &Member,
    owner: Owner,
    now: i64,
) -> PasskeyResult<(String, RequestChallengeResponse)> {
    let rows = CredentialStore::new(state.db.clone())
        .passkeys(&member.id)
        .await?;
    if rows.is_empty() {
        return Err(PasskeyError::NoPasskey);
    }
    let passkeys = rows
        .iter()
        .map(parse_row)
        .collect::<PasskeyResult<Vec<_>>>()?;
    let (rcr, auth) = state
        .webauthn
        .start_passkey_authentication(&passkeys)
        .map_err(refused)?;
    let ceremony =
        put_state::<PasskeyAuthentication>(state, Kind::SecondFactor, Some(owner), auth, now)
            .await?;
    Ok((ceremony, rcr))
}

/// Finishes a second-factor assertion; returns the passkey used (its state updated).
pub async fn finish_second_factor(
    state: &AppState,
    owner: Owner,
    ceremony: &str,
    credential: &PublicKeyCredential,
    ip: &str,
    now: i64,
) -> PasskeyResult<PasskeyRow> {
    let auth: PasskeyAuthentication =
        take_state(state, Kind::SecondFactor, ceremony, Some(&owner), now).await?;
    let store = CredentialStore::new(state.db.clone());
    let row = store
        .passkey_by_credential(&b64url(credential.get_credential_id()))
        .await?
        .filter(|r| r.member_id == owner.member_id)
        .ok_or(PasskeyError::UnknownCredential)?;
    let result = state
        .webauthn
        .finish_passkey_authentication(credential, &auth);
    record(state, row, result, ip, now).await
}

/// Starts a ceremony for a discoverable credential, bound to nobody (no account is named yet):
/// a member's passwordless sign-in, or a staff sign-in (`staff::passkey`).
pub(crate) async fn start_discoverable(
    state: &AppState,
    kind: Kind,
    now: i64,
) -> PasskeyResult<(String, RequestChallengeResponse)> {
    let (rcr, auth) = state
        .webauthn
        .start_discoverable_authentication()
        .map_err(refused)?;
    let ceremony = put_state::<DiscoverableAuthentication>(state, kind, None, auth, now).await?;
    Ok((ceremony, rcr))
}

/// Takes the state of a ceremony of [`start_discoverable`] and reads whom the answer claims
/// to be: its user handle and its credential id (base64url). Neither is verified yet: the
/// caller finds the credential, checks it belongs to the handle, and then finishes.
pub(crate) async fn identify_discoverable(
    state: &AppState,
    kind: Kind,
    ceremony: &str,
    credential: &PublicKeyCredential,
    now: i64,
) -> PasskeyResult<(DiscoverableAuthentication, uuid::Uuid, String)> {
    let auth: DiscoverableAuthentication = take_state(state, kind, ceremony, None, now).await?;
    let (handle, cred_id) = state
        .webauthn
        .identify_discoverable_authentication(credential)
        .map_err(refused)?;
    Ok((auth, handle, b64url(cred_id)))
}

/// Starts a passwordless sign-in (button or autofill): no member is known yet.
pub async fn start_passwordless(
    state: &AppState,
    now: i64,
) -> PasskeyResult<(String, RequestChallengeResponse)> {
    start_discoverable(state, Kind::Passwordless, now).await
}

/// Finishes a passwordless sign-in; returns the member's id and the passkey used.
pub async fn finish_passwordless(
    state: &AppState,
    ceremony: &str,
    credential: &PublicKeyCredential,
    ip: &str,
    now: i64,
) -> PasskeyResult<PasskeyRow> {
    let (auth, handle, cred_id) =
        identify_discoverable(state, Kind::Passwordless, ceremony, credential, now).await?;
    let store = CredentialStore::new(state.db.clone());
    let row = store
        .passkey_by_credential(&cred_id)
        .await?
        .ok_or(PasskeyError::UnknownCredential)?;
    if store.member_of_handle(&handle).await?.as_deref() != Some(row.member_id.as_str()) {
        return Err(PasskeyError::UnknownCredential);
    }
    let passkey = parse_row(&row)?;
    let result = state
        .webauthn
        .finish_discoverable_authentication_v2(credential, auth, &passkey);
    record(state, row, result, ip, now).await
}

/// Applies a verified assertion to the stored passkey (counter, backup flags, last use);
/// refuses and logs a counter that did not move forward.
async fn record(
    state: &AppState,
    mut row: PasskeyRow,
    result: Result<webauthn_rs::prelude::AuthenticationResult, WebauthnError>,
    ip: &str,
    now: i64,
) -> PasskeyResult<PasskeyRow> {
    let result = match result.map_err(refused) {
        Ok(r) => r,
        Err(PasskeyError::CounterRegression) => {
            return Err(regression(state, &row, None, ip, now).await);
        }
        Err(e) => return Err(e),
    };
    if !result.user_verified() {
        // webauthn-rs requires it already; kept so a library change cannot weaken the policy.
        return Err(PasskeyError::Refused("user not verified".into()));
    }
    let mut passkey = parse_row(&row)?;
    passkey.update_credential(&result);
    let counter = i64::from(result.counter());
    let update = PasskeyUse {
        passkey_json: serde_json::to_string(&passkey)
            .map_err(|e| PasskeyError::Encode(e.to_string()))?,
        sign_count: counter,
        backup_state: result.backup_state(),
        backup_eligible: result.backup_eligible(),
        now,
    };
    let store = CredentialStore::new(state.db.clone());
    if !store.record_assertion(&row.id, update.clone()).await? {
        return Err(regression(state, &row, Some(counter), ip, now).await);
    }
    row.passkey = update.passkey_json;
    row.sign_count = counter;
    row.backup_state = update.backup_state;
    row.backup_eligible = update.backup_eligible;
    row.last_used_at = Some(now);
    Ok(row)
}

async fn regression(
    state: &AppState,
    row: &PasskeyRow,
    counter: Option<i64>,
    ip: &str,
    now: i64,
) -> PasskeyError {
    tracing::warn!(
        member_id = %row.member_id,
        passkey = %row.id,
        stored = row.sign_count,
        presented = ?counter,
        "passkey signature counter did not advance: refused (possible cloned authenticator)"
    );
    state
        .audit()
        .record(
            Some(&row.member_id),
            Actor::System,
            "passkey.counter_regression",
            json!({"passkey": row.id, "label": row.label, "stored": row.sign_count, "presented": counter}),
            Some(ip),
            now,
        )
        .await
        .or_log("passkey.counter_regression");
    PasskeyError::CounterRegression
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod properties;
