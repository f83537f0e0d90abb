//! `staff-keys` (administrators): the token signing keys and their states, and rotation now
//! (new keys for every algorithm; the current ones retire but stay published while tokens they
//! signed can still be checked) — what `idp keys rotate` does.

use super::{Administrator, CsrfForm, StaffPage, layout};
use crate::error::{PageResult, PageResultExt};
use crate::oidc::keys::{Alg, KeyRing};
use crate::pages::forms;
use crate::store::keys::KeyStore;
pub use crate::texts::staff::keys::*;
use axum::http::StatusCode;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

pub async fn get(p: Administrator) -> PageResult {
    page(&p, None, StatusCode::OK).await
}

async fn page(p: &Administrator, top: Option<Markup>, status: StatusCode) -> PageResult {
    let StaffPage { state, ctx, me } = p;
    let l = ctx.lang;
    let now = state.now();
    let keys = KeyStore::new(state.db.clone()).all().await.page(l)?;
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        @if let Some(t) = top { (t) }
        div.table-wrap tabindex="0" aria-label=(ctx.t(TITLE)) {
            table.stack {
                thead { tr { th { "kid" } th { (l.pick("方式", "Alg")) } th { (l.pick("状態", "State")) } th { (l.pick("有効化", "Activates")) } th { (l.pick("公開期限", "Published until")) } } }
                tbody {
                    @for k in &keys {
                        tr data-kid=(k.kid) {
                            td.break-all data-label="kid" { (k.kid) }
                            td data-label=(l.pick("方式", "Alg")) { (k.alg) }
                            td data-label=(l.pick("状態", "State")) { (match (k.retired_at, k.activates_at > now) {
                                (Some(_), _) => l.pick("退役", "retired"),
                                (None, true) => l.pick("待機", "pending"),
                                (None, false) => l.pick("使用中", "active"),
                            }) }
                            td data-label=(l.pick("有効化", "Activates")) { (layout::when(l, k.activates_at)) }
                            td data-label=(l.pick("公開期限", "Published until")) { (layout::when_opt(l, k.expires_at)) }
                        }
                    }
                }
            }
        }
        form method="post" action="/staff/keys" {
            (forms::csrf(&ctx.csrf))
            p.small { (l.pick("鍵の漏えいが疑われるときなどに、すべての方式の鍵をすぐに新しくします。発行済みのトークンは有効期限まで検証できます。", "Replaces every algorithm's key at once (e.g. a suspected leak); tokens already issued still verify until they expire.")) }
            (layout::reason_field(ctx, "keys", None))
            button.secondary.danger type="submit" name="action" value="rotate" { (l.pick("今すぐ鍵を更新する", "Rotate now")) }
        }
    };
    Ok(layout::render_status(
        state,
        ctx,
        me,
        status,
        "staff-keys",
        ctx.t(TITLE),
        body,
    ))
}

#[derive(Deserialize)]
pub struct KeysForm {
    #[serde(default)]
    reason: String,
}

pub async fn post(p: Administrator, CsrfForm(f): CsrfForm<KeysForm>) -> PageResult {
    let StaffPage { state, ctx, me } = &p;
    let l = ctx.lang;
    let Some(reason) = layout::clean_reason(&f.reason) else {
        let alert = html! { (kenpo_shared::web::alert(ctx.t(layout::REASON_MISSING))) };
        return page(&p, Some(alert), StatusCode::BAD_REQUEST).await;
    };
    let now = state.now();
    let created = KeyRing::rotate_now(
        &state.db,
        &state.sbox,
        &Alg::ALL,
        state.rotation_policy(),
        now,
    )
    .await
    .page(l)?;
    state
        .keys
        .reload(&state.db, &state.sbox, now)
        .await
        .page(l)?;
    state
        .audit()
        .record_staff(
            None,
            &me.by(&reason),
            "keys.rotate",
            json!({"created": created}),
            None,
            now,
        )
        .await
        .page(l)?;
    let top = html! { (kenpo_shared::web::notice(l.pick("新しい署名鍵を作成しました（他のサーバーは keys.reload_secs 以内に切り替わります）。", "New signing keys made (other replicas switch within keys.reload_secs)."))) };
    page(&p, Some(top), StatusCode::OK).await
}
