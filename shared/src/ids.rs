//! Member identifiers as the union prints them, and the normalisation every typed identifier
//! goes through: NFKC (so 全角 digits and letters become ASCII), then trimming.
//!
//! 記号 (symbol) and 番号 (number) are digit strings; 枝番 (branch) is two digits, `00` for the
//! insured person. Only insured persons have accounts; the pair 記号・番号 ([`MemberKey`])
//! selects a household's notices.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// NFKC-normalises typed input and trims surrounding white space (including the ideographic
/// space U+3000, which NFKC turns into an ordinary space).
pub fn normalize(input: &str) -> String {
    input.nfkc().collect::<String>().trim().to_string()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("empty")]
    Empty,
    #[error("too long (at most {0} characters)")]
    TooLong(usize),
    #[error("only digits are allowed")]
    NotDigits,
    #[error("must be exactly two digits")]
    BadBranch,
    #[error("contains spaces or control characters")]
    BadCharacter,
}

fn digits(input: &str, max: usize) -> Result<String, IdError> {
    let s = normalize(input);
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.chars().count() > max {
        return Err(IdError::TooLong(max));
    }
    if !s.chars().all(|c| c.is_ascii_digit()) {
        return Err(IdError::NotDigits);
    }
    Ok(s)
}

/// The union's user ID, carried over unchanged by import. Matching ignores ASCII case, because
/// phone keyboards capitalise the first letter a member types.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserId(String);

impl UserId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(input: &str) -> Result<Self, IdError> {
        let s = normalize(input);
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err(IdError::TooLong(Self::MAX_LEN));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(IdError::BadCharacter);
        }
        Ok(UserId(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for look-ups and uniqueness.
    pub fn lookup_key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! digit_id {
    ($name:ident, $max:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn parse(input: &str) -> Result<Self, IdError> {
                digits(input, $max).map($name)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

digit_id!(
    MemberSymbol,
    8,
    "記号: the digit string on eligibility documents."
);
digit_id!(
    MemberNumber,
    10,
    "番号: the digit string on eligibility documents."
);

/// 枝番: `00` for the insured person, `01`… for dependants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Branch(String);

impl Branch {
    pub fn insured() -> Self {
        Branch("00".into())
    }

    pub fn parse(input: &str) -> Result<Self, IdError> {
        let s = normalize(input);
        if s.len() == 2 && s.chars().all(|c| c.is_ascii_digit()) {
            Ok(Branch(s))
        } else {
            Err(IdError::BadBranch)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_insured(&self) -> bool {
        self.0 == "00"
    }
}

impl std::fmt::Display for Branch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// 記号・番号: the household whose notices a member may see.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemberKey {
    pub symbol: MemberSymbol,
    pub number: MemberNumber,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_is_normalised() {
        assert_eq!(normalize("　ｔａｒｏ１２３ "), "taro123");
        assert_eq!(MemberSymbol::parse("１２").unwrap().as_str(), "12");
        assert_eq!(UserId::parse("Ｔａｒｏ").unwrap().lookup_key(), "taro");
    }

    #[test]
    fn bad_identifiers_are_refused() {
        assert_eq!(MemberSymbol::parse("12a"), Err(IdError::NotDigits));
        assert_eq!(MemberNumber::parse(""), Err(IdError::Empty));
        assert_eq!(
            MemberNumber::parse("12345678901"),
            Err(IdError::TooLong(10))
        );
        assert_eq!(Branch::parse("1"), Err(IdError::BadBranch));
        assert_eq!(UserId::parse("ta ro"), Err(IdError::BadCharacter));
        assert!(Branch::parse("００").unwrap().is_insured());
    }
}

#[cfg(test)]
mod properties {
    //! NFKC normalisation of typed identifiers: no panic on any input, idempotent, and a
    //! full-width form means the same identifier as the ASCII one.
    use super::*;
    use proptest::prelude::*;

    fn full_width(s: &str) -> String {
        s.chars()
            .map(|c| match c {
                '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
                c => c,
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn normalising_twice_changes_nothing(s in "\\PC{0,40}") {
            let once = normalize(&s);
            prop_assert_eq!(normalize(&once), once.clone());
            prop_assert_eq!(once.trim(), once.as_str());
        }

        #[test]
        fn any_input_is_answered_without_panic(s in "\\PC{0,80}") {
            let _ = UserId::parse(&s).map(|u| u.lookup_key());
            let _ = MemberSymbol::parse(&s);
            let _ = MemberNumber::parse(&s);
            let _ = Branch::parse(&s);
        }

        #[test]
        fn full_width_identifiers_are_the_ascii_ones(
            user in "[A-Za-z0-9._-]{1,32}",
            symbol in "[0-9]{1,8}",
            number in "[0-9]{1,10}",
            branch in "[0-9]{2}",
            pad in "[ \u{3000}]{0,2}",
        ) {
            let typed = |s: &str| format!("{pad}{}{pad}", full_width(s));
            prop_assert_eq!(UserId::parse(&typed(&user)), UserId::parse(&user));
            prop_assert_eq!(
                UserId::parse(&typed(&user)).unwrap().lookup_key(),
                UserId::parse(&user.to_ascii_uppercase()).unwrap().lookup_key()
            );
            let s = MemberSymbol::parse(&typed(&symbol)).unwrap();
            prop_assert_eq!(s.as_str(), symbol.as_str());
            let n = MemberNumber::parse(&typed(&number)).unwrap();
            prop_assert_eq!(n.as_str(), number.as_str());
            let b = Branch::parse(&typed(&branch)).unwrap();
            prop_assert_eq!(b.as_str(), branch.as_str());
        }
    }
}
