//! Page texts in Japanese and English. Each page keeps its own texts beside its code as
//! [`Text`] constants; the ones shared by many pages are here.

use kenpo_shared::Lang;

pub use crate::texts::pages::i18n::*;
pub use kenpo_shared::Text;

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
