//! `staff-import` on the portal: a notice file (`medical`, `benefits`, `eligibility`) is checked
//! by the same importer as `portal import` in dry-run mode and shown as a line-numbered report;
//! a clean file waits in the short-lived store (30 minutes, this session only, taken once) for
//! the confirm, which imports it all or nothing. Below: the import history.

use super::{Staff, check_csrf};
use crate::error::{PageError, PageResultExt};
use crate::import::{self, EncodingChoice, ImportError, Kind, Options};
use crate::pages::i18n::Text;
use crate::pages::{Ctx, Frame};
use crate::state::AppState;
pub use crate::texts::staff::import::*;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use kenpo_shared::ephemeral::secs;
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Upload {
    session: String,
    kind: String,
    file_name: String,
    data: String,
}

fn upload_key(id: &str) -> String {
    format!("staff:upload:{id}")
}

fn kind_of(s: &str) -> Option<Kind> {
    match s {
        "medical" => Some(Kind::Medical),
        "benefits" => Some(Kind::Benefits),
        "eligibility" => Some(Kind::Eligibility),
        _ => None,
    }
}

pub async fn get(
    State(state): State<AppState>,
    ctx: Ctx,
    staff: Staff,
) -> Result<Response, PageError> {
    page(&state, &ctx, &staff, None, StatusCode::OK).await
}

async fn page(
    state: &AppState,
    ctx: &Ctx,
    staff: &Staff,
    top: Option<Markup>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let l = ctx.lang;
    let (history, by) = state
        .db
        .run(|c| {
            let list = crate::store::imports::latest(c, 20)?;
            let ids: Vec<String> = list.iter().map(|r| r.id.clone()).collect();
            let by = crate::store::imports::staff_of(c, &ids)?;
            Ok((list, by))
        })
        .await
        .page(l)?;
    let body = html! {
        div.member-bar {
            span { (staff.session.name) " (" (staff.session.email) ")" }
            form method="post" action="/staff/logout" {
                input type="hidden" name="csrf" value=(staff.session.csrf);
                button.link type="submit" { (l.pick("ログアウト", "Sign out")) }
            }
        }
        h1 { (ctx.t(TITLE)) }
        @if let Some(t) = top { (t) }
        @if staff.may_import() {
            form method="post" action="/staff/import/upload" enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(staff.session.csrf);
                div.field {
                    label for="f-kind" { (l.pick("種類", "Kind")) }
                    select id="f-kind" name="kind" {
                        option value="medical" { (l.pick("医療費のお知らせ", "Medical costs")) }
                        option value="benefits" { (l.pick("給付金のお知らせ", "Benefit payments")) }
                        option value="eligibility" { (l.pick("資格情報のお知らせ", "Eligibility")) }
                    }
                }
                div.field {
                    label for="f-file" { (l.pick("CSVファイル（UTF-8 または Shift_JIS）", "CSV file (UTF-8 or Shift_JIS)")) }
                    input id="f-file" type="file" name="file" accept=".csv,text/csv" required;
                }
                button.primary type="submit" { (l.pick("内容を確認する", "Check the file")) }
            }
        } @else {
            p { (ctx.t(NOT_ALLOWED)) }
        }
        h2 { (l.pick("取込履歴", "Import history")) }
        ul.plain {
            @for r in &history {
                li {
                    (r.kind) " — " (r.file_name) " — " (r.rows_imported) (l.pick(" 行、", " rows, ")) (r.households) (l.pick(" 世帯", " households"))
                    @if let Some(b) = by.iter().find(|b| b.import_id == r.id) { " — " (b.staff_email) "（" (b.reason) "）" }
                }
            }
            @if history.is_empty() { li.muted { (l.pick("まだありません。", "None yet.")) } }
        }
    };
    let mut res = ctx.render(
        state,
        Frame {
            title: ctx.t(TITLE),
            step: "staff-import",
            ..Frame::default()
        },
        body,
    );
    *res.status_mut() = status;
    Ok(res)
}

/// The page again with one message in `role="alert"` (nothing changed).
async fn refuse(
    state: &AppState,
    ctx: &Ctx,
    staff: &Staff,
    text: Text,
    status: StatusCode,
) -> Result<Response, PageError> {
    page(state, ctx, staff, Some(alert(ctx.t(text))), status).await
}

fn alert(text: &str) -> Markup {
    html! { (kenpo_shared::web::alert(text)) }
}

pub async fn upload(
    State(state): State<AppState>,
    ctx: Ctx,
    staff: Staff,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let l = ctx.lang;
    let (mut csrf, mut kind, mut file, mut file_name) =
        (String::new(), String::new(), None, String::new());
    while let Ok(Some(field)) = multipart.next_field().await {
        match field.name().unwrap_or("") {
            "csrf" => csrf = field.text().await.unwrap_or_default(),
            "kind" => kind = field.text().await.unwrap_or_default(),
            "file" => {
                file_name = field
                    .file_name()
                    .unwrap_or("notices.csv")
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(120)
                    .collect();
                file = field.bytes().await.ok();
            }
            _ => {}
        }
    }
    check_csrf(&staff, &csrf, l)?;
    if !staff.may_import() {
        return refuse(&state, &ctx, &staff, NOT_ALLOWED, StatusCode::FORBIDDEN).await;
    }
    let (Some(k), Some(bytes)) = (kind_of(&kind), file.filter(|b| !b.is_empty())) else {
        return page(
            &state,
            &ctx,
            &staff,
            Some(alert(l.pick(
                "種類とファイルを選んでください。",
                "Choose a kind and a file.",
            ))),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let opts = Options {
        encoding: EncodingChoice::Auto,
        dry_run: true,
        file_name: file_name.clone(),
    };
    match import::run(&state.db, k, &bytes, &opts, state.now(), state.today()).await {
        Ok(report) => {
            let id = random_id();
            let up = Upload {
                session: staff.id.clone(),
                kind,
                file_name,
                data: base64::engine::general_purpose::STANDARD.encode(&bytes),
            };
            state
                .eph
                .put_json(&upload_key(&id), &up, secs(1800))
                .await
                .page(l)?;
            let top = html! {
                div.notice role="status" {
                    p { (l.pick("ファイルに問題はありません。まだ保存されていません。", "The file is fine. Nothing is stored yet.")) }
                    p data-preview="report" { (report.to_string()) }
                }
                form method="post" action="/staff/import/confirm" {
                    input type="hidden" name="csrf" value=(staff.session.csrf);
                    input type="hidden" name="upload" value=(id);
                    div.field {
                        label for="f-reason" { (l.pick("理由（記録に残ります）", "Reason (kept in the record)")) }
                        input id="f-reason" type="text" name="reason" maxlength="200" required;
                    }
                    button.primary type="submit" name="confirm" value="yes" { (l.pick("この内容で取り込む", "Import this file")) }
                }
            };
            page(&state, &ctx, &staff, Some(top), StatusCode::OK).await
        }
        Err(ImportError::Invalid(errors)) => {
            let top = html! {
                div.alert role="alert" {
                    p { (ctx.t(INVALID)) }
                    ul { @for e in &errors { li { (row_text(&ctx, e)) } } }
                }
            };
            page(&state, &ctx, &staff, Some(top), StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(PageError::internal(l, e)),
    }
}

/// A row problem, with the Japanese explanation first on Japanese pages.
fn row_text(ctx: &Ctx, e: &crate::import::RowError) -> String {
    match ctx.lang {
        kenpo_shared::Lang::Ja => {
            let place = match &e.column {
                Some(c) => format!("{}行目（{c}）", e.line),
                None => format!("{}行目", e.line),
            };
            format!("{place}: {}", kenpo_shared::import_text::both(&e.message))
        }
        kenpo_shared::Lang::En => e.to_string(),
    }
}

fn random_id() -> String {
    crate::auth::session::random_token()
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    upload: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    reason: String,
}

pub async fn confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    staff: Staff,
    axum::Form(f): axum::Form<ConfirmForm>,
) -> Result<Response, PageError> {
    let l = ctx.lang;
    check_csrf(&staff, &f.csrf, l)?;
    if !staff.may_import() {
        return refuse(&state, &ctx, &staff, NOT_ALLOWED, StatusCode::FORBIDDEN).await;
    }
    if f.confirm != "yes" || f.upload.len() > 64 {
        return Err(PageError::BadRequest(l, crate::pages::i18n::STALE_FORM));
    }
    let reason: String = f
        .reason
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    if reason.trim().is_empty() {
        return refuse(
            &state,
            &ctx,
            &staff,
            REASON_MISSING,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let up: Option<Upload> = state.eph.take_json(&upload_key(&f.upload)).await.page(l)?;
    let Some(up) = up.filter(|u| u.session == staff.id) else {
        return refuse(&state, &ctx, &staff, EXPIRED, StatusCode::BAD_REQUEST).await;
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&up.data)
        .page(l)?;
    let kind = kind_of(&up.kind).ok_or(PageError::BadRequest(l, crate::pages::i18n::STALE_FORM))?;
    let opts = Options {
        encoding: EncodingChoice::Auto,
        dry_run: false,
        file_name: up.file_name.clone(),
    };
    match import::run(&state.db, kind, &bytes, &opts, state.now(), state.today()).await {
        Ok(report) => {
            let record = crate::store::imports::StaffImport {
                import_id: report.id.clone(),
                staff_sub: staff.session.sub.clone(),
                staff_email: staff.session.email.clone(),
                reason: reason.trim().to_string(),
                at: state.now(),
            };
            state
                .db
                .run(move |c| crate::store::imports::record_staff(c, &record))
                .await
                .page(l)?;
            tracing::info!(staff = %staff.session.email, %report, "notices imported by staff");
            let top = html! { div.notice role="status" { (report.to_string()) } };
            page(&state, &ctx, &staff, Some(top), StatusCode::OK).await
        }
        Err(ImportError::Invalid(errors)) => {
            let top = html! { div.alert role="alert" { p { (ctx.t(INVALID)) } ul { @for e in &errors { li { (row_text(&ctx, e)) } } } } };
            page(&state, &ctx, &staff, Some(top), StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(PageError::internal(l, e)),
    }
}
