//! Member import (SPEC format): `user_id,symbol,number,birthdate,name,name_kana,email`, UTF-8
//! with a header row, `birthdate` as YYYY-MM-DD, `email` may be empty. Every bad row is
//! reported with its line number and column; one bad row and nothing is imported.

use crate::store::members::ImportedMember;
use kenpo_shared::ids::{MemberNumber, MemberSymbol, UserId, normalize};
use std::collections::HashMap;

pub const COLUMNS: [&str; 7] = [
    "user_id",
    "symbol",
    "number",
    "birthdate",
    "name",
    "name_kana",
    "email",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub column: Option<&'static str>,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.column {
            Some(c) => write!(f, "line {}, column {c}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// A validated row with the line it came from.
#[derive(Debug, Clone)]
pub struct Row {
    pub line: u64,
    pub member: ImportedMember,
}

fn text(value: &str, max: usize) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err("is empty".into());
    }
    if v.chars().count() > max {
        return Err(format!("is longer than {max} characters"));
    }
    if v.chars().any(char::is_control) {
        return Err("contains control characters".into());
    }
    Ok(v.to_string())
}

/// Parses and checks a whole file. `today` bounds birthdates.
pub fn parse(bytes: &[u8], today: time::Date) -> Result<Vec<Row>, Vec<RowError>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let Ok(text_all) = std::str::from_utf8(bytes) else {
        return Err(vec![RowError {
            line: 1,
            column: None,
            message: "the file is not UTF-8 (save it as UTF-8 CSV)".into(),
        }]);
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text_all.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_ascii_lowercase()).collect(),
        Err(e) => {
            return Err(vec![RowError {
                line: 1,
                column: None,
                message: format!("unreadable header: {e}"),
            }]);
        }
    };
    let lines = kenpo_shared::lines::LineIndex::new(text_all);
    let mut index = HashMap::new();
    let mut errors = Vec::new();
    for col in COLUMNS {
        match header.iter().position(|h| h == col) {
            Some(i) => {
                index.insert(col, i);
            }
            None => errors.push(RowError {
                line: 1,
                column: Some(col),
                message: "missing column in the header".into(),
            }),
        }
    }
    for h in &header {
        if !COLUMNS.contains(&h.as_str()) {
            errors.push(RowError {
                line: 1,
                column: None,
                message: format!("unknown column `{h}`"),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut rows = Vec::new();
    let mut seen_ids: HashMap<String, u64> = HashMap::new();
    let mut seen_keys: HashMap<(String, String), u64> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| lines.line(p.byte())).unwrap_or(0);
                errors.push(RowError {
                    line,
                    column: None,
                    message: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map(|p| lines.line(p.byte())).unwrap_or(0);
        if record.len() != header.len() {
            errors.push(RowError {
                line,
                column: None,
                message: format!(
                    "has {} fields, the header has {}",
                    record.len(),
                    header.len()
                ),
            });
            continue;
        }
        let get = |c: &str| record.get(index[c]).unwrap_or("");
        let mut bad = |column: &'static str, message: String| {
            errors.push(RowError {
                line,
                column: Some(column),
                message,
            });
        };
        let user_id = UserId::parse(get("user_id"))
            .map_err(|e| bad("user_id", e.to_string()))
            .ok();
        let symbol = MemberSymbol::parse(get("symbol"))
            .map_err(|e| bad("symbol", e.to_string()))
            .ok();
        let number = MemberNumber::parse(get("number"))
            .map_err(|e| bad("number", e.to_string()))
            .ok();
        let birthdate = match time::Date::parse(
            &normalize(get("birthdate")),
            time::macros::format_description!("[year]-[month]-[day]"),
        ) {
            Ok(d) if d > today => {
                bad("birthdate", "is in the future".into());
                None
            }
            Ok(d) if d.year() < 1900 => {
                bad("birthdate", "is before 1900".into());
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                bad(
                    "birthdate",
                    format!("`{}` is not a date as YYYY-MM-DD", get("birthdate")),
                );
                None
            }
        };
        let name = text(get("name"), 100).map_err(|e| bad("name", e)).ok();
        let name_kana = text(get("name_kana"), 100)
            .map_err(|e| bad("name_kana", e))
            .ok();
        let email = match get("email").trim() {
            "" => Some(None),
            e if e.len() <= 254 && e.parse::<lettre::Address>().is_ok() => {
                Some(Some(e.to_string()))
            }
            e => {
                bad("email", format!("`{e}` is not an email address"));
                None
            }
        };
        if let Some(u) = &user_id
            && let Some(first) = seen_ids.insert(u.lookup_key(), line)
        {
            bad("user_id", format!("`{u}` also appears on line {first}"));
        }
        if let (Some(s), Some(n)) = (&symbol, &number)
            && let Some(first) = seen_keys.insert((s.to_string(), n.to_string()), line)
        {
            bad(
                "number",
                format!("記号・番号 {s}-{n} also appears on line {first}"),
            );
        }
        if let (
            Some(user_id),
            Some(symbol),
            Some(number),
            Some(birthdate),
            Some(name),
            Some(name_kana),
            Some(email),
        ) = (user_id, symbol, number, birthdate, name, name_kana, email)
        {
            rows.push(Row {
                line,
                member: ImportedMember {
                    user_id,
                    symbol,
                    number,
                    birthdate,
                    name,
                    name_kana,
                    email,
                },
            });
        }
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(RowError {
            line: 2,
            column: None,
            message: "the file has no member rows".into(),
        });
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

/// Today's date in Japan (bounds birthdates of imports).
pub fn today_jst(now: i64) -> time::Date {
    let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    time::OffsetDateTime::from_unix_timestamp(now)
        .map(|t| t.to_offset(jst).date())
        .unwrap_or(time::Date::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: time::Date = date!(2026 - 11 - 25);

    #[test]
    fn a_good_file() {
        let csv = "\u{FEFF}user_id,symbol,number,birthdate,name,name_kana,email\ntaro,12,3456789,1980-12-01,山田 太郎,ヤマダ タロウ,taro@example.jp\nhana,１２,3456790,1985-01-31,佐藤 花子,サトウ ハナコ,\n";
        let rows = parse(csv.as_bytes(), TODAY).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].line, 3);
        assert_eq!(rows[1].member.symbol.as_str(), "12");
        assert_eq!(rows[1].member.email, None);
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let csv = "user_id,symbol,number,birthdate,name,name_kana,email\n\
                   taro,12,3456789,1980-12-01,山田 太郎,ヤマダ タロウ,taro@example.jp\n\
                   jiro,1a,3456780,1980-13-01,山田 次郎,ヤマダ ジロウ,not-mail\n\
                   taro,12,3456789,1980-12-01,,ヤマダ タロウ,\n\
                   short,12\n\
                   kid,13,1,2030-01-01,子,コ,\n";
        let errors = parse(csv.as_bytes(), TODAY).unwrap_err();
        let lines: Vec<(u64, Option<&str>)> = errors.iter().map(|e| (e.line, e.column)).collect();
        assert!(lines.contains(&(3, Some("symbol"))));
        assert!(lines.contains(&(3, Some("birthdate"))));
        assert!(lines.contains(&(3, Some("email"))));
        assert!(lines.contains(&(4, Some("name"))));
        assert!(lines.contains(&(4, Some("user_id"))), "duplicate user ID");
        assert!(lines.contains(&(4, Some("number"))), "duplicate 記号・番号");
        assert!(lines.contains(&(5, None)), "wrong field count");
        assert!(lines.contains(&(6, Some("birthdate"))), "future birthdate");
        assert!(errors.iter().all(|e| !e.to_string().is_empty()));
    }

    #[test]
    fn crlf_and_mixed_line_ends_report_the_same_lines() {
        let rows = [
            "user_id,symbol,number,birthdate,name,name_kana,email",
            "taro,12,3456789,1980-12-01,山田 太郎,ヤマダ タロウ,taro@example.jp",
            "jiro,1a,3456780,1980-12-01,山田 次郎,ヤマダ ジロウ,",
            "saburo,12,3456781,1980-12-01,山田 三郎,ヤマダ サブロウ,",
            "shiro,12,3456782,1980-13-01,山田 四郎,ヤマダ シロウ,",
        ];
        for end in ["\n", "\r\n", "mixed"] {
            let mut csv = String::new();
            for (i, r) in rows.iter().enumerate() {
                csv.push_str(r);
                csv.push_str(match end {
                    "mixed" if i % 2 == 0 => "\r\n",
                    "mixed" => "\n",
                    e => e,
                });
            }
            let errors = parse(csv.as_bytes(), TODAY).unwrap_err();
            let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
            assert_eq!(lines, vec![3, 5], "{end:?}: {errors:?}");
        }
    }

    #[test]
    fn header_and_encoding_problems() {
        let e = parse(b"user_id,symbol,number,birthdate,name,email\n", TODAY).unwrap_err();
        assert_eq!(e[0].column, Some("name_kana"));
        let sjis = b"user_id,symbol,number,birthdate,name,name_kana,email\ntaro,12,1,1980-01-01,\x8eR\x93c,\x83\x84,\n";
        assert!(parse(sjis, TODAY).unwrap_err()[0].message.contains("UTF-8"));
        assert!(
            parse(
                b"user_id,symbol,number,birthdate,name,name_kana,email\n",
                TODAY
            )
            .is_err()
        );
    }
}

#[cfg(test)]
mod properties {
    //! The member file is untrusted input: no panic whatever the bytes, and lines that exist;
    //! generated files read back row for row with either line end.
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    const TODAY: time::Date = date!(2026 - 11 - 25);
    const HEADER: &str = "user_id,symbol,number,birthdate,name,name_kana,email";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_bytes_are_answered_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let lines = bytes.iter().filter(|b| **b == b'\n').count() as u64 + 1;
            if let Err(errors) = parse(&bytes, TODAY) {
                for e in errors {
                    prop_assert!((1..=lines).contains(&e.line), "{e}");
                }
            }
            let with_header = [HEADER.as_bytes(), b"\n", &bytes].concat();
            let _ = parse(&with_header, TODAY);
        }

        #[test]
        fn generated_files_read_back(
            rows in prop::collection::vec(("[1-9][0-9]{0,7}", 1i64..20_000, "[a-z]{1,6}"), 1..10),
            crlf in any::<bool>(),
        ) {
            let end = if crlf { "\r\n" } else { "\n" };
            let mut csv = format!("{HEADER}{end}");
            for (i, (symbol, days, mail)) in rows.iter().enumerate() {
                let born = date!(1950 - 01 - 01) + time::Duration::days(*days);
                csv.push_str(&format!(
                    "user{i},{symbol},{},{born},組合 {i}郎,クミアイ,{mail}@example.jp{end}",
                    1000 + i
                ));
            }
            let parsed = parse(csv.as_bytes(), TODAY).unwrap();
            prop_assert_eq!(parsed.len(), rows.len());
            for (i, (row, (symbol, days, _))) in parsed.iter().zip(&rows).enumerate() {
                prop_assert_eq!(row.line, i as u64 + 2);
                prop_assert_eq!(row.member.symbol.as_str(), symbol.as_str());
                prop_assert_eq!(row.member.birthdate, date!(1950 - 01 - 01) + time::Duration::days(*days));
            }
        }
    }
}
