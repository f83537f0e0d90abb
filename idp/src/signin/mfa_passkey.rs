//! `mfa-passkey`: a passkey as the second factor (or step-up), and what every passkey page
//! shares: the phone (hybrid) explanation of the union's guide, and the member-facing
//! message of a failed ceremony. The ceremony itself is `mfa::passkey`.

use crate::error::PageError;
use crate::mfa::Factor;
use crate::mfa::passkey::{self, Owner, PasskeyError};
use crate::pages::Ctx;
use crate::pages::i18n::Text;
use crate::pages::script::{ScriptError, follow, json_ok};
use crate::signin::second_factor::{Asked, NextQuery};
use crate::signin::session::Current;
use crate::signin::visit::{Visiting, VisitingScript};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kenpo_shared::Lang;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::PublicKeyCredential;

const TITLE: Text = Text("パスキーで認証", "Verify with your passkey");
const HELP: Text = Text(
    "「パスキーで認証する」を押し、登録した端末の顔認証・指紋認証・画面ロックで確認してください。",
    "Press “Verify with passkey” and confirm with the face, fingerprint or screen lock of the device you registered.",
);
pub const BUTTON: Text = Text("パスキーで認証する", "Verify with passkey");
pub const PHONE_HELP_TITLE: Text = Text(
    "パソコンでスマートフォンのパスキーを使うには",
    "Using your phone's passkey on a computer",
);
pub const PHONE_HELP: [Text; 3] = [
    Text(
        "表示された画面で「iPhone、iPad、またはAndroidデバイス」または「スマートフォンまたはタブレットを使用」を選びます。",
        "In the window that opens, choose “iPhone, iPad or Android device” or “Use a phone or tablet”.",
    ),
    Text(
        "パソコンに表示された二次元コード（QRコード）を、スマートフォンのカメラで読み取ります。",
        "Scan the QR code shown on the computer with your phone's camera.",
    ),
    Text(
        "パソコンとスマートフォンの両方でBluetoothをオンにして、近くに置いてください。",
        "Turn Bluetooth on on both the computer and the phone, and keep them close together.",
    ),
];
pub const NEEDS_SCRIPT: Text = Text(
    "パスキーを使うには、ブラウザのJavaScriptを有効にしてください。",
    "Passkeys need JavaScript to be turned on in your browser.",
);
pub const CEREMONY_EXPIRED: Text = Text(
    "時間切れになったため、確認できませんでした。もう一度ボタンを押してください。",
    "The request timed out. Please press the button again.",
);
pub const PASSKEY_REFUSED: Text = Text(
    "パスキーを確認できませんでした。もう一度お試しください。うまくいかない場合は別の方法をお選びください。",
    "Your passkey could not be verified. Please try again, or use another method.",
);
pub const PASSKEY_UNKNOWN: Text = Text(
    "このパスキーは登録されていません（削除されたか、別のサービスのものです）。登録済みの別のパスキーか、別の方法をお選びください。",
    "This passkey is not registered here (it was removed, or belongs to another service). Use another passkey or another method.",
);
pub const PASSKEY_CLONED: Text = Text(
    "安全のため、このパスキーは使用できません。別の方法でログインし、アカウント設定でパスキーを登録し直してください。",
    "For your safety this passkey cannot be used. Sign in another way and register the passkey again on your account page.",
);

/// The member-facing message of a failed ceremony (logged when it is not the member's doing).
pub fn passkey_failure(lang: Lang, e: PasskeyError) -> ScriptError {
    let (status, text) = match &e {
        PasskeyError::Expired => (StatusCode::BAD_REQUEST, CEREMONY_EXPIRED),
        PasskeyError::UnknownCredential => (StatusCode::UNAUTHORIZED, PASSKEY_UNKNOWN),
        PasskeyError::CounterRegression => (StatusCode::UNAUTHORIZED, PASSKEY_CLONED),
        PasskeyError::Refused(why) => {
            tracing::info!(reason = %why, "passkey response refused");
            (StatusCode::UNAUTHORIZED, PASSKEY_REFUSED)
        }
        PasskeyError::NoPasskey | PasskeyError::Duplicate => {
            (StatusCode::BAD_REQUEST, PASSKEY_REFUSED)
        }
        PasskeyError::Store(_) | PasskeyError::Ephemeral(_) | PasskeyError::Encode(_) => {
            return ScriptError::Page(PageError::internal(lang, e));
        }
    };
    ScriptError::Refused(status, text.get(lang).to_string())
}

/// The phone / tablet (hybrid) explanation, as the union's guide gives it.
pub fn phone_help(ctx: &Ctx) -> Markup {
    html! {
        details.phone-help {
            summary { (ctx.t(PHONE_HELP_TITLE)) }
            ol { @for t in PHONE_HELP { li { (ctx.t(t)) } } }
        }
    }
}

/// Who a ceremony belongs to: the member, in this very session.
pub fn owner(current: &Current) -> Owner {
    Owner {
        member_id: current.session.member_id.clone(),
        sid: current.session.sid.clone(),
    }
}

fn page(state: &AppState, asked: &Asked) -> Response {
    let ctx = asked.ctx();
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        (asked.intro())
        p { (ctx.t(HELP)) }
        form.passkey method="post" action="/signin/mfa-passkey/finish"
            data-options="/signin/mfa-passkey/options" data-finish="/signin/mfa-passkey/finish" {
            (asked.hidden())
            div.passkey-status role="alert" aria-live="assertive" {}
            button.primary type="button" data-action="passkey-authenticate" { (ctx.t(BUTTON)) }
        }
        noscript { (kenpo_shared::web::alert(ctx.t(NEEDS_SCRIPT))) }
        (phone_help(ctx))
        (asked.other_methods(Factor::Passkey))
    };
    ctx.render(
        state,
        asked.frame(TITLE, "mfa-passkey", vec!["/static/passkey.js"]),
        body,
    )
}

pub async fn get(
    State(state): State<AppState>,
    Visiting(v, q): Visiting<NextQuery>,
) -> Result<Response, PageError> {
    let asked = Asked::enter(&state, v, q.next.as_deref(), Factor::Passkey).await?;
    Ok(page(&state, &asked))
}

#[derive(Deserialize)]
pub struct AssertionRequest {
    #[serde(default)]
    ceremony: String,
    credential: PublicKeyCredential,
}

pub async fn options(
    State(state): State<AppState>,
    VisitingScript(v, req): VisitingScript<serde_json::Value>,
) -> Result<Response, ScriptError> {
    let asked = Asked::enter(&state, v, req.field("next"), Factor::Passkey).await?;
    let v = &asked.visit;
    let (ceremony, options) =
        passkey::start_second_factor(&state, &v.member, owner(&v.current), v.now)
            .await
            .map_err(|e| passkey_failure(v.lang(), e))?;
    Ok(json_ok(json!({"ceremony": ceremony, "options": options})))
}

pub async fn finish(
    State(state): State<AppState>,
    VisitingScript(v, req): VisitingScript<AssertionRequest>,
) -> Result<Response, ScriptError> {
    let asked = Asked::enter(&state, v, req.field("next"), Factor::Passkey).await?;
    let v = &asked.visit;
    let ip = v.requester.ip.to_string();
    passkey::finish_second_factor(
        &state,
        owner(&v.current),
        &req.body.ceremony,
        &req.body.credential,
        &ip,
        v.now,
    )
    .await
    .map_err(|e| passkey_failure(v.lang(), e))?;
    let next = asked.complete(&state, &["hwk", "user"]).await?;
    Ok(follow(next.into_response()))
}
