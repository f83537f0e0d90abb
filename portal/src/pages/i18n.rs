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
    "画面の有効期限が切れました。お手数ですが、もう一度お試しください。",
    "This page has expired. Please try again.",
);
pub const INTERNAL_ERROR: Text = Text(
    "一時的な問題が発生しました。しばらくしてからもう一度お試しください。",
    "A temporary problem occurred. Please try again in a few minutes.",
);
pub const IDP_UNAVAILABLE: Text = Text(
    "ログインの仕組みに一時的につながりません。しばらくしてからもう一度お試しください。",
    "The sign-in service cannot be reached right now. Please try again in a few minutes.",
);
pub const REFERENCE: Text = Text("お問い合わせ番号", "reference");
pub const BACK_HOME: Text = Text("トップページに戻る", "Back to the start page");
pub const SIGN_IN: Text = Text("ログイン", "Sign in");
pub const SIGN_OUT: Text = Text("ログアウト", "Sign out");
pub const HOME: Text = Text("ホーム", "Home");
pub const MEDICAL: Text = Text("医療費", "Medical costs");
pub const BENEFITS: Text = Text("給付金", "Benefits");
pub const ELIGIBILITY: Text = Text("資格情報", "Eligibility");
pub const ACCOUNT: Text = Text("アカウント設定", "Account settings");
pub const MEDICAL_TITLE: Text = Text("医療費のお知らせ", "Medical costs");
pub const BENEFITS_TITLE: Text = Text("給付金のお知らせ", "Benefit payments");
pub const ELIGIBILITY_TITLE: Text = Text("資格情報のお知らせ", "Eligibility information");
pub const DEDUCTION_TITLE: Text = Text(
    "医療費控除用の明細",
    "Statement for the medical-expense deduction",
);
pub const PRINT: Text = Text("印刷する", "Print");
pub const EVERYONE: Text = Text("家族全員", "Whole household");
pub const PERSON: Text = Text("対象者", "Person");
pub const SHOW: Text = Text("表示する", "Show");
pub const YEAR: Text = Text("年", "Year");
pub const INSURED: Text = Text("本人", "Insured person");
pub const DEPENDANT: Text = Text("家族", "Dependant");

/// `2025年` / `2025`.
pub fn year_label(year: i32, lang: Lang) -> String {
    match lang {
        Lang::Ja => format!("{year}年"),
        Lang::En => year.to_string(),
    }
}

/// `医療費のお知らせ（2025年）` / `Medical costs (2025)`.
pub fn with_year(title: &str, year: i32, lang: Lang) -> String {
    match lang {
        Lang::Ja => format!("{title}（{year}年）"),
        Lang::En => format!("{title} ({year})"),
    }
}
