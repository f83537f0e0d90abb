//! The member's account page (`/account`, linked from relying parties): second factors
//! (passkeys, authenticator app, email OTP, the preferred one), email address, password, and
//! the sessions signed in with this account.
//!
//! Access: a complete sign-in is required (`signin::visit::SignedIn`: a member with a pending
//! step is sent to it). Changes to factors, email or password also need a recent second
//! factor ([`require_fresh`]); otherwise the member confirms once more (step-up, see
//! `signin::second_factor`) and comes back. Removing the last working factor is refused.
//! Every change is written to the audit trail and mailed.

pub mod factors;
pub mod page;
pub mod profile;
pub mod sessions;

use crate::error::PageError;
use crate::mail::{Mail, MailKind};
use crate::signin::second_factor::step_up_url;
use crate::signin::visit::Visit;
use crate::state::AppState;
use crate::store::members::Member;
use kenpo_shared::Lang;

pub use page::Flash;

/// A second factor at most this old lets the member change sign-in settings.
pub const FRESH_SECS: i64 = 600;

/// Whether the session's second factor is recent enough for a change.
pub fn is_fresh(v: &Visit) -> bool {
    v.current
        .session
        .mfa_time
        .is_some_and(|t| v.now - t <= FRESH_SECS)
}

/// A recent second factor, or the member confirms with their preferred factor first and
/// returns to `return_to`.
pub fn require_fresh(v: &Visit, return_to: &str) -> Result<(), PageError> {
    if is_fresh(v) {
        return Ok(());
    }
    let f = v.factors.preferred(&v.member);
    Err(PageError::Redirect(step_up_url(f, return_to)))
}

/// Mails a security notice to the member's verified address (a failed send is logged; the
/// change itself stands).
pub async fn notify(
    state: &AppState,
    member: &Member,
    lang: Lang,
    what_ja: String,
    what_en: String,
) {
    if let (Some(to), true) = (member.email.clone(), member.email_verified) {
        state
            .send_notice(Mail {
                to,
                lang,
                kind: MailKind::SecurityNotice { what_ja, what_en },
            })
            .await;
    }
}
