//! Page texts in Japanese and English. Each page keeps its own texts beside its code as
//! [`Text`] constants; the ones shared by many pages are here.

use kenpo_shared::Lang;

pub use crate::texts::pages::i18n::*;
pub use kenpo_shared::Text;

/// Formats a wait in whole seconds or minutes, e.g. "30秒" / "2分".
pub fn wait_text(lang: Lang, secs: u64) -> String {
    match (lang, secs) {
        (Lang::Ja, s) if s < 60 => format!("{s}秒"),
        (Lang::Ja, s) => format!("{}分", s.div_ceil(60)),
        (Lang::En, s) if s < 60 => format!("{s} seconds"),
        (Lang::En, s) => format!("{} minutes", s.div_ceil(60)),
    }
}
