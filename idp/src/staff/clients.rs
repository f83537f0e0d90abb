//! `staff-clients` (administrators): the union's relying parties — register one, rotate its
//! secret (shown once), remove it. The same validation as the command line (`NewClient`).

use super::{Administrator, CsrfForm, StaffPage, layout};
use crate::error::{PageError, PageResult, PageResultExt};
use crate::pages::forms;
use crate::security::tokens::new_token;
use crate::store::clients::{AuthMethod, Client, NewClient};
pub use crate::texts::staff::clients::*;
use axum::http::StatusCode;
use kenpo_shared::Secret;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

pub async fn get(p: Administrator) -> PageResult {
    page(&p, None, StatusCode::OK).await
}

async fn page(p: &Administrator, top: Option<Markup>, status: StatusCode) -> PageResult {
    let StaffPage { state, ctx, me } = p;
    let l = ctx.lang;
    let clients = crate::store::clients::ClientStore::new(state.db.clone())
        .list()
        .await
        .page(l)?;
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        @if let Some(t) = top { (t) }
        @for c in &clients {
            section.card data-client=(c.client_id) {
                h2 { (c.name) " " span.small.muted { (c.client_id) } }
                dl.kv {
                    dt { (l.pick("リダイレクトURI", "Redirect URIs")) } dd.break-all { @for u in &c.redirect_uris { (u) br; } }
                    dt { (l.pick("認証方式", "Auth method")) } dd { (c.auth_method.as_str()) }
                    dt { (l.pick("登録元", "Source")) } dd { (c.source) }
                }
                form method="post" action="/staff/clients" {
                    (forms::csrf(&ctx.csrf))
                    input type="hidden" name="client_id" value=(c.client_id);
                    (layout::reason_field(ctx, &c.client_id, None))
                    div.actions {
                        @if matches!(c.auth_method, AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost) {
                            button.secondary type="submit" name="action" value="rotate" { (l.pick("シークレットを再発行", "Rotate secret")) }
                        }
                        button.secondary.danger type="submit" name="action" value="remove" { (l.pick("削除", "Remove")) }
                    }
                }
            }
        }
        h2 { (l.pick("新しく登録する", "Register a relying party")) }
        form method="post" action="/staff/clients" {
            (forms::csrf(&ctx.csrf))
            input type="hidden" name="action" value="add";
            (forms::Field { maxlength: Some(64), ..forms::Field::new("client_id", "client_id") }.render())
            (forms::Field { maxlength: Some(100), ..forms::Field::new("name", l.pick("名前", "Name")) }.render())
            (forms::Field { maxlength: Some(500), hint: Some(l.pick("https:// で始まる完全なURI。複数はスペース区切り。", "Exact https:// URIs, separated by spaces.")), ..forms::Field::new("redirect_uris", l.pick("リダイレクトURI", "Redirect URIs")) }.render())
            (forms::Field { maxlength: Some(500), required: false, ..forms::Field::new("post_logout_redirect_uris", l.pick("ログアウト後のURI（任意）", "Post-logout URIs (optional)")) }.render())
            (forms::Field { maxlength: Some(300), required: false, ..forms::Field::new("backchannel_logout_uri", l.pick("バックチャネルログアウトURI（任意）", "Back-channel logout URI (optional)")) }.render())
            div.field { label.check for="f-third" { input id="f-third" type="checkbox" name="third_party" value="yes"; (l.pick("組合以外が運営するサービス（会員に同意を求める）", "Run by someone other than the union (members consent)")) } }
            (layout::reason_field(ctx, "add", None))
            button.primary type="submit" { (l.pick("登録する", "Register")) }
        }
    };
    Ok(layout::render_status(
        state,
        ctx,
        me,
        status,
        "staff-clients",
        ctx.t(TITLE),
        body,
    ))
}

#[derive(Deserialize)]
pub struct ClientForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    #[serde(default)]
    backchannel_logout_uri: String,
    #[serde(default)]
    third_party: Option<String>,
    #[serde(default)]
    reason: String,
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// The client again with a new secret (its registration unchanged).
fn again(c: &Client, secret: String) -> NewClient {
    NewClient {
        client: c.clone(),
        secret: Some(Secret::new(secret)),
    }
}

pub async fn post(p: Administrator, CsrfForm(f): CsrfForm<ClientForm>) -> PageResult {
    let StaffPage { state, ctx, me } = &p;
    let l = ctx.lang;
    let bad = |msg: String| html! { (kenpo_shared::web::alert(&msg)) };
    let Some(reason) = layout::clean_reason(&f.reason) else {
        return page(
            &p,
            Some(bad(ctx.t(layout::REASON_MISSING).into())),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let now = state.now();
    let store = state.clients();
    let plain = crate::store::clients::ClientStore::new(state.db.clone());
    let existing = plain
        .list()
        .await
        .page(l)?
        .into_iter()
        .find(|c| c.client_id == f.client_id);
    let (kind, secret) = match (f.action.as_str(), existing) {
        ("add", None) => {
            let secret = new_token();
            let client = Client {
                client_id: f.client_id.trim().to_string(),
                name: f.name.trim().to_string(),
                secret_hash: None,
                source: String::new(),
                auth_method: AuthMethod::ClientSecretBasic,
                jwks: None,
                redirect_uris: words(&f.redirect_uris),
                post_logout_redirect_uris: words(&f.post_logout_redirect_uris),
                backchannel_logout_uri: Some(f.backchannel_logout_uri.trim().to_string())
                    .filter(|u| !u.is_empty()),
                third_party: f.third_party.as_deref() == Some("yes"),
                id_token_alg: None,
                scopes: Vec::new(),
                // Clients added from the console always use PKCE; a legacy exception is an
                // operator's decision in the clients file.
                pkce_optional: false,
                require_par: false,
                require_dpop: false,
            };
            let new = NewClient {
                client,
                secret: Some(Secret::new(secret.clone())),
            };
            let new = match new.validate() {
                Ok(n) if !n.client.client_id.is_empty() && !n.client.name.is_empty() => n,
                Ok(_) => {
                    return page(
                        &p,
                        Some(bad(l
                            .pick(
                                "client_id と名前を入力してください。",
                                "Enter a client_id and a name.",
                            )
                            .into())),
                        StatusCode::BAD_REQUEST,
                    )
                    .await;
                }
                Err(e) => {
                    return page(
                        &p,
                        Some(bad(format!(
                            "{}: {e}",
                            l.pick("登録できません", "Cannot register")
                        ))),
                        StatusCode::BAD_REQUEST,
                    )
                    .await;
                }
            };
            store.upsert(new, "console", now).await.page(l)?;
            ("client.add", Some(secret))
        }
        ("add", Some(_)) => {
            return page(
                &p,
                Some(bad(l
                    .pick(
                        "その client_id はすでに登録されています。",
                        "That client_id is already registered.",
                    )
                    .into())),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
        ("rotate", Some(c)) => {
            let secret = new_token();
            store
                .upsert(again(&c, secret.clone()), "console", now)
                .await
                .page(l)?;
            ("client.rotate_secret", Some(secret))
        }
        ("remove", Some(c)) => {
            store.remove(&c.client_id).await.page(l)?;
            ("client.remove", None)
        }
        _ => return Err(PageError::NotFound(l)),
    };
    state
        .audit()
        .record_staff(
            None,
            &me.by(&reason),
            kind,
            json!({"client": f.client_id}),
            None,
            now,
        )
        .await
        .page(l)?;
    let top = html! {
        div.notice role="status" {
            p { (l.pick("変更し、監査ログに記録しました。", "Done, and recorded in the audit trail.")) }
            @if let Some(s) = &secret {
                p { (l.pick("client_secret（この画面でのみ表示します。連携サービスの設定に保存してください）：", "client_secret (shown only now; store it in the relying party's configuration):")) }
                p.secret data-client-secret { (s) }
            }
        }
    };
    page(&p, Some(top), StatusCode::OK).await
}
