//! Second factors: passkeys (WebAuthn), authenticator apps (TOTP) and email one-time
//! passwords. Ceremonies and checks only; no HTTP types (the pages are in `signin` and
//! `account`).

pub mod email_otp;
pub mod factors;
pub mod passkey;
pub mod totp;

pub use factors::{Factor, Factors, factor_name};

use crate::store::credentials::CredentialStore;
use crate::store::members::{Member, MemberStore};
use crate::store::{Db, StoreResult};

/// Staff reset of a member's factors: all removed, the member chooses and enrols again at the
/// next sign-in (the step sequence sees no factor and no choice).
pub async fn reset(db: &Db, member: &Member, now: i64) -> StoreResult<()> {
    CredentialStore::new(db.clone())
        .delete_all(&member.id)
        .await?;
    MemberStore::new(db.clone())
        .clear_factors(&member.id, now)
        .await
}
