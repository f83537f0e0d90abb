//! Forgot password: `forgot-password` (user ID) → a reset link mailed to the member's verified
//! address → `reset-password` (new password twice) → `reset-done`. See the module doc of
//! `recovery` for the threats.
//!
//! A member still on an initial password (after import or a staff reset) who resets this way
//! gets a real password: the link proves they read their verified address, which is more than
//! the birthdate step proves, so the initial-password steps (birthdate, new password) are no
//! longer owed. Any other onboarding step still owed (terms, factor) comes at the next sign-in.

use super::{RequestPage, clean_flow, contact, login_href, start};
use crate::error::{PageError, PageResult, PageResultExt};
use crate::mail::{Mail, MailKind};
use crate::onboarding::new_password;
use crate::pages::forms::{self, CsrfForm, FieldSpec};
use crate::pages::i18n::{self, Text};
use crate::pages::{Ctx, Frame, Hosted};
use crate::security::links::{self, LinkKind, Open};
use crate::security::password_rules;
use crate::security::request::Requester;
use crate::security::throttle::Throttle;
use crate::security::tokens::token_hash;
use crate::signin::session::Sessions;
use crate::signin::visit::load_flow;
use crate::state::AppState;
use crate::store::audit::{Actor, OrLog};
use crate::store::credentials::CredentialStore;
use crate::store::members::Member;
pub use crate::texts::recovery::password::*;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use kenpo_shared::Lang;
use kenpo_shared::ids::UserId;
use maud::html;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Lifetime of a reset link.
pub const RESET_TTL_SECS: i64 = 30 * 60;

/// What a reset link stands for: the member and the password it replaces.
#[derive(Debug, Serialize, Deserialize)]
struct ResetLink {
    member_id: String,
    stamp: String,
    flow: Option<String>,
}

/// Changes whenever the password does (member's own, or a staff reset), so a link only
/// replaces the password it was made for.
fn password_stamp(m: &Member) -> String {
    token_hash(&format!(
        "{}|{}",
        m.password_hash.as_deref().unwrap_or(""),
        m.initial_password_since.unwrap_or(0)
    ))
}

#[derive(Debug, Deserialize)]
pub struct FlowQuery {
    pub flow: Option<String>,
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    username: String,
}

const FORGOT: RequestPage = RequestPage {
    step: "forgot-password",
    title: TITLE,
    lead: LEAD,
    action: "/recovery/password",
    field: FieldSpec {
        autocomplete: "username",
        autofocus: true,
        maxlength: 64,
        ..FieldSpec::text("username", USER_ID)
    },
    other: ("/recovery/user-id", FORGOT_ID),
    back: BACK,
    send: SEND,
};

/// The answer to every accepted request, whatever was found.
pub fn sent_page(state: &AppState, ctx: &Ctx, flow: Option<&str>, text: Text) -> Response {
    let body = html! {
        h1 { (ctx.t(SENT_TITLE)) }
        (kenpo_shared::web::notice(ctx.t(text)))
        (contact(state, ctx.lang))
        div.actions {
            a.button.secondary href=(login_href(flow)) { (ctx.t(BACK)) }
        }
    };
    ctx.render(
        state,
        Frame {
            title: ctx.t(SENT_TITLE),
            step: Some("recovery-sent"),
            ..Frame::default()
        },
        body,
    )
}

/// The "please wait" message of a refused request.
pub fn wait_message(lang: Lang, secs: u64) -> String {
    let w = i18n::wait_text(lang, secs);
    format!(
        "{} {}",
        WAIT.get(lang),
        lang.pick(
            &format!("{w}後にもう一度お試しください。"),
            &format!("Please try again in {w}.")
        )
    )
}

pub async fn forgot_get(Hosted { state, ctx, .. }: Hosted, Query(q): Query<FlowQuery>) -> Response {
    let flow = clean_flow(q.flow);
    FORGOT.render(&state, &ctx, flow.as_deref(), "", None, StatusCode::OK)
}

pub async fn forgot_post(
    Hosted { state, ctx, now }: Hosted,
    requester: Requester,
    CsrfForm(form): CsrfForm<ForgotForm>,
) -> PageResult {
    let flow = clean_flow(form.flow);
    let typed: String = form.username.chars().take(64).collect();
    let again = |error: Option<&str>, status| {
        FORGOT.render(&state, &ctx, flow.as_deref(), &typed, error, status)
    };
    let Ok(user_id) = UserId::parse(&typed) else {
        return Ok(again(Some(ctx.t(MISSING)), StatusCode::BAD_REQUEST));
    };
    let key = user_id.lookup_key();
    let (state2, lang, flow2) = (state.clone(), ctx.lang, flow.clone());
    let requested = requester.requested(now);
    let task = async move {
        mail_reset_link(&state2, &user_id, lang, flow2, requested, now).await;
    };
    Ok(
        match start(&state, requester.ip, &format!("pw:{key}"), now, task).await? {
            Some(w) => again(
                Some(&wait_message(ctx.lang, w)),
                StatusCode::TOO_MANY_REQUESTS,
            ),
            None => sent_page(&state, &ctx, flow.as_deref(), SENT),
        },
    )
}

/// The background half of a request: look the member up and mail the link if they have a
/// verified address. Failures are logged; the member already has their answer.
async fn mail_reset_link(
    state: &AppState,
    user_id: &UserId,
    lang: Lang,
    flow: Option<String>,
    requested: crate::mail::Requested,
    now: i64,
) {
    let ip = requested.ip.clone();
    let ip = ip.as_str();
    let member = match state.members().by_user_id(user_id).await {
        Ok(Some(m)) => m,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "password reset: member look-up");
            return;
        }
    };
    let trail = state.audit().member(&member.id, Some(ip), now);
    let to = match (&member.email, member.email_verified) {
        (Some(e), true) => e.clone(),
        _ => return trail.log("recovery.password_no_address", json!({})).await,
    };
    let factors = match CredentialStore::new(state.db.clone())
        .factors(&member)
        .await
    {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "password reset: factors");
            return;
        }
    };
    let email_only = factors.email && factors.strong(&member).is_none();
    if email_only && state.config.password.reset_email_only_needs_staff {
        let contact = state.config.union.contact_email.clone();
        let sent = state
            .send_mail(Mail {
                to,
                lang,
                kind: MailKind::ResetNeedsStaff { requested, contact },
            })
            .await;
        let delivered = json!({"delivered": sent.is_ok()});
        return trail.log("recovery.password_needs_staff", delivered).await;
    }
    let payload = ResetLink {
        member_id: member.id.clone(),
        stamp: password_stamp(&member),
        flow,
    };
    let token = match links::create(
        &state.eph,
        LinkKind::ResetPassword,
        &payload,
        RESET_TTL_SECS,
        now,
    )
    .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "password reset: link");
            return;
        }
    };
    let mut link = state.url(&format!("/recovery/reset?token={token}"));
    if lang == Lang::En {
        link.push_str("&lang=en");
    }
    let sent = state
        .send_mail(Mail {
            to,
            lang,
            kind: MailKind::ResetPassword {
                link,
                minutes: RESET_TTL_SECS / 60,
                requested,
                email_only,
            },
        })
        .await;
    let delivered = json!({"delivered": sent.is_ok()});
    trail.log("recovery.password_link_sent", delivered).await;
}

// ---- reset-password ----

#[derive(Debug, Deserialize)]
pub struct ResetQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_confirm: String,
}

/// The member a live link stands for, if the password is still the one it was made for.
async fn live_link(
    state: &AppState,
    token: &str,
    now: i64,
) -> Result<Option<(ResetLink, Member)>, PageError> {
    let link =
        links::open::<ResetLink>(&state.eph, LinkKind::ResetPassword, token, now, Open::Peek)
            .await
            .page(Lang::Ja)?;
    let Some(link) = link else { return Ok(None) };
    let member = state
        .members()
        .by_id(&link.member_id)
        .await
        .page(Lang::Ja)?;
    Ok(member
        .filter(|m| password_stamp(m) == link.stamp)
        .map(|m| (link, m)))
}

fn invalid_link_page(state: &AppState, ctx: &Ctx) -> Response {
    let body = html! {
        h1 { (ctx.t(LINK_BAD_TITLE)) }
        (kenpo_shared::web::alert(ctx.t(LINK_BAD)))
        div.actions {
            a.button href="/recovery/password" { (ctx.t(AGAIN)) }
        }
    };
    ctx.render_status(
        state,
        StatusCode::GONE,
        Frame {
            title: ctx.t(LINK_BAD_TITLE),
            step: Some("link-invalid"),
            ..Frame::default()
        },
        body,
    )
}

fn reset_page(
    state: &AppState,
    ctx: &Ctx,
    token: &str,
    member: &Member,
    failed: &[password_rules::Rule],
    status: StatusCode,
) -> Response {
    let ctx = Ctx {
        path_and_query: format!("/recovery/reset?token={token}"),
        ..ctx.clone()
    };
    let body = html! {
        h1 { (ctx.t(RESET_TITLE)) }
        (new_password::failed_rules(ctx.lang, failed))
        p { (ctx.t(RESET_LEAD)) }
        form method="post" action="/recovery/reset" novalidate {
            (forms::csrf(&ctx.csrf))
            input type="hidden" name="token" value=(token);
            (new_password::fields(&ctx, &member.user_id, failed))
            button.primary type="submit" { (ctx.t(SAVE)) }
        }
    };
    ctx.render_status(
        state,
        status,
        Frame {
            title: ctx.t(RESET_TITLE),
            step: Some("reset-password"),
            scripts: vec!["/static/new-password.js"],
            ..Frame::default()
        },
        body,
    )
}

pub async fn reset_get(
    Hosted { state, ctx, .. }: Hosted,
    Query(q): Query<ResetQuery>,
) -> PageResult {
    Ok(match live_link(&state, &q.token, state.now()).await? {
        Some((_, member)) => reset_page(&state, &ctx, &q.token, &member, &[], StatusCode::OK),
        None => invalid_link_page(&state, &ctx),
    })
}

pub async fn reset_post(
    Hosted { state, ctx, now }: Hosted,
    requester: Requester,
    CsrfForm(form): CsrfForm<ResetForm>,
) -> PageResult {
    let lang = ctx.lang;
    let Some((link, member)) = live_link(&state, &form.token, now).await? else {
        return Ok(invalid_link_page(&state, &ctx));
    };
    let failed = password_rules::check(&form.new_password, &form.new_password_confirm, &member);
    if !failed.is_empty() {
        let status = StatusCode::BAD_REQUEST;
        return Ok(reset_page(
            &state,
            &ctx,
            &form.token,
            &member,
            &failed,
            status,
        ));
    }
    // Spend the link now; of two submissions racing, one wins.
    if links::open::<ResetLink>(
        &state.eph,
        LinkKind::ResetPassword,
        &form.token,
        now,
        Open::Take,
    )
    .await
    .page(lang)?
    .is_none()
    {
        return Ok(invalid_link_page(&state, &ctx));
    }
    state
        .set_password(&member.id, form.new_password, now)
        .await
        .page(lang)?;
    // Whoever reads the mailbox could have done this: the next sign-in needs the member's
    // strongest factor (steps::next_step), not the emailed code.
    state
        .members()
        .set_strong_factor_due(&member.id, Some(now))
        .await
        .page(lang)?;
    if let Err(e) = end_everything(&state, &member, now).await {
        // The password is changed; failing to end a session must not hide that from the
        // member, but it is logged loudly.
        tracing::error!(error = %e, member = %member.id, "password reset: ending sessions");
    }
    // The password budgets start afresh (a hard lock included: this is the mailed way out of
    // it); the second factor's do not, so the mailbox alone gives no new guesses at it.
    if let Err(e) = Throttle::new(&state.eph, &state.config.throttle)
        .recovered(&member.user_id_key)
        .await
    {
        tracing::warn!(error = %e, "failure count not cleared after a reset");
    }
    state
        .audit()
        .record(
            Some(&member.id),
            Actor::Member,
            "recovery.password_reset",
            json!({}),
            Some(&requester.ip.to_string()),
            now,
        )
        .await
        .or_log("recovery.password_reset");
    if let Some(to) = member.email.clone().filter(|_| member.email_verified) {
        let kind = MailKind::PasswordChanged;
        state.send_notice(Mail { to, lang, kind }).await;
    }
    // Back to the relying party's sign-in if that flow is still alive.
    let flow = load_flow(&state, link.flow.as_deref())
        .await
        .ok()
        .flatten()
        .map(|f| f.id);
    let body = html! {
        h1 { (ctx.t(DONE_TITLE)) }
        (kenpo_shared::web::notice(ctx.t(DONE)))
        div.actions {
            a.button href=(login_href(flow.as_deref())) { (ctx.t(LOGIN)) }
        }
    };
    Ok(ctx.render(
        &state,
        Frame {
            title: ctx.t(DONE_TITLE),
            step: Some("reset-done"),
            ..Frame::default()
        },
        body,
    ))
}

/// Ends every IdP session of the member (with back-channel logout) and revokes every grant.
async fn end_everything(state: &AppState, member: &Member, now: i64) -> Result<(), String> {
    let sessions = Sessions::new(state)
        .for_member(&member.id, now)
        .await
        .map_err(|e| e.to_string())?;
    for s in sessions {
        crate::oidc::logout::end_session(state, &s.sid, now).await?;
    }
    state
        .grants()
        .revoke_member(&member.id, "password_reset", now)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
