//! The command line's staff parts: `idp staff add|list` (the first administrator) and the
//! helpers through which member commands call the console's services (`staff::actions`).

use super::{fmt_time, user};
use crate::config::Config;
use crate::staff::actions::Action;
use crate::startup;
use crate::store::audit::StaffRef;
use anyhow::Context;
use clap::Subcommand;
use kenpo_shared::Clock;

#[derive(Subcommand, Debug)]
pub enum StaffCmd {
    /// Create a staff account (the first administrator) and mail its invitation link, which
    /// is printed too.
    Add {
        email: String,
        /// viewer, operator or administrator.
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    List,
}

/// The full state, for commands that share the console's services (mail included).
pub(super) async fn cli_state(config: &Config) -> anyhow::Result<crate::state::AppState> {
    startup::build_state(config.clone(), Clock::System).await
}

pub(super) async fn find(
    state: &crate::state::AppState,
    user_id: &str,
) -> anyhow::Result<crate::store::members::Member> {
    state
        .members()
        .by_user_id(&user(user_id)?)
        .await?
        .context("no such member")
}

/// A member action on behalf of the operator at the command line (no staff account).
pub(super) async fn member_action(
    state: &crate::state::AppState,
    m: &crate::store::members::Member,
    action: Action,
    reason: &str,
    now: i64,
) -> anyhow::Result<crate::staff::actions::Done> {
    let by = StaffRef {
        staff_id: None,
        reason: reason.to_string(),
    };
    crate::staff::actions::apply(state, m, &action, &by, None, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

pub(super) async fn run(config: Config, cmd: StaffCmd, now: i64) -> anyhow::Result<()> {
    let state = cli_state(&config).await?;
    match cmd {
        StaffCmd::Add { email, role, name } => {
            let role = crate::staff::Role::parse(&role).with_context(|| {
                format!("unknown role `{role}` (viewer, operator, administrator)")
            })?;
            let by = StaffRef {
                staff_id: None,
                reason: "command line: idp staff add".into(),
            };
            let (row, link) = crate::staff::accounts::invite(&state, &email, &name, role, &by, now)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "staff account {} ({}) created; invitation mailed",
                row.email,
                role.as_str()
            );
            println!(
                "invitation link (works once, for {} hours): {}",
                config.staff.invitation_hours,
                link.expose()
            );
        }
        StaffCmd::List => {
            for a in crate::store::staff::StaffStore::new(state.db.clone())
                .list()
                .await?
            {
                println!(
                    "{:<32} {:<14} {:<20} {}",
                    a.email,
                    a.role,
                    a.last_login_at
                        .map(fmt_time)
                        .unwrap_or_else(|| "never".into()),
                    if a.disabled_at.is_some() {
                        "disabled"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    Ok(())
}
