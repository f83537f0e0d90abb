//! `new-password` (SPEC step 6): the member replaces the initial password with their own.
//! Every rule of `security::password_rules` that fails is listed at once in plain words; a
//! page script (`static/new-password.js`) ticks the rules and shows a strength hint while
//! they type (the server decides; the script only helps). The password is hashed with
//! argon2id on the bounded hashing pool, and the initial password stops working at once.
//!
//! The same fields serve the recovery page `reset-password` ([`fields`]).

use crate::error::{PageResult, PageResultExt};
use crate::mail::{Mail, MailKind};
use crate::pages::Ctx;
use crate::pages::forms;
use crate::security::password_rules::{self, Rule};
use crate::signin::steps::Step;
use crate::signin::visit::{Visit, Visiting};
use crate::state::AppState;
pub use crate::texts::onboarding::new_password::*;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kenpo_shared::Lang;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

/// The rules the page script can check by itself (`data-rule` names it knows).
const SHOWN: [(Rule, &str); 6] = [
    (Rule::Length, "length"),
    (Rule::Upper, "upper"),
    (Rule::Lower, "lower"),
    (Rule::Digit, "digit"),
    (Rule::Symbol, "symbol"),
    (Rule::OnlyAscii, "ascii"),
];

/// The alert listing every failed rule (announced by screen readers).
pub fn failed_rules(lang: Lang, failed: &[Rule]) -> Markup {
    html! {
        @if !failed.is_empty() {
            div.alert role="alert" id="pw-errors" {
                (FAILED.get(lang))
                ul {
                    @for r in failed { li { (r.text().get(lang)) } }
                }
            }
        }
    }
}

/// The two password fields, the rules and the strength hint. `user_id` lets password
/// managers file the new password under the right account.
pub fn fields(ctx: &Ctx, user_id: &str, failed: &[Rule]) -> Markup {
    let lang = ctx.lang;
    let bad_new = failed.iter().any(|r| *r != Rule::Mismatch);
    let bad_confirm = failed.contains(&Rule::Mismatch);
    let errors = (!failed.is_empty()).then_some("pw-errors");
    let new_described = match errors {
        Some(e) => format!("pw-rules pw-strength {e}"),
        None => "pw-rules pw-strength".to_string(),
    };
    html! {
        input type="hidden" name="username" value=(user_id) autocomplete="username";
        div.field {
            label for="f-new_password" { (NEW.get(lang)) }
            input id="f-new_password" type="password" name="new_password" autocomplete="new-password"
                maxlength="128" required autofocus aria-describedby=(new_described)
                aria-invalid=[bad_new.then_some("true")];
            div.strength data-level="0" aria-hidden="true" { span {} }
            p.small id="pw-strength" aria-live="polite" data-prefix=(STRENGTH.get(lang)) data-levels=(LEVELS.get(lang)) {}
        }
        div.field {
            span.label id="pw-rules-title" { (RULES.get(lang)) }
            ul.rules id="pw-rules" aria-labelledby="pw-rules-title" {
                @for (rule, name) in SHOWN {
                    li data-rule=(name) data-ok="false" {
                        span.mark aria-hidden="true" { "・" }
                        (rule.text().get(lang))
                    }
                }
                li { span.mark aria-hidden="true" { "・" } (ALSO.get(lang)) }
            }
        }
        div.field {
            label for="f-new_password_confirm" { (CONFIRM.get(lang)) }
            input id="f-new_password_confirm" type="password" name="new_password_confirm" autocomplete="new-password"
                maxlength="128" required aria-describedby=[errors]
                aria-invalid=[bad_confirm.then_some("true")];
        }
    }
}

#[derive(Deserialize)]
pub struct NewPasswordForm {
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_confirm: String,
}

fn page(state: &AppState, v: &Visit, failed: &[Rule], status: StatusCode) -> Response {
    let ctx = &v.ctx;
    let onboarding = v.member.onboarded_at.is_none();
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        (failed_rules(ctx.lang, failed))
        p { (ctx.t(if onboarding { LEAD } else { LEAD_AGAIN })) }
        form method="post" action="/signin/new-password" novalidate {
            (forms::hidden(&ctx.csrf, v.flow_id()))
            (fields(ctx, &v.member.user_id, failed))
            button.primary type="submit" { (ctx.t(SAVE)) }
        }
    };
    v.render(
        state,
        status,
        Step::NewPassword,
        ctx.t(TITLE),
        vec!["/static/new-password.js"],
        body,
    )
}

pub async fn get(State(state): State<AppState>, Visiting(v, _): Visiting) -> PageResult {
    let v = v.owing(&state, Step::NewPassword).await?;
    Ok(page(&state, &v, &[], StatusCode::OK))
}

pub async fn post(
    State(state): State<AppState>,
    Visiting(v, form): Visiting<NewPasswordForm>,
) -> PageResult {
    let mut v = v.owing(&state, Step::NewPassword).await?;
    let failed = password_rules::check(&form.new_password, &form.new_password_confirm, &v.member);
    if !failed.is_empty() {
        return Ok(page(&state, &v, &failed, StatusCode::BAD_REQUEST));
    }
    let lang = v.lang();
    let hash = state
        .set_password(&v.member.id, form.new_password, v.now)
        .await
        .page(lang)?;
    let onboarding = v.member.onboarded_at.is_none();
    let by = if onboarding {
        "onboarding"
    } else {
        "staff_reset"
    };
    v.audit(&state, "password.set", json!({ "by": by })).await;
    // A member who finished onboarding before (this is after a staff reset) is told by mail;
    // a failed send is logged by the mailer and does not undo the change.
    if !onboarding
        && v.member.email_verified
        && let Some(to) = v.member.email.clone()
        && state
            .send_mail(Mail {
                to,
                lang,
                kind: MailKind::PasswordChanged,
            })
            .await
            .is_err()
    {
        tracing::warn!("password change notice not sent");
    }
    v.member.password_hash = Some(hash);
    v.member.initial_password_since = None;
    v.member.password_changed_at = Some(v.now);
    Ok(v.advance(&state).await?.into_response())
}
