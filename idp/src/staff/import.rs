//! `staff-import`: members from a CSV, preview first, then confirm. The upload is checked with
//! the same parser and line-numbered report as `idp members import`; a clean file is kept in
//! the short-lived store (30 minutes, for this staff member only, taken once) until the
//! confirm, so nothing reaches the member table before it. The confirm imports all or nothing
//! and records the import, whose new members can then get their letters (letter mode).

use super::layout;
use super::{CsrfForm, Operator, Role, StaffPage, Viewer, check_csrf};
use crate::error::{PageError, PageResult, PageResultExt};
use crate::members_csv as csv_import;
use crate::pages::i18n::Text;
use crate::pages::{Ctx, forms};
use crate::state::AppState;
use crate::store::ephemeral::secs;
use crate::store::invitations::{ImportRow, InvitationStore};
pub use crate::texts::staff::import::*;
use axum::extract::Multipart;
use axum::http::StatusCode;
use base64::Engine;
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use serde_json::json;

const UPLOAD_TTL: i64 = 30 * 60;

#[derive(Serialize, Deserialize)]
struct Upload {
    staff_id: String,
    file_name: String,
    /// The file, base64.
    data: String,
}

fn upload_key(id: &str) -> String {
    format!("staff:upload:{id}")
}

pub async fn get(p: Viewer) -> PageResult {
    page(&p, None, StatusCode::OK).await
}

async fn page<const R: u8>(
    p: &StaffPage<R>,
    top: Option<Markup>,
    status: StatusCode,
) -> PageResult {
    let StaffPage { state, ctx, me } = p;
    let l = ctx.lang;
    let imports = InvitationStore::new(state.db.clone())
        .imports(20)
        .await
        .page(l)?;
    let letters = state.config.onboarding.first_login == crate::config::FirstLogin::Letter;
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        @if let Some(t) = top { (t) }
        @if me.may(Role::Operator) {
            form method="post" action="/staff/import/upload" enctype="multipart/form-data" {
                (forms::csrf(&ctx.csrf))
                div.field {
                    label for="f-kind" { (l.pick("種類", "Kind")) }
                    select id="f-kind" name="kind" { option value="members" selected { (l.pick("会員（ユーザID・記号・番号）", "Members")) } }
                }
                div.field {
                    label for="f-file" { (l.pick("CSVファイル（UTF-8、見出し行つき）", "CSV file (UTF-8, with a header row)")) }
                    span.hint.break-all id="f-file-hint" { "user_id,symbol,number,birthdate,name,name_kana,email" }
                    input id="f-file" type="file" name="file" accept=".csv,text/csv" required aria-describedby="f-file-hint";
                }
                button.primary type="submit" { (l.pick("内容を確認する", "Check the file")) }
            }
            p.small { (l.pick("確認画面で内容を確かめてから取り込みます。この段階では何も保存されません。", "You see a preview first; nothing is stored until you confirm.")) }
        }
        h2 { (l.pick("取込履歴", "Import history")) }
        @if imports.is_empty() { p.muted { (l.pick("まだありません。", "None yet.")) } }
        ul.plain {
            @for i in &imports {
                li {
                    (layout::when(l, i.at)) " — " (i.file_name) " — "
                    (l.pick("新規 ", "created ")) (i.created) (l.pick("件、更新 ", ", updated ")) (i.updated) (l.pick("件", ""))
                    @if letters && me.may(Role::Operator) && i.created > 0 {
                        form method="post" action=(format!("/staff/letters/import/{}", i.id)) {
                            (forms::csrf(&ctx.csrf))
                            input type="hidden" name="reason" value="letters of an import";
                            button.secondary type="submit" { (l.pick("招待状（PDF）を作成", "Make the letters (PDF)")) }
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
        "staff-import",
        ctx.t(TITLE),
        body,
    ))
}

/// The page again with one message in `role="alert"` (nothing changed).
async fn refuse<const R: u8>(p: &StaffPage<R>, text: Text, status: StatusCode) -> PageResult {
    let alert = kenpo_shared::web::alert(p.ctx.t(text));
    page(p, Some(alert), status).await
}

fn report(ctx: &Ctx, errors: &[String]) -> Markup {
    html! {
        div.alert role="alert" {
            p { (ctx.t(INVALID)) }
            ul { @for e in errors { li { (e) } } }
        }
    }
}

/// A row problem in Japanese-first words (the CLI's English text follows the line number).
fn line_text(ctx: &Ctx, e: &csv_import::RowError) -> String {
    let place = match e.column {
        Some(c) => ctx
            .lang
            .pick(
                &format!("{}行目（{c}）", e.line),
                &format!("line {}, column {c}", e.line),
            )
            .to_string(),
        None => ctx
            .lang
            .pick(&format!("{}行目", e.line), &format!("line {}", e.line))
            .to_string(),
    };
    let message = match ctx.lang {
        kenpo_shared::Lang::Ja => kenpo_shared::import_text::both(&e.message),
        kenpo_shared::Lang::En => e.message.clone(),
    };
    format!("{place}: {message}")
}

pub async fn upload(p: Operator, mut multipart: Multipart) -> PageResult {
    let StaffPage { state, ctx, me } = &p;
    let l = ctx.lang;
    let (mut csrf, mut kind, mut file, mut file_name) =
        (String::new(), String::new(), None, String::new());
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                return refuse(&p, TOO_BIG, StatusCode::PAYLOAD_TOO_LARGE).await;
            }
        };
        match field.name().unwrap_or("") {
            "csrf" => csrf = field.text().await.unwrap_or_default(),
            "kind" => kind = field.text().await.unwrap_or_default(),
            "file" => {
                file_name = field
                    .file_name()
                    .unwrap_or("members.csv")
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(120)
                    .collect();
                match field.bytes().await {
                    Ok(b) => file = Some(b),
                    Err(_) => {
                        return refuse(&p, TOO_BIG, StatusCode::PAYLOAD_TOO_LARGE).await;
                    }
                }
            }
            _ => {}
        }
    }
    check_csrf(&ctx.csrf, &csrf, l)?;
    if kind != "members" {
        return refuse(&p, BAD_KIND, StatusCode::BAD_REQUEST).await;
    }
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        return refuse(&p, NO_FILE, StatusCode::BAD_REQUEST).await;
    };
    let rows = match csv_import::parse(&bytes, csv_import::today_jst(state.now())) {
        Ok(rows) => rows,
        Err(errors) => {
            let lines: Vec<String> = errors.iter().map(|e| line_text(ctx, e)).collect();
            return page(&p, Some(report(ctx, &lines)), StatusCode::BAD_REQUEST).await;
        }
    };
    let mut new = 0;
    for r in &rows {
        if state
            .members()
            .by_user_id(&r.member.user_id)
            .await
            .page(l)?
            .is_none()
        {
            new += 1;
        }
    }
    let id = crate::security::tokens::new_id();
    let upload = Upload {
        staff_id: me.account.id.clone(),
        file_name: file_name.clone(),
        data: base64::engine::general_purpose::STANDARD.encode(&bytes),
    };
    state
        .eph
        .put_json(&upload_key(&id), &upload, secs(UPLOAD_TTL))
        .await
        .page(l)?;
    let preview = html! {
        div.notice role="status" {
            p { (l.pick("ファイルに問題はありません。まだ保存されていません。", "The file is fine. Nothing is stored yet.")) }
            dl.kv {
                dt { (l.pick("ファイル", "File")) } dd { (file_name) }
                dt { (l.pick("行数", "Rows")) } dd data-preview="rows" { (rows.len()) }
                dt { (l.pick("新規", "New")) } dd data-preview="new" { (new) }
                dt { (l.pick("更新", "Updated")) } dd data-preview="updated" { (rows.len() - new) }
            }
        }
        form method="post" action="/staff/import/confirm" {
            (forms::csrf(&ctx.csrf))
            input type="hidden" name="upload" value=(id);
            (layout::reason_field(ctx, "import", None))
            button.primary type="submit" name="confirm" value="yes" { (l.pick("この内容で取り込む", "Import these members")) }
        }
    };
    page(&p, Some(preview), StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    upload: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    reason: String,
}

pub async fn confirm(p: Operator, CsrfForm(form): CsrfForm<ConfirmForm>) -> PageResult {
    let StaffPage { state, ctx, me } = &p;
    let l = ctx.lang;
    if form.confirm != "yes" || form.upload.is_empty() || form.upload.len() > 64 {
        return Err(PageError::BadRequest(l, crate::pages::i18n::BAD_REQUEST));
    }
    let Some(reason) = layout::clean_reason(&form.reason) else {
        return refuse(&p, layout::REASON_MISSING, StatusCode::BAD_REQUEST).await;
    };
    let upload: Option<Upload> = state
        .eph
        .take_json(&upload_key(&form.upload))
        .await
        .page(l)?;
    let Some(upload) = upload.filter(|u| u.staff_id == me.account.id) else {
        return refuse(&p, EXPIRED, StatusCode::BAD_REQUEST).await;
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&upload.data)
        .page(l)?;
    let now = state.now();
    match import_members(state, &bytes, &upload.file_name, &me.by(&reason), now)
        .await
        .page(l)?
    {
        Ok(done) => {
            let letters = state.config.onboarding.first_login == crate::config::FirstLogin::Letter;
            let msg = html! {
                div.notice role="status" {
                    (l.pick(&format!("取り込みました：新規 {} 件、更新 {} 件。", done.created, done.updated), &format!("Imported: {} created, {} updated.", done.created, done.updated)))
                    @if letters && done.created > 0 { " " (l.pick("新しい会員の招待状は、下の取込履歴から作成できます。", "Make the new members' letters from the history below.")) }
                }
            };
            page(&p, Some(msg), StatusCode::OK).await
        }
        Err(lines) => {
            let lines: Vec<String> = lines.iter().map(|e| line_text(ctx, e)).collect();
            page(&p, Some(report(ctx, &lines)), StatusCode::BAD_REQUEST).await
        }
    }
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct Imported {
    pub id: String,
    pub created: usize,
    pub updated: usize,
}

/// Checks and imports a members file (all or nothing), records the import and audits it: the
/// service behind the console's confirm and `idp members import`. Problems come back as
/// line-numbered rows; nothing is stored then.
pub async fn import_members(
    state: &AppState,
    bytes: &[u8],
    file_name: &str,
    by: &crate::store::audit::StaffRef,
    now: i64,
) -> crate::store::StoreResult<Result<Imported, Vec<csv_import::RowError>>> {
    let rows = match csv_import::parse(bytes, csv_import::today_jst(now)) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
    let result = state
        .members()
        .import_detailed(rows.into_iter().map(|r| r.member).collect(), now)
        .await?;
    let (summary, members) = match result {
        Ok(x) => x,
        Err(conflicts) => {
            return Ok(Err(conflicts
                .into_iter()
                .map(|c| csv_import::RowError {
                    line: lines.get(c.index).copied().unwrap_or(0),
                    column: Some("number"),
                    message: c.message,
                })
                .collect()));
        }
    };
    let id = uuid::Uuid::now_v7().to_string();
    InvitationStore::new(state.db.clone())
        .record_import(
            ImportRow {
                id: id.clone(),
                staff_id: by.staff_id.clone(),
                file_name: file_name.to_string(),
                created: summary.created as i32,
                updated: summary.updated as i32,
                at: now,
            },
            members,
        )
        .await?;
    state
        .audit()
        .record_staff(
            None,
            by,
            "members.import",
            json!({"import": id, "file": file_name, "created": summary.created, "updated": summary.updated}),
            None,
            now,
        )
        .await?;
    Ok(Ok(Imported {
        id,
        created: summary.created,
        updated: summary.updated,
    }))
}
