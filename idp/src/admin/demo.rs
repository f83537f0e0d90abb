//! Demo data for the embedded mode: members to try both journeys with, printed at start.
//!
//! - `demo` has finished onboarding: password `Kenpo-Demo-2025!` and one-time codes by email
//!   (the mail lands in the outbox folder, and its path in the log).
//! - `first` is freshly imported: the initial password from the union's guide,
//!   `12345678919801201` (記号 12, 番号 3456789, born 1980-12-01), walks the first login.

use crate::state::AppState;
use crate::store::members::ImportedMember;
use kenpo_shared::Secret;
use kenpo_shared::ids::{MemberNumber, MemberSymbol, UserId};
use time::macros::date;

pub const DEMO_USER: &str = "demo";
pub const DEMO_PASSWORD: &str = "Kenpo-Demo-2025!";
pub const FIRST_USER: &str = "first";
pub const FIRST_PASSWORD: &str = "12345678919801201";
pub const DEMO_ADMIN: &str = "admin@example.jp";

/// The demo administrator's links, printed at start (demo only).
pub struct DemoStaff {
    pub email: String,
    /// Registers a passkey (also mailed to the outbox).
    pub invitation: Option<kenpo_shared::Secret<String>>,
    /// Signs in once without a passkey.
    pub signin: kenpo_shared::Secret<String>,
}

/// Creates the demo administrator (first start) and makes a fresh one-time sign-in link, so a
/// new user reaches `/staff` without a shell. Only ever called in demo mode.
pub async fn seed_staff(state: &AppState) -> anyhow::Result<DemoStaff> {
    use crate::staff::{Role, accounts};
    use crate::store::staff::StaffStore;
    let now = state.now();
    let store = StaffStore::new(state.db.clone());
    let by = crate::store::audit::StaffRef {
        staff_id: None,
        reason: "demo".into(),
    };
    let (row, invitation) = match store.by_email(DEMO_ADMIN).await? {
        Some(row) if !store.passkeys(&row.id).await?.is_empty() => (row, None),
        Some(row) => {
            let link = accounts::send_invitation(state, &row, now).await?;
            (row, Some(link))
        }
        None => {
            let (row, link) = accounts::invite(
                state,
                DEMO_ADMIN,
                "デモ管理者",
                Role::Administrator,
                &by,
                now,
            )
            .await?;
            (row, Some(link))
        }
    };
    let signin = accounts::demo_signin_link(state, &row, now).await?;
    Ok(DemoStaff {
        email: row.email,
        invitation,
        signin,
    })
}

fn id<T>(r: Result<T, kenpo_shared::ids::IdError>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("demo data: {e}"))
}

/// Creates the demo members if they do not exist yet (idempotent).
pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    let now = state.now();
    let members = state.members();
    let demo_id = id(UserId::parse(DEMO_USER))?;
    if members.by_user_id(&demo_id).await?.is_none() {
        let rows = vec![
            ImportedMember {
                user_id: demo_id.clone(),
                symbol: id(MemberSymbol::parse("34"))?,
                number: id(MemberNumber::parse("1234567"))?,
                birthdate: date!(1975 - 04 - 15),
                name: "健保 花子".into(),
                name_kana: "ケンポ ハナコ".into(),
                email: Some("demo@example.jp".into()),
            },
            ImportedMember {
                user_id: id(UserId::parse(FIRST_USER))?,
                symbol: id(MemberSymbol::parse("12"))?,
                number: id(MemberNumber::parse("3456789"))?,
                birthdate: date!(1980 - 12 - 01),
                name: "山田 太郎".into(),
                name_kana: "ヤマダ タロウ".into(),
                email: Some("first@example.jp".into()),
            },
        ];
        members
            .import(rows, now)
            .await?
            .map_err(|c| anyhow::anyhow!("demo data conflicts: {c:?}"))?;
        let demo = members
            .by_user_id(&demo_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("demo member missing after import"))?;
        let hash = state
            .hasher
            .hash(&Secret::new(DEMO_PASSWORD.to_string()))
            .await?;
        members.set_password(&demo.id, hash, now).await?;
        members.confirm_birthdate(&demo.id, now).await?;
        members
            .accept_terms(&demo.id, &state.config.union.terms_version, now)
            .await?;
        members
            .set_email(&demo.id, "demo@example.jp", true, now)
            .await?;
        members.set_email_otp(&demo.id, true, now).await?;
        members.set_preferred_factor(&demo.id, "email", now).await?;
        members.mark_onboarded(&demo.id, now).await?;
        tracing::info!("demo members created");
    }
    Ok(())
}
