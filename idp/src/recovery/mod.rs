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
use crate::pages::forms::{self, FieldSpec};
use crate::pages::i18n::Text;
use crate::pages::{Ctx, Frame};
use crate::security::throttle::{Gate, Throttle};
use crate::state::AppState;
use crate::store::ephemeral::EphResult;
pub use crate::texts::recovery::*;
use axum::http::StatusCode;
use axum::response::Response;
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
        .limit(
            &format!("recovery:addr:{}", crate::security::request::bucket(ip)),
            per_addr,
            3600,
            now,
        )
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

/// A recovery request page (`forgot-password`, `forgot-userid`): one field, the union's
/// contact, and links to the other recovery page and back to the login page.
pub struct RequestPage {
    pub step: &'static str,
    pub title: Text,
    pub lead: Text,
    pub action: &'static str,
    pub field: FieldSpec,
    /// The other recovery page and its link text.
    pub other: (&'static str, Text),
    pub back: Text,
    pub send: Text,
}

impl RequestPage {
    /// The page with what was typed and the error, if any.
    pub fn render(
        &self,
        state: &AppState,
        ctx: &Ctx,
        flow: Option<&str>,
        value: &str,
        error: Option<&str>,
        status: StatusCode,
    ) -> Response {
        let (other, other_text) = self.other;
        let field = self.field.field(ctx.lang, value, error);
        let body = html! {
            h1 { (ctx.t(self.title)) }
            @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
            p { (ctx.t(self.lead)) }
            form method="post" action=(self.action) novalidate {
                (forms::hidden(&ctx.csrf, flow))
                (field.render())
                button.primary type="submit" { (ctx.t(self.send)) }
            }
            (contact(state, ctx.lang))
            div.links {
                a href=(with_flow(other, flow)) { (ctx.t(other_text)) }
                a href=(login_href(flow)) { (ctx.t(self.back)) }
            }
        };
        let frame = Frame {
            title: ctx.t(self.title),
            step: Some(self.step),
            ..Frame::default()
        };
        ctx.render_status(state, status, frame, body)
    }
}

/// A path with the relying party's flow, if any.
pub fn with_flow(path: &str, flow: Option<&str>) -> String {
    match flow {
        Some(f) => format!("{path}?flow={f}"),
        None => path.to_string(),
    }
}

/// A link back to the login page, keeping the relying party's flow.
pub fn login_href(flow: Option<&str>) -> String {
    with_flow("/login", flow)
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
