//! Reading one CSV line: each accessor parses a column, records what is wrong with it (line,
//! column, message) and returns `None`, so a row reports all its problems at once.

use super::{Column, RowError};
use crate::notices::Month;
use kenpo_shared::ids::{Branch, MemberNumber, MemberSymbol, normalize};
use kenpo_shared::parse_birthdate;
use time::Date;

/// Largest amount accepted (ten billion yen less one): larger figures are typing errors.
pub const MAX_AMOUNT: i64 = 9_999_999_999;

pub struct Line<'a> {
    pub line: u64,
    pub record: &'a csv::StringRecord,
    /// Position of each known column in the record (by the column's canonical name).
    pub index: &'a [(&'static str, usize)],
    pub columns: &'static [Column],
    pub errors: &'a mut Vec<RowError>,
    pub today: Date,
}

/// Era codes of the receipt format's `GYYMM` months (1 明治 … 5 令和) and their first years.
const ERA_YEARS: [(char, i32); 5] = [
    ('1', 1868),
    ('2', 1912),
    ('3', 1926),
    ('4', 1989),
    ('5', 2019),
];

impl Line<'_> {
    pub fn raw(&self, column: &'static str) -> &str {
        self.index
            .iter()
            .find(|(c, _)| *c == column)
            .and_then(|(_, i)| self.record.get(*i))
            .unwrap_or("")
    }

    pub fn bad(&mut self, column: &'static str, message: impl Into<String>) {
        let label = self
            .columns
            .iter()
            .find(|c| c.name == column)
            .map_or_else(|| column.to_string(), |c| format!("{} ({})", c.name, c.ja));
        self.errors.push(RowError {
            line: self.line,
            column: Some(label),
            message: message.into(),
        });
    }

    /// One of a fixed list of values (`parse`), else "unknown {what}" naming the accepted ones.
    pub fn choice<T>(
        &mut self,
        column: &'static str,
        parse: fn(&str) -> Option<T>,
        what: &str,
        accepted: &str,
    ) -> Option<T> {
        let v = parse(self.raw(column));
        if v.is_none() {
            let raw = self.raw(column).to_string();
            self.bad(
                column,
                format!("unknown {what} {raw:?} (one of: {accepted})"),
            );
        }
        v
    }

    /// Free text (names, institutions): trimmed, not empty, no control characters. Names are
    /// kept as written (no NFKC: it would change some people's characters).
    pub fn text(&mut self, column: &'static str, max: usize) -> Option<String> {
        let v = self.raw(column).trim().to_string();
        if v.is_empty() {
            self.bad(column, "is empty");
            return None;
        }
        if v.chars().count() > max {
            self.bad(column, format!("is longer than {max} characters"));
            return None;
        }
        if v.chars().any(char::is_control) {
            self.bad(column, "contains control characters");
            return None;
        }
        Some(v)
    }

    /// Kana: NFKC turns half-width katakana (common in union exports) into full-width.
    pub fn kana(&mut self, column: &'static str, max: usize) -> Option<String> {
        self.text(column, max).map(|s| normalize(&s))
    }

    pub fn symbol(&mut self, column: &'static str) -> Option<String> {
        match MemberSymbol::parse(self.raw(column)) {
            Ok(s) => Some(s.as_str().to_string()),
            Err(e) => {
                self.bad(column, format!("not a 記号: {e}"));
                None
            }
        }
    }

    pub fn number(&mut self, column: &'static str) -> Option<String> {
        match MemberNumber::parse(self.raw(column)) {
            Ok(s) => Some(s.as_str().to_string()),
            Err(e) => {
                self.bad(column, format!("not a 番号: {e}"));
                None
            }
        }
    }

    /// 枝番: two digits; a single digit is padded (`1` → `01`), as some exports drop the zero.
    pub fn branch(&mut self, column: &'static str) -> Option<String> {
        let v = normalize(self.raw(column));
        let padded = if v.len() == 1 {
            format!("0{v}")
        } else {
            v.clone()
        };
        match Branch::parse(&padded) {
            Ok(b) => Some(b.as_str().to_string()),
            Err(_) => {
                self.bad(
                    column,
                    format!("not a 枝番 (two digits, 00 for the insured person): {v:?}"),
                );
                None
            }
        }
    }

    /// A month: `YYYYMM`, `YYYY-MM`, `YYYY/MM`, `YYYY年M月`, an era month such as `R7.4` or
    /// `令和7年4月`, or the receipt format's `GYYMM` (`50704` = 令和7年4月). Not after this month.
    pub fn month(&mut self, column: &'static str) -> Option<Month> {
        let v = self.raw(column).to_string();
        match parse_month(&v) {
            Some(m) if m > Month::of(self.today) => {
                self.bad(column, format!("is in the future: {v:?}"));
                None
            }
            Some(m) if m.year() < 1990 => {
                self.bad(column, format!("is before 1990: {v:?}"));
                None
            }
            Some(m) => Some(m),
            None => {
                self.bad(
                    column,
                    format!("not a month (use YYYY-MM, e.g. 2025-04): {v:?}"),
                );
                None
            }
        }
    }

    /// A date in any form members and union systems write (`2025-04-01`, `2025/4/1`,
    /// `20250401`, `令和7年4月1日`, `R7.4.1`), no later than `latest`.
    pub fn date(&mut self, column: &'static str, latest: Date) -> Option<Date> {
        let v = self.raw(column).to_string();
        match parse_birthdate(&v) {
            Ok(d) if d > latest => {
                self.bad(column, format!("is too far in the future: {v:?}"));
                None
            }
            Ok(d) if d.year() < 1900 => {
                self.bad(column, format!("is before 1900: {v:?}"));
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.bad(
                    column,
                    format!("not a date (use YYYY-MM-DD, e.g. 2025-04-01): {v:?} ({e})"),
                );
                None
            }
        }
    }

    /// Whole yen, not negative: `12345`, `12,345`, `１２，３４５円`.
    pub fn amount(&mut self, column: &'static str) -> Option<i64> {
        let v = self.raw(column).to_string();
        let s: String = normalize(&v)
            .chars()
            .filter(|c| *c != ',' && !c.is_whitespace())
            .collect();
        let s = s.strip_suffix('円').unwrap_or(&s);
        if s.is_empty() {
            self.bad(column, "is empty (write 0 for no amount)");
            return None;
        }
        if s.starts_with('-') {
            self.bad(
                column,
                format!("is negative: {v:?} (send the corrected figures for the month instead)"),
            );
            return None;
        }
        match s.parse::<i64>() {
            Ok(n) if s.chars().all(|c| c.is_ascii_digit()) && n <= MAX_AMOUNT => Some(n),
            Ok(_) if s.chars().all(|c| c.is_ascii_digit()) => {
                self.bad(column, format!("is implausibly large: {v:?}"));
                None
            }
            _ => {
                self.bad(column, format!("not an amount in whole yen: {v:?}"));
                None
            }
        }
    }

    /// A whole number in `range`.
    pub fn int(
        &mut self,
        column: &'static str,
        range: std::ops::RangeInclusive<i32>,
    ) -> Option<i32> {
        let v = self.raw(column).to_string();
        match normalize(&v).parse::<i32>() {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                self.bad(
                    column,
                    format!(
                        "not a whole number from {} to {}: {v:?}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }
}

/// Parses the month forms of [`Line::month`].
pub fn parse_month(input: &str) -> Option<Month> {
    let s: String = normalize(input)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if s.is_empty() {
        return None;
    }
    let digits = s.chars().all(|c| c.is_ascii_digit());
    if digits && s.len() == 6 {
        return Month::new(s[..4].parse().ok()?, s[4..].parse().ok()?);
    }
    if digits && s.len() == 5 {
        let era = s.chars().next()?;
        let (_, first) = ERA_YEARS.iter().find(|(c, _)| *c == era)?;
        let yy: i32 = s[1..3].parse().ok()?;
        if yy == 0 {
            return None;
        }
        return Month::new(first + yy - 1, s[3..].parse().ok()?);
    }
    // Era forms reuse the date parser with the first day of the month.
    if !s.starts_with(|c: char| c.is_ascii_digit()) {
        let trimmed = s.trim_end_matches('月');
        let sep = if trimmed.contains('年') { "月" } else { "." };
        let date = parse_birthdate(&format!("{trimmed}{sep}1")).ok()?;
        return Some(Month::of(date));
    }
    let parts: Vec<&str> = s
        .trim_end_matches('月')
        .split(['-', '/', '.', '年'])
        .collect();
    match parts[..] {
        [y, m] if y.len() == 4 => Month::new(y.parse().ok()?, m.parse().ok()?),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_forms() {
        let april = Month::new(2025, 4);
        for s in [
            "202504",
            "2025-04",
            "2025/4",
            "2025年4月",
            "２０２５－０４",
            "R7.4",
            "令和7年4月",
            "50704",
            "2025.04",
        ] {
            assert_eq!(parse_month(s), april, "{s}");
        }
        assert_eq!(parse_month("H31.4"), Month::new(2019, 4));
        for s in [
            "",
            "2025",
            "2025-13",
            "20250401",
            "April",
            "60704",
            "2025-04-01",
            "R7.4.1",
        ] {
            assert_eq!(parse_month(s), None, "{s}");
        }
    }
}

#[cfg(test)]
mod properties {
    //! Months as union files write them: no panic on any input; every month reads back from
    //! each way of writing it, era forms included.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_input_is_answered_without_panic(s in "\\PC{0,24}") {
            let _ = parse_month(&s);
        }

        #[test]
        fn every_way_of_writing_a_month_reads_back(year in 1990i32..2030, month in 1u8..=12) {
            let want = Month::new(year, month);
            prop_assert!(want.is_some());
            for f in [
                format!("{year}{month:02}"),
                format!("{year}-{month:02}"),
                format!("{year}/{month}"),
                format!("{year}年{month}月"),
            ] {
                prop_assert_eq!(parse_month(&f), want, "{}", f);
            }
            // 令和 from May 2019, 平成 before it.
            let (letter, name, code, first) = if (year, month) >= (2019, 5) {
                ("R", "令和", '5', 2019)
            } else {
                ("H", "平成", '4', 1989)
            };
            let ey = year - first + 1;
            for f in [
                format!("{letter}{ey}.{month}"),
                format!("{name}{ey}年{month}月"),
                format!("{code}{ey:02}{month:02}"),
            ] {
                prop_assert_eq!(parse_month(&f), want, "{}", f);
            }
        }
    }
}
