//! Signing in: the login page, the step sequence after the password, the second-factor pages,
//! consent, and the guard ([`visit`]) and decision ([`advance`]) every step page goes
//! through.

pub mod advance;
pub mod consent;
pub mod done;
pub mod login;
pub mod mfa_email;
pub mod mfa_passkey;
pub mod mfa_totp;
pub mod passkey_login;
pub mod second_factor;
pub mod session;
pub mod start;
pub mod steps;
pub mod visit;

use steps::Step;

/// Key marking a verification mail as sent and not yet opened (see onboarding).
pub fn email_pending_key(member_id: &str) -> String {
    format!("emailverify:pending:{member_id}")
}

/// Key of an authorization request in progress (a "flow") in the short-lived store.
pub fn flow_key(id: &str) -> String {
    format!("flow:{id}")
}

/// The lifetime of a flow nobody has signed in to yet: `session.unposted_flow_ttl_secs`
/// (10 minutes), never more than the flow's configured lifetime.
pub fn unposted_flow_ttl(cfg: &crate::config::SessionConfig) -> i64 {
    cfg.unposted_flow_ttl_secs.min(cfg.flow_ttl_secs)
}

/// Gives a flow its configured lifetime (`session.flow_ttl_secs`) once a member has signed in
/// to it; a flow already gone (taken, expired) stays gone.
pub async fn keep_flow(
    state: &crate::state::AppState,
    flow: Option<&str>,
) -> Result<(), crate::store::ephemeral::EphemeralError> {
    if let Some(id) = flow {
        let ttl = crate::store::ephemeral::secs(state.config.session.flow_ttl_secs);
        state.eph.expire(&flow_key(id), ttl).await?;
    }
    Ok(())
}

/// The URL of a step, carrying the flow.
pub fn step_url(step: Step, flow: Option<&str>) -> String {
    match flow {
        Some(f) => format!("{}?flow={f}", step.path()),
        None => step.path().to_string(),
    }
}
