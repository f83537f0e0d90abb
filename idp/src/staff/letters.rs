//! Invitation letters (letter mode): an A4 PDF, one member per page, with the union's name, the
//! member's name, user ID and invitation code, a QR code that opens the first-login page with
//! the user ID filled in, and short Japanese instructions. The Japanese font (BIZ UDGothic,
//! SIL Open Font License 1.1, `idp/fonts/OFL.txt`) is embedded, subset to the glyphs used.
//!
//! The codes exist in plain text only while the PDF is made: the response is the only copy
//! (`Cache-Control: no-store`), and making letters again makes new codes.

use super::{CsrfForm, Operator, StaffPage};
use crate::error::{PageError, PageResult, PageResultExt};
use crate::state::AppState;
use crate::store::audit::StaffRef;
use crate::store::invitations::InvitationStore;
use crate::store::members::Member;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use kenpo_shared::Lang;
use printpdf::{Color, IndirectFontRef, Mm, PdfDocument, PdfLayerReference, Rect, Rgb};
use serde::Deserialize;
use serde_json::json;

/// BIZ UDGothic Regular (OFL 1.1), embedded in the binary.
pub const FONT: &[u8] = include_bytes!("../../fonts/BIZUDGothic-Regular.ttf");

/// One page of the PDF (no `Debug`: it holds a code in plain text).
#[derive(Clone)]
pub struct Letter {
    pub name: String,
    pub user_id: String,
    /// As printed (`ABCDE-FGHJK`).
    pub code: String,
    /// The first-login page with the user ID filled in (the QR code's content).
    pub login_url: String,
}

/// What every page of one PDF shares.
#[derive(Debug, Clone)]
pub struct Sheet {
    pub sender: String,
    pub service_name: String,
    pub contact_email: String,
    pub issued: String,
    pub expires: String,
}

/// The first-login URL a letter's QR code opens.
pub fn login_url(state: &AppState, user_id: &str) -> String {
    let q = serde_urlencoded::to_string([("login_hint", user_id)]).unwrap_or_default();
    state.url(&format!("/login?{q}"))
}

fn date_ja(unix: i64) -> String {
    let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.to_offset(jst))
        .map(|t| format!("{}年{}月{}日", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_default()
}

pub fn sheet(state: &AppState, now: i64) -> Sheet {
    let c = &state.config;
    Sheet {
        sender: if c.onboarding.letter_sender.trim().is_empty() {
            c.union.service_name.clone()
        } else {
            c.onboarding.letter_sender.clone()
        },
        service_name: c.union.service_name.clone(),
        contact_email: c.union.contact_email.clone(),
        issued: date_ja(now),
        expires: date_ja(now + c.onboarding.invitation_days * 86_400),
    }
}

/// Splits text into lines of at most `width` columns (full-width characters count two).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    let mut cols = 0;
    for ch in text.chars() {
        let w = if ch.is_ascii() { 1 } else { 2 };
        // Japanese line breaking (kinsoku): closing punctuation never starts a line.
        if cols + w > width && !"。、）」』，．".contains(ch) {
            out.push(std::mem::take(&mut line));
            cols = 0;
        }
        line.push(ch);
        cols += w;
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

fn black() -> Color {
    Color::Rgb(Rgb::new(0.0, 0.0, 0.0, None))
}

/// Draws a QR code of `data` with its lower-left corner at (x, y), `size` mm wide.
fn draw_qr(layer: &PdfLayerReference, data: &str, x: f32, y: f32, size: f32) -> Result<(), String> {
    let code = qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| e.to_string())?;
    let n = code.width();
    let quiet = 4;
    let module = size / (n + 2 * quiet) as f32;
    let colors = code.to_colors();
    layer.set_fill_color(black());
    // One rectangle per horizontal run of dark modules (a third of the drawing operations).
    for row in 0..n {
        let mut col = 0;
        while col < n {
            if colors[row * n + col] != qrcode::Color::Dark {
                col += 1;
                continue;
            }
            let start = col;
            while col < n && colors[row * n + col] == qrcode::Color::Dark {
                col += 1;
            }
            let llx = x + (start + quiet) as f32 * module;
            let ury = y + size - (row + quiet) as f32 * module;
            layer.add_rect(Rect::new(
                Mm(llx),
                Mm(ury - module),
                Mm(llx + (col - start) as f32 * module),
                Mm(ury),
            ));
        }
    }
    Ok(())
}

fn page(
    layer: &PdfLayerReference,
    font: &IndirectFontRef,
    s: &Sheet,
    l: &Letter,
) -> Result<(), String> {
    let text = |t: &str, size: f32, x: f32, y: f32| layer.use_text(t, size, Mm(x), Mm(y), font);
    layer.set_fill_color(black());
    text(&format!("発行日　{}", s.issued), 10.0, 140.0, 280.0);
    text(&s.sender, 12.0, 20.0, 272.0);
    text(&format!("{} 様", l.name), 14.0, 20.0, 255.0);
    text(
        &format!("「{}」初回ログインのご案内", s.service_name),
        18.0,
        20.0,
        238.0,
    );
    let intro = format!(
        "組合のWebサービス「{}」で、医療費・給付金・資格情報のお知らせをご覧いただけます。下記のユーザIDと招待コードで、はじめてのログインをしてください。",
        s.service_name
    );
    let mut y = 226.0;
    for line in wrap(&intro, 80) {
        text(&line, 10.5, 20.0, y);
        y -= 6.0;
    }
    // The box with what the member types.
    y -= 6.0;
    text("ユーザID", 10.5, 24.0, y);
    text(&l.user_id, 16.0, 60.0, y);
    y -= 14.0;
    text("招待コード", 10.5, 24.0, y);
    text(&l.code, 20.0, 60.0, y);
    y -= 10.0;
    text(
        &format!("有効期限　{}　（一度だけ使えます）", s.expires),
        10.0,
        24.0,
        y,
    );
    draw_qr(layer, &l.login_url, 150.0, y - 6.0, 42.0)?;
    y -= 18.0;
    text("ログインの手順", 12.0, 20.0, y);
    y -= 8.0;
    let steps = [
        "1. スマートフォンで右上の二次元コードを読み取るか、パソコンで次のアドレスを開きます。".to_string(),
        format!("　　{}", l.login_url),
        "2. ユーザIDと招待コードを入力して「ログイン」を押します。招待コードはパスワード欄に入力してください。".into(),
        "3. 画面の案内に従って、生年月日の確認、利用規約への同意、メールアドレスの確認、認証方法（生体認証・認証アプリ・メール）と新しいパスワードの設定をします。".into(),
        "4. 設定が終わると、次回からは新しいパスワードと認証方法でログインできます。".into(),
    ];
    for step in &steps {
        for line in wrap(step, 84) {
            text(&line, 10.0, 20.0, y);
            y -= 5.6;
        }
        y -= 1.5;
    }
    y -= 4.0;
    let notes = [
        "・招待コードは一度だけ使えます。再発行すると、以前の招待コードは使えなくなります。"
            .to_string(),
        "・この案内状は他人に見せず、初回ログインが終わったら破棄してください。".into(),
        "・組合の職員が、電話やメールで招待コードやパスワードをお尋ねすることはありません。".into(),
        format!(
            "・お問い合わせはメールで：{}（ユーザID・パスワードのお問い合わせは電話ではお受けしていません）",
            s.contact_email
        ),
    ];
    for note in &notes {
        for line in wrap(note, 86) {
            text(&line, 9.5, 20.0, y);
            y -= 5.2;
        }
    }
    Ok(())
}

/// Renders the letters as one PDF (blocking: call it on a blocking thread).
pub fn render(sheet: &Sheet, letters: &[Letter]) -> Result<Vec<u8>, String> {
    let (doc, first_page, first_layer) =
        PdfDocument::new("ログインのご案内", Mm(210.0), Mm(297.0), "letter");
    let font = doc
        .add_external_font(std::io::Cursor::new(FONT))
        .map_err(|e| e.to_string())?;
    for (i, letter) in letters.iter().enumerate() {
        let layer = if i == 0 {
            doc.get_page(first_page).get_layer(first_layer)
        } else {
            let (p, l) = doc.add_page(Mm(210.0), Mm(297.0), "letter");
            doc.get_page(p).get_layer(l)
        };
        page(&layer, &font, sheet, letter)?;
    }
    doc.save_to_bytes().map_err(|e| e.to_string())
}

/// The PDF of `members` with their fresh codes, as a download.
pub async fn pdf_response(
    state: &AppState,
    members: &[(Member, String)],
    file_stem: &str,
    lang: Lang,
) -> PageResult {
    let sheet = sheet(state, state.now());
    let letters: Vec<Letter> = members
        .iter()
        .map(|(m, code)| Letter {
            name: m.name.clone(),
            user_id: m.user_id.clone(),
            code: crate::security::invitation::display(code),
            login_url: login_url(state, &m.user_id),
        })
        .collect();
    // Subsetting the font takes a moment; a few hundred pages are fine in one request.
    let bytes = tokio::task::spawn_blocking(move || render(&sheet, &letters))
        .await
        .page(lang)?
        .page(lang)?;
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_stem}.pdf\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::{Letter, Sheet, render, wrap};

    #[test]
    fn the_font_is_subset_and_pages_are_small() {
        let sheet = Sheet {
            sender: "けんぽ健康保険組合".into(),
            service_name: "けんぽWeb".into(),
            contact_email: "web@example.jp".into(),
            issued: "2026年12月3日".into(),
            expires: "2027年3月3日".into(),
        };
        let letter = |i: usize| Letter {
            name: "山田 太郎".into(),
            user_id: format!("user{i}"),
            code: "ABCDE-FGHJK".into(),
            login_url: format!("https://idp.example/login?login_hint=user{i}"),
        };
        let started = std::time::Instant::now();
        let one = render(&sheet, &[letter(0)]).unwrap();
        let fifty = render(&sheet, &(0..50).map(letter).collect::<Vec<_>>()).unwrap();
        eprintln!(
            "letters: 1 page {} bytes, 50 pages {} bytes, both in {:?} (debug build)",
            one.len(),
            fifty.len(),
            started.elapsed()
        );
        assert!(one.starts_with(b"%PDF"));
        // The whole font is 4.6 MB: embedded subset, a letter is a small fraction of it.
        assert!(one.len() < super::FONT.len() / 4, "{} bytes", one.len());
        assert!(
            fifty.len() < one.len() + 49 * 30_000,
            "pages share the one font"
        );
    }

    #[test]
    fn lines_wrap_by_width_and_punctuation_never_starts_one() {
        assert_eq!(wrap("abcdef", 4), vec!["abcd", "ef"]);
        assert_eq!(
            wrap("あいう", 4),
            vec!["あい", "う"],
            "full-width counts two"
        );
        assert_eq!(wrap("あい。", 4), vec!["あい。"], "。 stays on its line");
    }
}

#[derive(Deserialize)]
pub struct LettersForm {
    #[serde(default)]
    reason: String,
}

/// Letters for every member an import created who has not signed in yet (new codes for all
/// of them; earlier letters of theirs stop working).
pub async fn for_import(
    StaffPage { state, ctx, me }: Operator,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<LettersForm>,
) -> PageResult {
    let l = ctx.lang;
    if state.config.onboarding.first_login != crate::config::FirstLogin::Letter {
        return Err(PageError::BadRequest(
            l,
            crate::pages::i18n::Text(
                "招待状（letter）方式ではないため、招待状は作成できません。",
                "Invitation letters are not in use (onboarding.first_login is not `letter`).",
            ),
        ));
    }
    let store = InvitationStore::new(state.db.clone());
    store
        .import(&id)
        .await
        .page(l)?
        .ok_or(PageError::NotFound(l))?;
    let reason =
        super::layout::clean_reason(&form.reason).unwrap_or_else(|| "letters of an import".into());
    let now = state.now();
    let mut out = Vec::new();
    for member_id in store.letter_members(&id).await.page(l)? {
        let Some(m) = state.members().by_id(&member_id).await.page(l)? else {
            continue;
        };
        if !m.uses_initial_password() {
            continue;
        }
        let code = crate::security::invitation::issue(&state, &m, now)
            .await
            .page(l)?;
        audit_letter(&state, &m, &me.by(&reason), &id, now)
            .await
            .page(l)?;
        out.push((m, code));
    }
    if out.is_empty() {
        return Err(PageError::BadRequest(
            l,
            crate::pages::i18n::Text(
                "この取込で作成された会員のうち、招待状が必要な方（初回ログイン前の方）はいません。",
                "No member of this import still needs a letter.",
            ),
        ));
    }
    pdf_response(
        &state,
        &out,
        &format!("letters-{}", &id[..id.len().min(8)]),
        l,
    )
    .await
}

async fn audit_letter(
    state: &AppState,
    m: &Member,
    by: &StaffRef,
    import_id: &str,
    now: i64,
) -> crate::store::StoreResult<()> {
    state
        .audit()
        .record_staff(
            Some(&m.id),
            by,
            "letter.issue",
            json!({"import": import_id}),
            None,
            now,
        )
        .await
}
