//! Demo data for the embedded mode: members to try both journeys with, printed at start.
//!
//! - `demo` has finished onboarding: password `Kenpo-Demo-2025!` and one-time codes by email
//!   (the mail lands in the outbox folder, and its path in the log).
//! - `first` is freshly imported: the initial password from the union's guide,
//!   `12345678919801201` (記号 12, 番号 3456789, born 1980-12-01), walks the first login.

use crate::members_csv;
use crate::state::AppState;
use kenpo_shared::Secret;
use kenpo_shared::ids::UserId;

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
        // Through the import's own parser and checks, as a union's file would go.
        let file = format!(
            "{}\n\
             {DEMO_USER},34,1234567,1975-04-15,健保 花子,ケンポ ハナコ,demo@example.jp\n\
             {FIRST_USER},12,3456789,1980-12-01,山田 太郎,ヤマダ タロウ,first@example.jp\n",
            members_csv::COLUMNS.join(",")
        );
        let rows = members_csv::parse(file.as_bytes(), members_csv::today_jst(now))
            .map_err(|e| anyhow::anyhow!("demo data: {e:?}"))?
            .into_iter()
            .map(|r| r.member)
            .collect();
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
