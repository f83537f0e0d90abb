//! `enroll-totp`: setting up an authenticator app. A new secret is kept (sealed) in the
//! short-lived store while the member installs and scans — the same one on every reload, so a
//! code from an app that already scanned it keeps working — and stored for good only when a
//! valid code proves the app has it. Re-enrolling from the account page replaces the old
//! secret only at that moment.

use super::{Enrolling, FlowQuery, Mode, finish, frame, prepare, qr, way_out};
use crate::error::PageError;
use crate::mfa::{Factor, totp};
use crate::pages::forms::{self, Field, PageForm};
use crate::pages::i18n::Text;
use crate::pages::{Ctx, no_store};
use crate::security::request::Requester;
use crate::security::tokens::{b64url, b64url_decode};
use crate::signin::mfa::{CODE_LABEL, VERIFY};
use crate::state::AppState;
use crate::store::ephemeral::{EphResult, secs};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{PreEscaped, html};
use serde::{Deserialize, Serialize};

/// How long an unconfirmed secret is kept (time to install an app).
const PENDING_SECS: i64 = 3600;

const TITLE: Text = Text("認証アプリの設定", "Set up an authenticator app");
const STEP1: Text = Text("認証アプリを用意します", "Get an authenticator app");
const STEP1_PHONE: Text = Text(
    "スマートフォン：Google Authenticator または Microsoft Authenticator（どちらも無料）をインストールします。",
    "On a phone: install Google Authenticator or Microsoft Authenticator (both free).",
);
const STEP1_PC: Text = Text(
    "パソコン：Chrome の拡張機能「Authenticator」、Edge の拡張機能「Open Two-Factor Authenticator」も使えます（職場のパソコンでは拡張機能が使えない場合があります）。",
    "On a computer: the Chrome extension “Authenticator” or the Edge extension “Open Two-Factor Authenticator” also work (workplace computers may block extensions).",
);
const STEP2: Text = Text(
    "アプリで二次元コード（QRコード）を読み取ります",
    "Scan the QR code with the app",
);
const QR_LABEL: Text = Text(
    "認証アプリ用の二次元コード",
    "QR code for your authenticator app",
);
const OPEN_APP: Text = Text(
    "このスマートフォンの認証アプリで開く（読み取れないとき）",
    "Open in the authenticator app on this phone (if you cannot scan)",
);
const DOWNLOAD: Text = Text(
    "二次元コードを画像（PNG）で保存する",
    "Save the QR code as an image (PNG)",
);
const DOWNLOAD_HELP: Text = Text(
    "Edge の拡張機能では、保存した画像を「QRコードをスキャン」で選びます。",
    "In the Edge extension, choose the saved image with “Scan QR code”.",
);
const CANT_SCAN: Text = Text(
    "読み取れない場合（キーを入力する）",
    "Can't scan? Enter the key instead",
);
const ACCOUNT: Text = Text("アカウント名", "Account name");
const KEY: Text = Text("キー", "Key");
const KEY_TYPE: Text = Text("キーの種類", "Type of key");
const TIME_BASED: Text = Text("時間ベース", "Time based");
const KEY_HELP: Text = Text(
    "キーは読みやすいよう4文字ごとに区切っています。スペースは入力してもしなくてもかまいません。",
    "The key is shown in groups of four for reading; spaces may be left out.",
);
const STEP3: Text = Text(
    "アプリに表示された6桁の数字を入力します",
    "Enter the 6 digits the app shows",
);
const WRONG: Text = Text(
    "ワンタイムパスワードが正しくありません。アプリに表示されている最新の6桁を入力してください。合わない場合は、スマートフォンの日付と時刻が「自動設定」になっているかご確認ください。",
    "That code is not correct. Enter the latest 6 digits from the app. If it keeps failing, check that your phone sets its date and time automatically.",
);
const EXPIRED: Text = Text(
    "設定の有効期限が切れたため、新しい二次元コードを表示しました。アプリに登録し直してから入力してください。",
    "The set-up expired, so here is a new QR code. Add it to the app again, then enter the code.",
);

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/signin/enroll-totp", get(first_get).post(first_post))
        .route("/signin/enroll-totp/qr.png", get(first_png))
        .route("/account/enroll-totp", get(account_get).post(account_post))
        .route("/account/enroll-totp/qr.png", get(account_png))
}

#[derive(Serialize, Deserialize)]
struct Pending {
    sealed: String,
    expires_at: i64,
}

fn pending_key(member_id: &str) -> String {
    format!("totp:pending:{member_id}")
}

fn seal_context(member_id: &str) -> String {
    format!("totp-pending:{member_id}")
}

/// The unconfirmed secret of a member (created when `create` and none is live).
async fn pending_secret(
    state: &AppState,
    member_id: &str,
    create: bool,
    now: i64,
) -> EphResult<Option<Vec<u8>>> {
    let key = pending_key(member_id);
    if let Some(p) = state.eph.get_json::<Pending>(&key).await?
        && p.expires_at > now
        && let Some(secret) = b64url_decode(&p.sealed)
            .and_then(|sealed| state.sbox.open(&seal_context(member_id), &sealed).ok())
    {
        return Ok(Some(secret));
    }
    if !create {
        return Ok(None);
    }
    let secret = totp::new_secret();
    let sealed = state.sbox.seal(&seal_context(member_id), &secret);
    state
        .eph
        .put_json(
            &key,
            &Pending {
                sealed: b64url(&sealed),
                expires_at: now + PENDING_SECS,
            },
            secs(PENDING_SECS),
        )
        .await?;
    Ok(Some(secret))
}

/// The otpauth URI of a secret, with every parameter spelled out for older apps.
fn otpauth(state: &AppState, en: &Enrolling, secret: &[u8]) -> Result<String, String> {
    let t = totp::totp(secret, &state.config.mfa.totp_issuer, &en.member.user_id)?;
    let url = t.to_url().map_err(|e| e.to_string())?;
    Ok(format!("{url}&algorithm=SHA1&digits=6&period=30"))
}

fn page(
    state: &AppState,
    ctx: &Ctx,
    en: &Enrolling,
    secret: &[u8],
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let uri = match otpauth(state, en, secret) {
        Ok(u) => u,
        Err(e) => return PageError::internal(ctx.lang, e).into_response(),
    };
    let svg = match qr::svg(&uri, ctx.t(QR_LABEL)) {
        Ok(s) => s,
        Err(e) => return PageError::internal(ctx.lang, e).into_response(),
    };
    let action = en.mode.path(Factor::Totp);
    let png = match en.flow() {
        Some(f) => format!("{action}/qr.png?flow={f}"),
        None => format!("{action}/qr.png"),
    };
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
        ol.steps {
            li {
                h2 { (ctx.t(STEP1)) }
                p { (ctx.t(STEP1_PHONE)) }
                p.small { (ctx.t(STEP1_PC)) }
            }
            li {
                h2 { (ctx.t(STEP2)) }
                (PreEscaped(svg))
                p { a href=(uri) { (ctx.t(OPEN_APP)) } }
                p { a href=(png) download="kenpo-otp-qr.png" { (ctx.t(DOWNLOAD)) } }
                p.small { (ctx.t(DOWNLOAD_HELP)) }
                details {
                    summary { (ctx.t(CANT_SCAN)) }
                    dl.kv {
                        dt { (ctx.t(ACCOUNT)) }
                        dd { (en.member.user_id) }
                        dt { (ctx.t(KEY)) }
                        dd { code.secret data-totp-secret { (totp::grouped_base32(secret)) } }
                        dt { (ctx.t(KEY_TYPE)) }
                        dd { (ctx.t(TIME_BASED)) }
                    }
                    p.small { (ctx.t(KEY_HELP)) }
                }
            }
            li {
                h2 { (ctx.t(STEP3)) }
                form method="post" action=(action) novalidate {
                    (forms::csrf(&ctx.csrf))
                    (forms::flow(en.flow()))
                    (Field { autocomplete: "one-time-code", inputmode: Some("numeric"), class: Some("code"), maxlength: Some(20), error, ..Field::new("otp", ctx.t(CODE_LABEL)) }.render())
                    button.primary type="submit" { (ctx.t(VERIFY)) }
                }
            }
        }
        (way_out(ctx, en))
    };
    ctx.render_status(
        state,
        status,
        frame(ctx, en, Factor::Totp, TITLE, "enroll-totp", Vec::new()),
        body,
    )
}

async fn show(
    state: AppState,
    ctx: Ctx,
    headers: HeaderMap,
    mode: Mode,
    flow: Option<String>,
) -> Response {
    let now = state.now();
    let en = match prepare(&state, &headers, mode, Factor::Totp, flow.as_deref(), now).await {
        Ok(en) => en,
        Err(r) => return r,
    };
    match pending_secret(&state, &en.member.id, true, now).await {
        Ok(Some(secret)) => page(&state, &ctx, &en, &secret, None, StatusCode::OK),
        Ok(None) => PageError::internal(ctx.lang, "no pending secret").into_response(),
        Err(e) => PageError::internal(ctx.lang, e).into_response(),
    }
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    otp: String,
}

async fn confirm(
    state: AppState,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    mode: Mode,
    form: CodeForm,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&form.csrf) {
        return PageError::Forbidden(ctx.lang).into_response();
    }
    let en = match prepare(
        &state,
        &headers,
        mode,
        Factor::Totp,
        form.flow.as_deref(),
        now,
    )
    .await
    {
        Ok(en) => en,
        Err(r) => return r,
    };
    let secret = match pending_secret(&state, &en.member.id, false, now).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return match pending_secret(&state, &en.member.id, true, now).await {
                Ok(Some(s)) => page(
                    &state,
                    &ctx,
                    &en,
                    &s,
                    Some(ctx.t(EXPIRED)),
                    StatusCode::BAD_REQUEST,
                ),
                Ok(None) => PageError::internal(ctx.lang, "no pending secret").into_response(),
                Err(e) => PageError::internal(ctx.lang, e).into_response(),
            };
        }
        Err(e) => return PageError::internal(ctx.lang, e).into_response(),
    };
    let t = match totp::totp(&secret, &state.config.mfa.totp_issuer, &en.member.user_id) {
        Ok(t) => t,
        Err(e) => return PageError::internal(ctx.lang, e).into_response(),
    };
    let Some(step) = totp::matching_step(&t, &form.otp, now) else {
        return page(
            &state,
            &ctx,
            &en,
            &secret,
            Some(ctx.t(WRONG)),
            StatusCode::BAD_REQUEST,
        );
    };
    if let Err(e) = totp::enrol(&state.db, &state.sbox, &en.member.id, &secret, step, now).await {
        return PageError::internal(ctx.lang, e).into_response();
    }
    let _ = state.eph.delete(&pending_key(&en.member.id)).await;
    finish(&state, &ctx, &requester, en, Factor::Totp, None, now).await
}

async fn qr_png(
    state: AppState,
    ctx: Ctx,
    headers: HeaderMap,
    mode: Mode,
    flow: Option<String>,
) -> Response {
    let now = state.now();
    let en = match prepare(&state, &headers, mode, Factor::Totp, flow.as_deref(), now).await {
        Ok(en) => en,
        Err(r) => return r,
    };
    let secret = match pending_secret(&state, &en.member.id, false, now).await {
        Ok(Some(s)) => s,
        Ok(None) => return PageError::NotFound(ctx.lang).into_response(),
        Err(e) => return PageError::internal(ctx.lang, e).into_response(),
    };
    let png = match otpauth(&state, &en, &secret).and_then(|uri| qr::png(&uri)) {
        Ok(p) => p,
        Err(e) => return PageError::internal(ctx.lang, e).into_response(),
    };
    let mut res = png.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline; filename=\"kenpo-otp-qr.png\""),
    );
    no_store(&mut res);
    res
}

async fn first_get(
    State(s): State<AppState>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Response {
    show(s, ctx, h, Mode::FirstLogin, q.flow).await
}
async fn account_get(State(s): State<AppState>, ctx: Ctx, h: HeaderMap) -> Response {
    show(s, ctx, h, Mode::Account, None).await
}
async fn first_post(
    State(s): State<AppState>,
    ctx: Ctx,
    r: Requester,
    h: HeaderMap,
    PageForm(f): PageForm<CodeForm>,
) -> Response {
    confirm(s, ctx, r, h, Mode::FirstLogin, f).await
}
async fn account_post(
    State(s): State<AppState>,
    ctx: Ctx,
    r: Requester,
    h: HeaderMap,
    PageForm(f): PageForm<CodeForm>,
) -> Response {
    confirm(s, ctx, r, h, Mode::Account, CodeForm { flow: None, ..f }).await
}
async fn first_png(
    State(s): State<AppState>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Response {
    qr_png(s, ctx, h, Mode::FirstLogin, q.flow).await
}
async fn account_png(State(s): State<AppState>, ctx: Ctx, h: HeaderMap) -> Response {
    qr_png(s, ctx, h, Mode::Account, None).await
}
