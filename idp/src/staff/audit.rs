//! `staff-audit`: the audit trail, searchable by member (user ID), staff member (email) or kind
//! (`q`: a user ID, a staff email, or a kind such as `member.unlock` or `staff.`), newest
//! first, 50 a page.

use super::{StaffPage, Viewer, layout};
use crate::error::{PageResult, PageResultExt};
use crate::store::audit::AuditQuery;
use crate::store::staff::StaffStore;
pub use crate::texts::staff::audit::*;
use axum::extract::Query;
use kenpo_shared::ids::UserId;
use maud::html;
use serde::Deserialize;
use std::collections::HashMap;

const PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct AuditSearch {
    #[serde(default)]
    q: String,
    #[serde(default)]
    member: Option<String>,
    #[serde(default)]
    before: Option<i64>,
}

pub async fn get(StaffPage { state, ctx, me }: Viewer, Query(s): Query<AuditSearch>) -> PageResult {
    let l = ctx.lang;
    let text = s.member.clone().unwrap_or_else(|| s.q.clone());
    let text = kenpo_shared::ids::normalize(text.trim());
    let staff = StaffStore::new(state.db.clone());
    let mut query = AuditQuery {
        before_id: s.before,
        ..AuditQuery::default()
    };
    let mut unknown = false;
    if !text.is_empty() {
        if text.contains('@') {
            match staff.by_email(&text).await.page(l)? {
                Some(a) => query.staff_id = Some(a.id),
                None => unknown = true,
            }
        } else if text.contains('.') {
            query.kind_prefix = Some(text.chars().take(40).collect());
        } else {
            match UserId::parse(&text).ok() {
                Some(u) => match state.members().by_user_id(&u).await.page(l)? {
                    Some(m) => query.member_id = Some(m.id),
                    None => unknown = true,
                },
                None => unknown = true,
            }
        }
    }
    let events = if unknown {
        Vec::new()
    } else {
        state.audit().search(&query, PAGE).await.page(l)?
    };
    let names: HashMap<String, String> = staff
        .list()
        .await
        .page(l)?
        .into_iter()
        .map(|a| (a.id, a.email))
        .collect();
    let mut users: HashMap<String, String> = HashMap::new();
    for e in &events {
        if let Some(id) = &e.member_id
            && !users.contains_key(id)
            && let Some(m) = state.members().by_id(id).await.page(l)?
        {
            users.insert(id.clone(), m.user_id);
        }
    }
    let older = events
        .last()
        .filter(|_| events.len() as i64 == PAGE)
        .map(|e| {
            format!(
                "/staff/audit?{}",
                serde_urlencoded::to_string([("q", text.as_str()), ("before", &e.id.to_string())])
                    .unwrap_or_default()
            )
        });
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        form.chooser method="get" action="/staff/audit" role="search" {
            div.field {
                label for="f-q" { (l.pick("検索", "Search")) }
                span.hint id="f-q-hint" { (ctx.t(HINT)) }
                input id="f-q" type="search" name="q" value=(text) maxlength="100" aria-describedby="f-q-hint";
            }
            button type="submit" { (l.pick("検索", "Search")) }
        }
        @if events.is_empty() { p.empty { (l.pick("該当する記録はありません。", "No entries.")) } }
        @else {
            div.table-wrap tabindex="0" aria-label=(ctx.t(TITLE)) {
                table.stack {
                    thead { tr {
                        th { (l.pick("日時", "When")) } th { (l.pick("種類", "Kind")) }
                        th { (l.pick("会員", "Member")) } th { (l.pick("実行者", "By")) }
                        th { (l.pick("理由", "Reason")) } th { (l.pick("詳細", "Detail")) }
                    } }
                    tbody {
                        @for e in &events {
                            tr {
                                td data-label=(l.pick("日時", "When")) { (layout::when(l, e.at)) }
                                td data-label=(l.pick("種類", "Kind")) { (e.kind) }
                                td data-label=(l.pick("会員", "Member")) { (e.member_id.as_ref().and_then(|m| users.get(m)).map(String::as_str).unwrap_or("—")) }
                                td data-label=(l.pick("実行者", "By")) {
                                    (e.staff_id.as_ref().and_then(|s| names.get(s)).map(String::as_str).unwrap_or(&e.actor))
                                }
                                td data-label=(l.pick("理由", "Reason")) { (e.reason.as_deref().unwrap_or("")) }
                                td.wide.small.break-all data-label=(l.pick("詳細", "Detail")) { (e.detail) }
                            }
                        }
                    }
                }
            }
            @if let Some(href) = older { p { a href=(href) { (l.pick("さらに古い記録", "Older entries")) } } }
        }
    };
    Ok(layout::render(
        &state,
        &ctx,
        &me,
        "staff-audit",
        ctx.t(TITLE),
        body,
    ))
}
