//! `staff-staff` (administrators): staff accounts — invite (an invitation mail with a one-time
//! link to register a passkey), change a role, disable or re-enable, re-invite after a lost
//! device. The last enabled administrator cannot be demoted or disabled.

use super::accounts::{self, AccountError, Change};
use super::{Administrator, CsrfForm, Role, StaffPage, layout};
use crate::error::{PageError, PageResult, PageResultExt};
use crate::pages::{Ctx, forms};
use crate::store::staff::StaffStore;
pub use crate::texts::staff::staff_page::*;
use axum::http::StatusCode;
use maud::{Markup, html};
use serde::Deserialize;

pub async fn get(p: Administrator) -> PageResult {
    page(&p, None, StatusCode::OK).await
}

fn role_select(ctx: &Ctx, id: &str, current: Option<Role>) -> Markup {
    html! {
        div.field {
            label for=(format!("role-{id}")) { (ctx.lang.pick("権限", "Role")) }
            select id=(format!("role-{id}")) name="role" {
                @for r in Role::ALL { option value=(r.as_str()) selected[current == Some(r)] { (ctx.t(r.label())) } }
            }
        }
    }
}

async fn page(p: &Administrator, top: Option<Markup>, status: StatusCode) -> PageResult {
    let StaffPage { state, ctx, me } = p;
    let l = ctx.lang;
    let store = StaffStore::new(state.db.clone());
    let accounts = store.list().await.page(l)?;
    let mut rows = Vec::new();
    for a in accounts {
        let keys = store.passkeys(&a.id).await.page(l)?.len();
        rows.push((a, keys));
    }
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        @if let Some(t) = top { (t) }
        h2 { (l.pick("職員を招待する", "Invite a staff member")) }
        form method="post" action="/staff/staff" {
            (forms::csrf(&ctx.csrf))
            input type="hidden" name="action" value="invite";
            (forms::Field { kind: "email", autocomplete: "off", maxlength: Some(254), ..forms::Field::new("email", l.pick("メールアドレス", "Email")) }.render())
            (forms::Field { maxlength: Some(60), required: false, ..forms::Field::new("name", l.pick("氏名", "Name")) }.render())
            (role_select(ctx, "new", Some(Role::Operator)))
            (layout::reason_field(ctx, "invite", None))
            button.primary type="submit" { (l.pick("招待メールを送る", "Send the invitation")) }
        }
        h2 { (l.pick("職員一覧", "Staff")) }
        @for (a, keys) in &rows {
            section.card data-staff=(a.email) {
                h3 { (a.name) " " span.small.muted { (a.email) } }
                p.small {
                    (Role::parse(&a.role).map(|r| ctx.t(r.label())).unwrap_or("?")) " — "
                    (l.pick("パスキー ", "passkeys: ")) (keys) " — "
                    (l.pick("最終ログイン ", "last sign-in ")) (layout::when_opt(l, a.last_login_at))
                    @if a.disabled_at.is_some() { " — " strong { (l.pick("無効", "disabled")) } }
                }
                @if a.id != me.account.id {
                    form method="post" action="/staff/staff" {
                        (forms::csrf(&ctx.csrf))
                        input type="hidden" name="staff_id" value=(a.id);
                        (role_select(ctx, &a.id, Role::parse(&a.role)))
                        (layout::reason_field(ctx, &a.id, None))
                        div.actions {
                            button.secondary type="submit" name="action" value="role" { (l.pick("権限を変更", "Change role")) }
                            button.secondary type="submit" name="action" value="reinvite" { (l.pick("招待を再送（パスキーを削除）", "Re-invite (removes passkeys)")) }
                            @if a.disabled_at.is_some() { button.secondary type="submit" name="action" value="enable" { (l.pick("有効にする", "Enable")) } }
                            @else { button.secondary.danger type="submit" name="action" value="disable" { (l.pick("無効にする", "Disable")) } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::render_status(
        state,
        ctx,
        me,
        status,
        "staff-staff",
        ctx.t(TITLE),
        body,
    ))
}

#[derive(Deserialize)]
pub struct StaffForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    staff_id: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    reason: String,
}

pub async fn post(p: Administrator, CsrfForm(f): CsrfForm<StaffForm>) -> PageResult {
    let StaffPage { state, ctx, me } = &p;
    let l = ctx.lang;
    let alert = |m: &str| html! { (kenpo_shared::web::alert(m)) };
    let Some(reason) = layout::clean_reason(&f.reason) else {
        return page(
            &p,
            Some(alert(ctx.t(layout::REASON_MISSING))),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let by = me.by(&reason);
    let now = state.now();
    let role = Role::parse(&f.role);
    let result = match (f.action.as_str(), role) {
        ("invite", Some(r)) => accounts::invite(state, &f.email, &f.name, r, &by, now)
            .await
            .map(|_| ()),
        ("role", Some(r)) => accounts::change(state, &f.staff_id, Change::Role(r), &by, now)
            .await
            .map(|_| ()),
        ("disable", _) => accounts::change(state, &f.staff_id, Change::Disable, &by, now)
            .await
            .map(|_| ()),
        ("enable", _) => accounts::change(state, &f.staff_id, Change::Enable, &by, now)
            .await
            .map(|_| ()),
        ("reinvite", _) => accounts::change(state, &f.staff_id, Change::Reinvite, &by, now)
            .await
            .map(|_| ()),
        _ => return Err(PageError::BadRequest(l, crate::pages::i18n::BAD_REQUEST)),
    };
    let (top, status) = match result {
        Ok(()) => (html! { (kenpo_shared::web::notice(l.pick("変更し、監査ログに記録しました。", "Done, and recorded in the audit trail."))) }, StatusCode::OK),
        Err(AccountError::Store(e)) => return Err(PageError::internal(l, e)),
        Err(e) => (alert(&match &e {
            AccountError::BadEmail(_) => l.pick("メールアドレスの形式が正しくありません。", "That is not an email address.").to_string(),
            AccountError::Exists(_) => l.pick("そのメールアドレスの職員はすでに登録されています。", "A staff account with that address exists.").to_string(),
            AccountError::Unknown => l.pick("その職員アカウントは見つかりません。", "No such staff account.").to_string(),
            AccountError::LastAdministrator => l.pick("最後の管理者の権限は変更・無効化できません。先に別の管理者を追加してください。", "The last administrator cannot be demoted or disabled; add another one first.").to_string(),
            AccountError::Mail(_) => l.pick("招待メールを送れませんでした。メールの設定を確認して、再送してください。", "The invitation mail could not be sent; check the mail settings and re-invite.").to_string(),
            AccountError::Store(_) => String::new(),
        }), StatusCode::BAD_REQUEST),
    };
    page(&p, Some(top), status).await
}
