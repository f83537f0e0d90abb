//! The console's frame: the shared layout (same CSP nonce, language switch, stylesheet) with
//! the console's navigation for the staff member's role and a bar with their name and the
//! sign-out button. Pages are `main[data-step="staff-…"]`, wide on a PC, one column at 375 px.

use super::{Role, StaffUser};
use crate::pages::{Ctx, Frame, forms};
use crate::state::AppState;
pub use crate::texts::staff::layout::*;
use axum::http::StatusCode;
use axum::response::Response;
use kenpo_shared::Lang;
use maud::{Markup, html};

/// The navigation of a staff member's role.
fn nav(lang: Lang, role: Role) -> Vec<(String, String)> {
    let mut items = vec![
        (lang.pick("会員検索", "Members"), "/staff/members"),
        (lang.pick("監査ログ", "Audit trail"), "/staff/audit"),
    ];
    if role >= Role::Operator {
        items.push((lang.pick("会員の取込", "Import"), "/staff/import"));
    } else {
        items.push((lang.pick("取込履歴", "Imports"), "/staff/import"));
    }
    if role >= Role::Administrator {
        items.push((lang.pick("連携サービス", "Clients"), "/staff/clients"));
        items.push((lang.pick("署名鍵", "Keys"), "/staff/keys"));
        items.push((lang.pick("職員", "Staff"), "/staff/staff"));
    }
    items
        .into_iter()
        .map(|(l, h)| (l.to_string(), h.to_string()))
        .collect()
}

/// Renders a console page for a signed-in staff member.
pub fn render(
    state: &AppState,
    ctx: &Ctx,
    me: &StaffUser,
    step: &str,
    title: &str,
    body: Markup,
) -> Response {
    render_status(state, ctx, me, StatusCode::OK, step, title, body)
}

pub fn render_status(
    state: &AppState,
    ctx: &Ctx,
    me: &StaffUser,
    status: StatusCode,
    step: &str,
    title: &str,
    body: Markup,
) -> Response {
    let body = html! {
        div.member-bar {
            span { (me.account.name) " (" (ctx.t(me.role.label())) ")" }
            form method="post" action="/staff/logout" {
                (forms::csrf(&ctx.csrf))
                button.link type="submit" { (ctx.t(SIGN_OUT)) }
            }
        }
        (body)
    };
    let frame = Frame {
        nav: nav(ctx.lang, me.role),
        ..frame(step, title)
    };
    ctx.render_status(state, status, frame, body)
}

/// The frame of every console page: its `data-step` and title.
fn frame<'a>(step: &'a str, title: &'a str) -> Frame<'a> {
    Frame {
        title,
        step: Some(step),
        ..Frame::default()
    }
}

/// A page for someone not signed in (sign-in, invitation).
pub fn render_public(
    state: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    step: &str,
    title: &str,
    body: Markup,
    scripts: Vec<&str>,
) -> Response {
    let frame = Frame {
        scripts,
        ..frame(step, title)
    };
    ctx.render_status(state, status, frame, body)
}

/// The required reason field of every action form.
pub fn reason_field(ctx: &Ctx, id_suffix: &str, error: Option<&str>) -> Markup {
    let id = format!("reason-{id_suffix}");
    html! {
        div.field {
            label for=(id) { (ctx.t(REASON)) }
            span.hint id=(format!("{id}-hint")) { (ctx.t(REASON_HINT)) }
            input id=(id) type="text" name="reason" maxlength="200" required
                aria-describedby=(format!("{id}-hint")) aria-invalid=[error.map(|_| "true")];
        }
    }
}

/// A reason as typed: trimmed, control characters removed, at most 200 characters.
pub fn clean_reason(input: &str) -> Option<String> {
    let s: String = input.chars().filter(|c| !c.is_control()).collect();
    let s = s.trim();
    (!s.is_empty()).then(|| s.chars().take(200).collect())
}

/// A time as staff read it (Japan time).
pub fn when(lang: Lang, unix: i64) -> String {
    let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.to_offset(jst).format(format).ok())
        .map(|t| format!("{t}{}", lang.pick("", " JST")))
        .unwrap_or_else(|| "-".into())
}

pub fn when_opt(lang: Lang, unix: Option<i64>) -> String {
    unix.map(|t| when(lang, t))
        .unwrap_or_else(|| lang.pick("—", "—").to_string())
}
