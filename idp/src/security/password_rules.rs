//! The rules a new password must meet (SPEC, guide): 8–64 characters with at least one ASCII
//! upper-case letter, lower-case letter, digit and symbol; not the initial password; not
//! containing the user ID, the birthdate or the 記号・番号 of the insurance card; not on the
//! list of common and breached passwords (`security::common_passwords`, issue 14). Each failed rule is named to the member in plain
//! words, all at once, so they can fix everything in one go.

use crate::pages::i18n::Text;
use crate::store::members::Member;
use crate::texts::security::password_rules::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Length,
    Upper,
    Lower,
    Digit,
    Symbol,
    OnlyAscii,
    NotInitial,
    NoUserId,
    NoBirthdate,
    /// Contains the 記号・番号 printed on the insurance card (known to anyone who saw it).
    NoCardNumber,
    /// Contains a name of the union's service (`CONTEXT_WORDS`), the first guess of anyone
    /// attacking this site.
    NoServiceName,
    /// Common or breached (on the bundled list, possibly with digits or symbols appended).
    Common,
    Mismatch,
}

impl Rule {
    pub fn text(self) -> Text {
        match self {
            Rule::Length => LENGTH,
            Rule::Upper => UPPER,
            Rule::Lower => LOWER,
            Rule::Digit => DIGIT,
            Rule::Symbol => SYMBOL,
            Rule::OnlyAscii => ONLY_ASCII,
            Rule::NotInitial => NOT_INITIAL,
            Rule::NoUserId => NO_USER_ID,
            Rule::NoBirthdate => NO_BIRTHDATE,
            Rule::NoCardNumber => NO_CARD_NUMBER,
            Rule::NoServiceName => NO_SERVICE_NAME,
            Rule::Common => COMMON,
            Rule::Mismatch => MISMATCH,
        }
    }
}

/// The context words of ASVS V6.1.2: the service's own names, refused anywhere in a password
/// whatever the case (its Japanese names cannot occur: passwords are printable ASCII).
pub const CONTEXT_WORDS: &[&str] = &["kenpo", "kempo", "kenko", "hoken"];

/// Every rule `password` breaks for `member` (empty when it is acceptable).
pub fn check(password: &str, confirm: &str, member: &Member) -> Vec<Rule> {
    let mut failed = Vec::new();
    let n = password.chars().count();
    if !(8..=64).contains(&n) {
        failed.push(Rule::Length);
    }
    if !password.chars().all(|c| c.is_ascii_graphic()) {
        failed.push(Rule::OnlyAscii);
    }
    if !password.chars().any(|c| c.is_ascii_uppercase()) {
        failed.push(Rule::Upper);
    }
    if !password.chars().any(|c| c.is_ascii_lowercase()) {
        failed.push(Rule::Lower);
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        failed.push(Rule::Digit);
    }
    if !password.chars().any(|c| c.is_ascii_punctuation()) {
        failed.push(Rule::Symbol);
    }
    if password == member.initial_password() {
        failed.push(Rule::NotInitial);
    }
    let lower = password.to_ascii_lowercase();
    if !member.user_id_key.is_empty() && lower.contains(&member.user_id_key) {
        failed.push(Rule::NoUserId);
    }
    // The birthdate as YYYYMMDD or YYMMDD, also when written with separators (1980-12-01).
    let b = member.birthdate.replace('-', "");
    let digits: String = password.chars().filter(|c| c.is_ascii_digit()).collect();
    if b.len() == 8 && (digits.contains(&b) || digits.contains(&b[2..])) {
        failed.push(Rule::NoBirthdate);
    }
    if contains_card_number(&digits, &member.symbol, &member.number) {
        failed.push(Rule::NoCardNumber);
    }
    if CONTEXT_WORDS.iter().any(|w| lower.contains(w)) {
        failed.push(Rule::NoServiceName);
    }
    if crate::security::common_passwords::list().refuses(password) {
        failed.push(Rule::Common);
    }
    if password != confirm {
        failed.push(Rule::Mismatch);
    }
    failed
}

/// Whether the password's digits (separators ignored, as for the birthdate) contain the
/// 記号・番号: both together, or either alone when it has at least 4 digits (a 2-digit 記号 such
/// as `12` alone would refuse half of all passwords and protects nothing).
fn contains_card_number(digits: &str, symbol: &str, number: &str) -> bool {
    let clean = |s: &str| s.chars().filter(|c| c.is_ascii_digit()).collect::<String>();
    let (symbol, number) = (clean(symbol), clean(number));
    let both = format!("{symbol}{number}");
    [both.as_str(), symbol.as_str(), number.as_str()]
        .iter()
        .any(|part| part.len() >= 4 && digits.contains(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member() -> Member {
        let mut m = crate::signin::steps::tests_support::member();
        m.user_id_key = "taro".into();
        m.birthdate = "1980-12-01".into();
        m
    }

    #[test]
    fn each_rule_is_named() {
        let m = member();
        let c = |p: &str| check(p, p, &m);
        assert_eq!(c("Good-Pass-42"), vec![]);
        assert_eq!(c("Aa1!"), vec![Rule::Length]);
        assert_eq!(c(&format!("Aa1!{}", "x".repeat(61))), vec![Rule::Length]);
        assert_eq!(c("good-pass-42"), vec![Rule::Upper]);
        assert_eq!(c("GOOD-PASS-42"), vec![Rule::Lower]);
        assert_eq!(c("Good-Pass-xx"), vec![Rule::Digit]);
        assert_eq!(c("GoodPass42x"), vec![Rule::Symbol]);
        assert_eq!(c("Good Pass-42"), vec![Rule::OnlyAscii]);
        assert_eq!(c("Ｇood-Pass-42"), vec![Rule::OnlyAscii]);
        assert_eq!(c("My-Taro-Pass1"), vec![Rule::NoUserId]);
        assert_eq!(c("Pass-19801201x"), vec![Rule::NoBirthdate]);
        assert_eq!(
            c("Pass-1980-12-01"),
            vec![Rule::NoBirthdate, Rule::Common],
            "\"pass\" with a date appended is also common"
        );
        assert_eq!(c("Pass-801201-Ab"), vec![Rule::NoBirthdate]);
        assert_eq!(c("Pass-1201-Abc"), vec![], "a month and day alone are fine");
        // 記号 12, 番号 3456789 (tests_support::member).
        assert_eq!(c("Tide-3456789x"), vec![Rule::NoCardNumber]);
        assert_eq!(c("Tide-12-3456789x"), vec![Rule::NoCardNumber]);
        assert_eq!(c("Tide-12-Wave"), vec![], "a 2-digit 記号 alone is fine");
        for w in ["My-Kenpo-42", "KEMPO-web-42", "Kenko-Hoken-42"] {
            assert_eq!(c(w), vec![Rule::NoServiceName], "{w}");
        }
        // ASVS V6.2.9: 64 characters are allowed, 65 are not.
        assert_eq!(c(&format!("Aa1!{}", "x".repeat(60))), vec![]);
        assert_eq!(c("Password1!"), vec![Rule::Common]);
        assert_eq!(c("Sakura2024!"), vec![Rule::Common]);
        assert_eq!(c("Vq7#mZ2!xLp9"), vec![], "a strong random password passes");
        assert_eq!(
            check("Good-Pass-42", "Good-Pass-43", &m),
            vec![Rule::Mismatch]
        );
        assert_eq!(
            c("abc"),
            vec![Rule::Length, Rule::Upper, Rule::Digit, Rule::Symbol]
        );
    }

    #[test]
    fn the_initial_password_is_refused() {
        let m = member();
        let initial = m.initial_password();
        assert!(check(&initial, &initial, &m).contains(&Rule::NotInitial));
    }
}
