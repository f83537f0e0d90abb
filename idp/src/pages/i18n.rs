//! Page texts in Japanese and English. Each page keeps its own texts beside its code as
//! [`Text`] constants; the ones shared by many pages are here.

use kenpo_shared::Lang;

/// A text in both languages: `Text(japanese, english)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text(pub &'static str, pub &'static str);

impl Text {
    pub fn get(self, lang: Lang) -> &'static str {
        lang.pick(self.0, self.1)
    }
}

pub const ERROR_TITLE: Text = Text("エラーが発生しました", "Something went wrong");
pub const NOT_FOUND_TITLE: Text = Text("ページが見つかりません", "Page not found");
pub const NOT_FOUND_BODY: Text = Text(
    "お探しのページは見つかりませんでした。URLをご確認ください。",
    "We could not find that page. Please check the address.",
);
pub const STALE_FORM: Text = Text(
    "画面の有効期限が切れました。お手数ですが、もう一度最初からお試しください。",
    "This page has expired. Please start again.",
);
pub const INTERNAL_ERROR: Text = Text(
    "一時的な問題が発生しました。しばらくしてからもう一度お試しください。",
    "A temporary problem occurred. Please try again in a few minutes.",
);
pub const REFERENCE: Text = Text("お問い合わせ番号", "reference");
pub const BACK_TO_START: Text = Text("最初に戻る", "Back to the start");
pub const NEXT: Text = Text("次へ", "Next");
pub const CANCEL: Text = Text("キャンセル", "Cancel");
pub const SIGN_OUT: Text = Text("ログアウト", "Sign out");
pub const ACCOUNT: Text = Text("アカウント設定", "Account");
pub const TOO_MANY: Text = Text(
    "試行回数が多すぎます。しばらく待ってからもう一度お試しください。",
    "Too many attempts. Please wait a moment and try again.",
);
pub const BAD_REQUEST: Text = Text(
    "リクエストの内容が正しくありません。もう一度お試しください。",
    "The request was not valid. Please try again.",
);
pub const SIGNIN_EXPIRED: Text = Text(
    "ログインの有効期限が切れました。お手数ですが、もう一度ログインしてください。",
    "Your sign-in has expired. Please sign in again.",
);
pub const BAD_CLIENT: Text = Text(
    "ログインを始めたサービスの設定に誤りがあるため、続けられません。元のサービスに戻ってやり直すか、サービスの運営者にお問い合わせください。",
    "The service that sent you here is not set up correctly, so sign-in cannot continue. Go back to it and try again, or contact its operator.",
);

/// Formats a wait in whole seconds or minutes, e.g. "30秒" / "2分".
pub fn wait_text(lang: Lang, secs: u64) -> String {
    match (lang, secs) {
        (Lang::Ja, s) if s < 60 => format!("{s}秒"),
        (Lang::Ja, s) => format!("{}分", s.div_ceil(60)),
        (Lang::En, s) if s < 60 => format!("{s} seconds"),
        (Lang::En, s) => format!("{} minutes", s.div_ceil(60)),
    }
}
