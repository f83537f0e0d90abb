//! `method` (SPEC step 5): the member chooses the second factor to set up — passkey
//! (生体認証), authenticator app or email — explained in the guide's plain words. The choice
//! is only recorded here; it is enrolled after the new password, in the same visit.
//!
//! A member who already has emailed codes comes here when a relying party asks for
//! `urn:kenpo:loa:2`: the page then offers only an app or a passkey and says why.
//!
//! Until a factor is enrolled the member may come back to this page (back button, or "choose
//! another method" on the enrolment page) and choose again; once one is enrolled, changes
//! belong to the account page.

use crate::error::{PageError, PageResult, PageResultExt};
use crate::mfa::Factor;
use crate::pages::forms;
use crate::signin::steps::Step;
use crate::signin::visit::{Visit, Visiting};
use crate::state::AppState;
pub use crate::texts::onboarding::method::*;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct MethodForm {
    #[serde(default)]
    method: String,
}

/// Whether the user agent looks like a phone or tablet (then the QR-code hint is moot).
fn is_mobile(user_agent: &str) -> bool {
    match woothee::parser::Parser::new().parse(user_agent) {
        Some(r) => matches!(r.category, "smartphone" | "mobilephone"),
        None => false,
    }
}

/// Entered while the member owes the method, or — with no factor enrolled yet — a later
/// onboarding step (they came back to choose again).
async fn enter(state: &AppState, v: Visit) -> Result<Visit, PageError> {
    let v = v
        .owing(state, |s| {
            matches!(s, Step::Method | Step::NewPassword | Step::Enroll(_))
        })
        .await?;
    if v.owed(state) != Step::Method && (v.factors.any() || v.member.chosen_factor.is_none()) {
        return Err(v.elsewhere(state).await);
    }
    Ok(v)
}

/// Whether the member is here for a stronger factor (they have one already: emailed codes).
fn stronger_only(v: &Visit) -> bool {
    v.factors.any()
}

fn page(state: &AppState, v: &Visit, error: Option<&str>, status: StatusCode) -> Response {
    let ctx = &v.ctx;
    let chosen = v.member.chosen_factor.as_deref().and_then(Factor::parse);
    let pc = !is_mobile(&v.requester.user_agent);
    let stronger = stronger_only(v);
    let options = [
        (Factor::Passkey, PASSKEY_NAME, PASSKEY_HELP),
        (Factor::Totp, TOTP_NAME, TOTP_HELP),
        (Factor::Email, EMAIL_NAME, EMAIL_HELP),
    ]
    .into_iter()
    .filter(|(f, _, _)| !stronger || f.is_aal2());
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
        @if stronger {
            p.notice { (ctx.t(STRONGER_LEAD)) }
        } @else {
            p { (ctx.t(LEAD)) }
        }
        form method="post" action="/signin/method" novalidate {
            (forms::hidden(&ctx.csrf, v.flow_id()))
            fieldset.choices-set {
                legend.visually-hidden { (ctx.t(LEGEND)) }
                ul.choices {
                    @for (f, name, help) in options {
                        @let id = format!("f-method-{}", f.as_str());
                        @let help_id = format!("{id}-help");
                        li {
                            label.choice for=(id) {
                                input id=(id) type="radio" name="method" value=(f.as_str())
                                    aria-describedby=(help_id) checked[chosen == Some(f)];
                                span {
                                    strong { (ctx.t(name)) }
                                    span.small id=(help_id) {
                                        (ctx.t(help))
                                        @if f == Factor::Passkey && pc {
                                            " " (ctx.t(PASSKEY_PC))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            button.primary type="submit" { (ctx.t(NEXT)) }
        }
    };
    v.render(state, status, Step::Method, ctx.t(TITLE), vec![], body)
}

pub async fn get(State(state): State<AppState>, Visiting(v, _): Visiting) -> PageResult {
    let v = enter(&state, v).await?;
    Ok(page(&state, &v, None, StatusCode::OK))
}

pub async fn post(
    State(state): State<AppState>,
    Visiting(v, form): Visiting<MethodForm>,
) -> PageResult {
    let mut v = enter(&state, v).await?;
    let Some(factor) = Factor::parse(form.method.trim()) else {
        let msg = NONE.get(v.lang());
        return Ok(page(&state, &v, Some(msg), StatusCode::BAD_REQUEST));
    };
    if stronger_only(&v) && !factor.is_aal2() {
        let msg = STRONGER_LEAD.get(v.lang());
        return Ok(page(&state, &v, Some(msg), StatusCode::BAD_REQUEST));
    }
    state
        .members()
        .choose_factor(&v.member.id, Some(factor.as_str()), v.now)
        .await
        .page(v.lang())?;
    let detail = json!({"factor": factor.as_str()});
    v.audit(&state, "onboarding.method", detail).await;
    v.member.chosen_factor = Some(factor.as_str().to_string());
    Ok(v.advance(&state).await?.into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn phones_are_told_apart_from_computers() {
        assert!(super::is_mobile(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
        ));
        assert!(super::is_mobile(
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
        ));
        assert!(!super::is_mobile(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
        ));
    }
}
