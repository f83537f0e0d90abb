//! Japanese wording for the row problems of imports. The importers' messages are English (the
//! command line and the logs read them); the staff consoles show this Japanese explanation
//! first and keep the exact English message after it.

/// (part of an English message, its Japanese explanation), most specific first.
const HINTS: [(&str, &str); 22] = [
    (
        "already belongs to user ID",
        "この記号・番号は、別のユーザIDの会員に登録済みです",
    ),
    ("also appears on line", "ファイル内の別の行と重複しています"),
    ("duplicate row", "ファイル内の別の行と重複しています"),
    ("missing column", "見出し行にこの列がありません"),
    ("unknown column", "見出し行に使えない列名があります"),
    ("fields, the header has", "項目の数が見出し行と合いません"),
    (
        "not UTF-8",
        "文字コードが UTF-8 ではありません（UTF-8 で保存し直してください）",
    ),
    (
        "unreadable",
        "この行を読み取れません（引用符や区切りをご確認ください）",
    ),
    ("no member rows", "会員の行がありません"),
    ("empty", "空欄です"),
    ("only digits are allowed", "数字だけで入力してください"),
    ("two digits", "2桁の数字で入力してください"),
    ("too long", "長すぎます"),
    ("is longer than", "長すぎます"),
    ("spaces or control characters", "空白や制御文字は使えません"),
    ("control characters", "制御文字は使えません"),
    ("is not a date", "日付（YYYY-MM-DD）として読めません"),
    ("not a date", "日付（YYYY-MM-DD）として読めません"),
    ("not a month", "年月（YYYY-MM）として読めません"),
    ("in the future", "未来の日付です"),
    (
        "is not an email address",
        "メールアドレスとして正しくありません",
    ),
    ("whole yen", "金額（円、整数）として読めません"),
];

/// The Japanese explanation of an importer's message, when one is known.
pub fn ja(message: &str) -> Option<&'static str> {
    HINTS
        .iter()
        .find(|(en, _)| message.contains(en))
        .map(|(_, ja)| *ja)
}

/// `日本語の説明（English message）`, or the message alone.
pub fn both(message: &str) -> String {
    match ja(message) {
        Some(j) => format!("{j}（{message}）"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_messages_are_explained_in_japanese() {
        assert_eq!(
            ja("only digits are allowed"),
            Some("数字だけで入力してください")
        );
        assert!(both("`x` is not an email address").starts_with("メールアドレス"));
        assert_eq!(both("something new"), "something new");
        assert_eq!(
            ja("`taro` also appears on line 2"),
            Some("ファイル内の別の行と重複しています")
        );
    }
}
