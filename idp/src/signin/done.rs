//! The `done` page: shown when a sign-in finishes without a relying party to return to.

use crate::error::PageResult;
use crate::pages::{Frame, i18n};
use crate::signin::steps::Step;
use crate::signin::visit::Visiting;
use crate::state::AppState;
use axum::extract::State;
use maud::html;

pub async fn get(State(state): State<AppState>, Visiting(v, _): Visiting) -> PageResult {
    let v = v.owing(&state, |s| s == Step::Done).await?;
    let ctx = &v.ctx;
    let body = html! {
        h1 { (ctx.lang.pick("ログインが完了しました", "You are signed in")) }
        (kenpo_shared::web::notice(ctx.lang.pick("設定はすべて完了しています。", "Everything is set up.")))
        div.actions {
            a.button href="/account" { (ctx.t(i18n::ACCOUNT)) }
        }
    };
    Ok(ctx.render(
        &state,
        Frame {
            title: ctx.lang.pick("ログイン完了", "Signed in"),
            step: Some("done"),
            ..Frame::default()
        },
        body,
    ))
}
