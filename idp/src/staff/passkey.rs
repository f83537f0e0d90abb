//! Staff passkeys: the only way staff sign in. The same policy and ceremony-state handling as
//! members' passkeys (`mfa::passkey`: discoverable credentials, user verification required,
//! any attachment so the phone/QR hybrid path works on office PCs, states taken once), but
//! stored in `staff_passkeys` under the account's own user handle, so a member's passkey never
//! signs anyone in here and a staff passkey never signs in a member.
//!
//! Attestation is not asked for (`none`): the union lets staff use whatever authenticator the
//! office or their phone has, and what protects the console is user verification on every
//! sign-in plus the one-time invitation link that binds the passkey to the account.
//!
//! Registration is bound to the invitation link's hash (a ceremony started from one link cannot
//! be finished with another); sign-in ceremonies are bound to nobody (the credential's user
//! handle names the account, which must own the credential).

use crate::mfa::passkey::{
    Kind, Owner, PasskeyError, PasskeyResult, Registrant, finish_registration_ceremony,
    identify_discoverable, refused, start_discoverable, start_registration_ceremony,
};
use crate::security::tokens::{b64url, new_id};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::staff::{StaffPasskeyRow, StaffRow, StaffStore};
use webauthn_rs::prelude::{
    Passkey, PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse,
};

fn owner(staff_id: &str, link_hash: &str) -> Owner {
    Owner {
        member_id: format!("staff:{staff_id}"),
        sid: link_hash.to_string(),
    }
}

fn parse(row: &StaffPasskeyRow) -> PasskeyResult<Passkey> {
    serde_json::from_str(&row.passkey).map_err(|e| {
        PasskeyError::Store(StoreError::corrupt(format!(
            "staff passkey {}: {e}",
            row.id
        )))
    })
}

fn handle(staff: &StaffRow) -> PasskeyResult<uuid::Uuid> {
    uuid::Uuid::parse_str(&staff.webauthn_handle)
        .map_err(|e| PasskeyError::Store(StoreError::corrupt(format!("staff handle: {e}"))))
}

/// Starts registering a passkey for the account of an invitation link.
pub async fn start_registration(
    state: &AppState,
    staff: &StaffRow,
    link_hash: &str,
    now: i64,
) -> PasskeyResult<(String, serde_json::Value)> {
    let mut existing = Vec::new();
    for row in StaffStore::new(state.db.clone())
        .passkeys(&staff.id)
        .await?
    {
        existing.push(parse(&row)?);
    }
    let who = Registrant {
        handle: handle(staff)?,
        name: &staff.email,
        display_name: &staff.name,
        existing,
    };
    let owner = owner(&staff.id, link_hash);
    start_registration_ceremony(state, Kind::StaffRegister, owner, who, now).await
}

/// Finishes a registration and stores the passkey.
pub async fn finish_registration(
    state: &AppState,
    staff: &StaffRow,
    link_hash: &str,
    ceremony: &str,
    credential: &RegisterPublicKeyCredential,
    label: &str,
    now: i64,
) -> PasskeyResult<()> {
    let owner = owner(&staff.id, link_hash);
    let passkey = finish_registration_ceremony(
        state,
        Kind::StaffRegister,
        &owner,
        ceremony,
        credential,
        now,
    )
    .await?;
    let store = StaffStore::new(state.db.clone());
    let credential_id = b64url(passkey.cred_id());
    if store.passkey_by_credential(&credential_id).await?.is_some() {
        return Err(PasskeyError::Duplicate);
    }
    let row = StaffPasskeyRow {
        id: new_id(),
        staff_id: staff.id.clone(),
        credential_id,
        label: label.to_string(),
        passkey: serde_json::to_string(&passkey)
            .map_err(|e| PasskeyError::Encode(e.to_string()))?,
        sign_count: 0,
        created_at: now,
        last_used_at: None,
    };
    store
        .add_passkey(row)
        .await
        .map_err(|_| PasskeyError::Duplicate)
}

/// Starts a staff sign-in (no account named yet).
pub async fn start_login(
    state: &AppState,
    now: i64,
) -> PasskeyResult<(String, RequestChallengeResponse)> {
    start_discoverable(state, Kind::StaffLogin, now).await
}

/// Finishes a staff sign-in; returns the account (enabled or not: the caller decides).
pub async fn finish_login(
    state: &AppState,
    ceremony: &str,
    credential: &PublicKeyCredential,
    now: i64,
) -> PasskeyResult<StaffRow> {
    let (auth, user_handle, cred_id) =
        identify_discoverable(state, Kind::StaffLogin, ceremony, credential, now).await?;
    let store = StaffStore::new(state.db.clone());
    let row = store
        .passkey_by_credential(&cred_id)
        .await?
        .ok_or(PasskeyError::UnknownCredential)?;
    let staff = store
        .by_handle(&user_handle.to_string())
        .await?
        .filter(|s| s.id == row.staff_id)
        .ok_or(PasskeyError::UnknownCredential)?;
    let mut passkey = parse(&row)?;
    let result = state
        .webauthn
        .finish_discoverable_authentication_v2(credential, auth, &passkey)
        .map_err(refused)?;
    if !result.user_verified() {
        return Err(PasskeyError::Refused("user not verified".into()));
    }
    passkey.update_credential(&result);
    let json = serde_json::to_string(&passkey).map_err(|e| PasskeyError::Encode(e.to_string()))?;
    if !store
        .record_assertion(&row.id, json, i64::from(result.counter()), now)
        .await?
        && result.counter() != 0
    {
        tracing::warn!(staff = %crate::mail::masked(&staff.email), "staff passkey counter did not advance: refused");
        return Err(PasskeyError::CounterRegression);
    }
    Ok(staff)
}
