//! Self-service recovery: forgot password (`forgot-password` → a one-time reset link by mail →
//! `reset-password`) and forgot user ID (`forgot-userid` → a mail listing the user IDs
//! registered to the address).
//!
//! Threats and answers:
//! - *Learning whether an account or address exists* (enumeration): the page answers the same
//!   words with the same status whether or not it does, and in the same time — the handler
//!   does only work that does not depend on the answer (parse, two throttle counters) and hands
//!   the look-up and the mail to a background task.
//! - *Mail bombing a member or an address*: at most [`PER_TARGET_PER_HOUR`] mails per user ID
//!   or address per hour; beyond that the same answer is given and nothing is sent.
//! - *Hammering the pages from one place*: `throttle.recovery_per_address_per_hour` requests
//!   per client address; beyond that the member is asked to wait (this says nothing about any
//!   account).
//! - *A stolen or old reset link*: 256 random bits, 30 minutes, single use (atomic take), and
//!   bound to the password it replaces — once the password changes, every older link is dead.
//! - *A reset used to skip the second factor*: the reset only sets the password; the next
//!   sign-in still asks for the second factor, every session of the member ends and every
//!   grant is revoked, and the member is told by mail.
//!
//! Mail goes only to a *verified* address: an address from the import that the member never
//! confirmed is not trusted with a reset link. Members without one write to the union
//! (`union.contact_email`); ID questions are not answered by phone.

pub mod password;
pub mod user_id;

use crate::error::{PageError, PageResultExt};
use crate::pages::i18n::Text;
use crate::security::throttle::{Gate, Throttle};
use crate::state::AppState;
use crate::store::ephemeral::EphResult;
use kenpo_shared::Lang;
use maud::{Markup, html};
use std::net::IpAddr;

/// Mails per user ID (reset) or per address (user IDs) per hour.
pub const PER_TARGET_PER_HOUR: i64 = 3;

/// What happens to a recovery request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Look the target up and mail it (in the background).
    Proceed,
    /// Same answer, no mail: this target had enough mail this hour.
    Quiet,
    /// Refused for this client address, for this many seconds.
    Wait(u64),
}

/// The throttles of a recovery request: per client address, then per target (`kind:key`).
pub async fn admit(state: &AppState, ip: IpAddr, target: &str, now: i64) -> EphResult<Admission> {
    let t = Throttle::new(&state.eph, &state.config.throttle);
    let per_addr = state.config.throttle.recovery_per_address_per_hour;
    if let Gate::Wait(w) = t
        .limit(&format!("recovery:addr:{ip}"), per_addr, 3600, now)
        .await?
    {
        return Ok(Admission::Wait(w));
    }
    Ok(
        match t
            .limit(
                &format!("recovery:target:{target}"),
                PER_TARGET_PER_HOUR,
                3600,
                now,
            )
            .await?
        {
            Gate::Open => Admission::Proceed,
            Gate::Wait(_) => Admission::Quiet,
        },
    )
}

/// Runs a recovery request whose input parsed: when admitted, `task` (the look-up and the
/// mail) runs in the background, so the answer — and its timing — is the same whether or not
/// the target exists. `Some(wait)` when this client address is over its limit.
pub async fn start<F>(
    state: &AppState,
    ip: IpAddr,
    target: &str,
    now: i64,
    task: F,
) -> Result<Option<u64>, PageError>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    match admit(state, ip, target, now).await.page(Lang::Ja)? {
        Admission::Proceed => {
            tokio::spawn(task);
        }
        Admission::Quiet => {
            tracing::info!("recovery request over the per-target limit; no mail");
        }
        Admission::Wait(w) => return Ok(Some(w)),
    }
    Ok(None)
}

const CONTACT: Text = Text(
    "メールアドレスを登録していない方や、メールが届かない方は、組合までメールでお問い合わせください。被保険者証などに記載の記号・番号と、お名前をお書き添えください。ユーザID・パスワードについてのお問い合わせは、個人情報保護のため、電話ではお受けしていません。",
    "If you have not registered an email address, or no mail arrives, please write to the union by email with your 記号・番号 (from your insurance documents) and your name. For the protection of personal information, questions about user IDs and passwords are not answered by phone.",
);

/// The "write to the union" paragraph, with the configured address.
pub fn contact(state: &AppState, lang: Lang) -> Markup {
    let to = &state.config.union.contact_email;
    html! {
        p.small {
            (CONTACT.get(lang)) " "
            (lang.pick("お問い合わせ先：", "Contact: "))
            a.break-all href=(format!("mailto:{to}")) { (to) }
        }
    }
}

/// A link back to the login page, keeping the relying party's flow.
pub fn login_href(flow: Option<&str>) -> String {
    match flow {
        Some(f) => format!("/login?flow={f}"),
        None => "/login".to_string(),
    }
}

/// A flow id from a form or query, if it looks like one (it is only ever put into links).
pub fn clean_flow(flow: Option<String>) -> Option<String> {
    flow.filter(|f| {
        !f.is_empty()
            && f.len() <= 64
            && f.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}
