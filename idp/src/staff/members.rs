//! `staff-members`: finding a member by user ID, 記号・番号, name (kanji or kana) or email, 20
//! a page. Each result links to the member's page (`data-member="USER_ID"`).

use super::{StaffPage, Viewer, layout};
use crate::error::{PageResult, PageResultExt};
use crate::pages::i18n::Text;
use crate::store::member_search::MemberQuery;
pub use crate::texts::staff::members::*;
use axum::extract::Query;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

const PAGE: i64 = 20;

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<i64>,
}

pub async fn home(_me: Viewer) -> Response {
    Redirect::to("/staff/members").into_response()
}

pub async fn get(StaffPage { state, ctx, me }: Viewer, Query(q): Query<SearchQuery>) -> PageResult {
    let query = MemberQuery::parse(&q.q);
    let page = q.page.unwrap_or(1).clamp(1, 10_000);
    let (rows, more) = if query.is_empty() {
        (Vec::new(), false)
    } else {
        state
            .members()
            .search(&query, (page - 1) * PAGE, PAGE)
            .await
            .page(ctx.lang)?
    };
    let link = |p: i64| {
        format!(
            "/staff/members?{}",
            serde_urlencoded::to_string([("q", q.q.as_str()), ("page", &p.to_string())])
                .unwrap_or_default()
        )
    };
    let l = ctx.lang;
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        form.chooser method="get" action="/staff/members" role="search" {
            div.field {
                label for="f-q" { (ctx.t(LABEL)) }
                span.hint id="f-q-hint" { (ctx.t(HINT)) }
                input id="f-q" type="search" name="q" value=(q.q) maxlength="100" aria-describedby="f-q-hint" autofocus;
            }
            button type="submit" { (ctx.t(LABEL)) }
        }
        @if !query.is_empty() && rows.is_empty() {
            p.empty { (ctx.t(NONE)) }
        }
        @if !rows.is_empty() {
            div.table-wrap tabindex="0" aria-label=(ctx.t(TITLE)) {
                table.stack {
                    thead { tr {
                        th { (l.pick("ユーザID", "User ID")) }
                        th { (l.pick("氏名", "Name")) }
                        th { (l.pick("記号・番号", "記号・番号")) }
                        th { (l.pick("状態", "State")) }
                    } }
                    tbody {
                        @for m in &rows {
                            tr {
                                td data-label=(l.pick("ユーザID", "User ID")) {
                                    a href=(format!("/staff/members/{}", urlencode(&m.user_id))) data-member=(m.user_id) { (m.user_id) }
                                }
                                td data-label=(l.pick("氏名", "Name")) { (m.name) br; span.small.muted { (m.name_kana) } }
                                td data-label="記号・番号" { (m.symbol) "-" (m.number) }
                                td data-label=(l.pick("状態", "State")) { (ctx.t(state_label(m))) }
                            }
                        }
                    }
                }
            }
            nav.months aria-label=(l.pick("ページ", "Pages")) {
                @if page > 1 { a href=(link(page - 1)) rel="prev" { (l.pick("前へ", "Previous")) } }
                span { (page) }
                @if more { a href=(link(page + 1)) rel="next" { (l.pick("次へ", "Next")) } }
            }
        }
    };
    Ok(layout::render(
        &state,
        &ctx,
        &me,
        "staff-members",
        ctx.t(TITLE),
        body,
    ))
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A member's state in one phrase.
pub fn state_label(m: &crate::store::members::Member) -> Text {
    if m.disabled_at.is_some() {
        Text("停止中", "Disabled")
    } else if m.onboarded_at.is_some() {
        Text("利用中", "Active")
    } else {
        Text("初回ログイン前", "Not signed in yet")
    }
}
