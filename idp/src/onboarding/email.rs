//! `email` (SPEC step 4): the address, and the verification link mailed to it (`email-sent`
//! and `verify_email` are the pages that follow).
//!
//! The member confirms or changes the address (prefilled from the import); the IdP stores it
//! as unverified and mails a one-time link (`security::links`, 60 minutes). While that mail is
//! out, `signin::email_pending_key` makes the step sequence show `email-sent`, from any device.
//! Opening the link marks the address verified — only if it is still the member's address, so
//! a link for an address they replaced confirms nothing — and then either continues the
//! sign-in directly (same browser, same member) or tells the member to go back to the first
//! tab. There, `continue` moves on once the address is verified, whichever tab, browser or
//! device opened the link. Opening the link again is harmless (the address stays verified);
//! mail scanners that fetch links do no more than the member would.
//!
//! Threats: mail bombing a victim's address (sends are limited per member per minute and per
//! hour); confirming an address one does not read (needs the 256-bit link); a stale link
//! confirming a replaced address (bound to the address).

use super::OneField;
use crate::error::{PageResult, PageResultExt};
use crate::mail::{Mail, MailKind};
use crate::pages::forms::FieldSpec;
use crate::pages::i18n::{self, Text};
use crate::security::links::{self, LinkKind};
use crate::security::throttle::{Gate, Throttle};
use crate::signin::email_pending_key;
use crate::signin::steps::Step;
use crate::signin::visit::{Visit, Visiting};
use crate::state::AppState;
use crate::store::ephemeral::secs;
pub use crate::texts::onboarding::email::*;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use kenpo_shared::Lang;
use kenpo_shared::ids::normalize;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Lifetime of a verification link (and of the `email-sent` state).
pub const VERIFY_TTL_SECS: i64 = 3600;
/// Verification mails per member: at most one a minute, and this many an hour.
const SENDS_PER_HOUR: i64 = 6;

/// What a verification link stands for.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct VerifyLink {
    pub(super) member_id: String,
    pub(super) email: String,
    pub(super) flow: Option<String>,
}

/// Checks a typed email address: NFKC (全角 → 半角), trimmed, lower-cased; the syntax a
/// mail can be delivered to (a domain with a dot). Shared with "forgot user ID".
pub fn parse_email(input: &str) -> Result<String, Text> {
    let s = normalize(input).to_ascii_lowercase();
    if s.is_empty() {
        return Err(EMPTY);
    }
    let ok = s.len() <= 254
        && s.parse::<lettre::Address>().is_ok()
        && s.rsplit_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok { Ok(s) } else { Err(INVALID) }
}

/// Mails a verification link for `email` and marks the mail as out. `Err` carries the
/// message for the member (throttled, or the mail could not be sent).
pub(super) async fn send_link(state: &AppState, v: &mut Visit, email: &str) -> Result<(), String> {
    let now = v.now;
    let lang = v.lang();
    let throttle = Throttle::new(&state.eph, &state.config.throttle);
    let id = &v.member.id;
    let gates = [
        throttle
            .limit(&format!("verifymail:m:{id}"), 1, 60, now)
            .await,
        throttle
            .limit(&format!("verifymail:h:{id}"), SENDS_PER_HOUR, 3600, now)
            .await,
    ];
    for g in gates {
        match g {
            Ok(Gate::Open) => {}
            Ok(Gate::Wait(w)) => {
                return Err(format!(
                    "{} {}",
                    WAIT.get(lang),
                    lang.pick(
                        &format!("（あと{}）", i18n::wait_text(lang, w)),
                        &format!("(wait {})", i18n::wait_text(lang, w))
                    )
                ));
            }
            Err(e) => {
                tracing::error!(error = %e, "verification mail throttle");
                return Err(SEND_FAILED.get(lang).to_string());
            }
        }
    }
    let payload = VerifyLink {
        member_id: id.clone(),
        email: email.to_string(),
        flow: v.flow_id().map(String::from),
    };
    let token = links::create(
        &state.eph,
        LinkKind::VerifyEmail,
        &payload,
        VERIFY_TTL_SECS,
        now,
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "verification link");
        SEND_FAILED.get(lang).to_string()
    })?;
    let mut link = state.url(&format!("/signin/verify-email?token={token}"));
    if lang == Lang::En {
        link.push_str("&lang=en");
    }
    state
        .send_mail(Mail {
            to: email.to_string(),
            lang,
            kind: MailKind::VerifyEmail {
                link,
                minutes: VERIFY_TTL_SECS / 60,
            },
        })
        .await
        .map_err(|_| SEND_FAILED.get(lang).to_string())?;
    state
        .eph
        .put(&email_pending_key(id), "1", secs(VERIFY_TTL_SECS))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "email pending marker");
            SEND_FAILED.get(lang).to_string()
        })?;
    v.audit(state, "email.verification_sent", json!({})).await;
    v.email_pending = true;
    Ok(())
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

const PAGE: OneField = OneField {
    step: Step::Email,
    action: "/signin/email",
    title: TITLE,
    lead: LEAD,
    submit: SEND,
    field: FieldSpec {
        hint: Some(HINT),
        ..FieldSpec::email("email", LABEL)
    },
};

pub async fn get(State(state): State<AppState>, Visiting(v, _): Visiting) -> PageResult {
    let v = v.owing(&state, Step::Email).await?;
    let value = v.member.email.clone().unwrap_or_default();
    Ok(PAGE.render(&state, &v, &value, None, StatusCode::OK))
}

pub async fn post(
    State(state): State<AppState>,
    Visiting(v, form): Visiting<EmailForm>,
) -> PageResult {
    let mut v = v.owing(&state, Step::Email).await?;
    let lang = v.lang();
    let typed: String = form.email.chars().take(320).collect();
    let email = match parse_email(&typed) {
        Ok(e) => e,
        Err(msg) => {
            let status = StatusCode::BAD_REQUEST;
            return Ok(PAGE.render(&state, &v, &typed, Some(msg.get(lang)), status));
        }
    };
    if v.member.email.as_deref() != Some(email.as_str()) {
        state
            .members()
            .set_email(&v.member.id, &email, false, v.now)
            .await
            .page(lang)?;
        v.member.email = Some(email.clone());
        v.member.email_verified = false;
    }
    match send_link(&state, &mut v, &email).await {
        Ok(()) => Ok(v.advance(&state).await?.into_response()),
        Err(msg) => {
            let status = StatusCode::SERVICE_UNAVAILABLE;
            Ok(PAGE.render(&state, &v, &email, Some(&msg), status))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_email;

    #[test]
    fn addresses_are_normalised_and_checked() {
        assert_eq!(
            parse_email(" Taro@Example.JP ").as_deref(),
            Ok("taro@example.jp")
        );
        assert_eq!(
            parse_email("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ").as_deref(),
            Ok("taro@example.jp"),
            "full-width input"
        );
        assert_eq!(
            parse_email("taro.yamada+kenpo@mail.example.co.jp").as_deref(),
            Ok("taro.yamada+kenpo@mail.example.co.jp")
        );
        for bad in [
            "",
            "taro",
            "taro@",
            "@example.jp",
            "taro@localhost",
            "taro@example.",
            "ta ro@example.jp",
            "taro@@example.jp",
        ] {
            assert!(parse_email(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.jp", "a".repeat(65));
        assert!(parse_email(&long).is_err());
    }
}
