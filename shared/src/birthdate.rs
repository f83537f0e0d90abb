//! Birthdates as members type them: `19801201`, `1980-12-01`, `1980/12/01`, `1980年12月1日`,
//! full-width digits, and Japanese era dates (和暦) such as `S55.12.1`, `昭和55年12月1日` or
//! `令和元年5月1日`. An era date must fall inside its era (昭和64年1月8日 does not exist).

use crate::ids::normalize;
use time::{Date, Month};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BirthdateError {
    #[error("empty")]
    Empty,
    #[error("not a date in a known format")]
    Format,
    #[error("no such day in the calendar")]
    NoSuchDay,
    #[error("the day is outside the era")]
    OutsideEra,
}

struct Era {
    names: &'static [&'static str],
    start: (i32, u8, u8),
}

// Start days of the modern eras; each era ends the day before the next one starts.
const ERAS: [Era; 5] = [
    Era {
        names: &["M", "明治", "明"],
        start: (1868, 1, 1),
    },
    Era {
        names: &["T", "大正", "大"],
        start: (1912, 7, 30),
    },
    Era {
        names: &["S", "昭和", "昭"],
        start: (1926, 12, 25),
    },
    Era {
        names: &["H", "平成", "平"],
        start: (1989, 1, 8),
    },
    Era {
        names: &["R", "令和", "令"],
        start: (2019, 5, 1),
    },
];

fn ymd(y: i32, m: u32, d: u32) -> Result<Date, BirthdateError> {
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or(BirthdateError::NoSuchDay)?;
    let day = u8::try_from(d).map_err(|_| BirthdateError::NoSuchDay)?;
    Date::from_calendar_date(y, month, day).map_err(|_| BirthdateError::NoSuchDay)
}

fn era_start(era: &Era) -> Date {
    let (y, m, d) = era.start;
    ymd(y, m.into(), d.into()).unwrap_or(Date::MIN)
}

/// Splits `rest` into numeric fields; `元` counts as year 1. Separators are `年月日./-`.
fn fields(rest: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' => current.push(c),
            '元' if current.is_empty() && out.is_empty() => current.push('1'),
            '年' | '月' | '日' | '.' | '/' | '-' => {
                if current.is_empty() {
                    return None;
                }
                out.push(current.parse().ok()?);
                current.clear();
            }
            _ => return None,
        }
    }
    if !current.is_empty() {
        out.push(current.parse().ok()?);
    }
    Some(out)
}

pub fn parse_birthdate(input: &str) -> Result<Date, BirthdateError> {
    let s: String = normalize(input)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if s.is_empty() {
        return Err(BirthdateError::Empty);
    }
    for (i, era) in ERAS.iter().enumerate() {
        for name in era.names {
            let rest = match s.strip_prefix(name) {
                Some(r) => r,
                None if name.is_ascii() => match s.strip_prefix(&name.to_ascii_lowercase()) {
                    Some(r) => r,
                    None => continue,
                },
                None => continue,
            };
            let f = fields(rest).ok_or(BirthdateError::Format)?;
            let [y, m, d] = f[..] else {
                return Err(BirthdateError::Format);
            };
            if y == 0 {
                return Err(BirthdateError::OutsideEra);
            }
            // Checked: a huge era year must be refused, not overflow.
            let year = i32::try_from(y)
                .ok()
                .and_then(|y| era.start.0.checked_add(y - 1))
                .ok_or(BirthdateError::Format)?;
            let date = ymd(year, m, d)?;
            let ends = ERAS.get(i + 1).map(era_start);
            if date < era_start(era) || ends.is_some_and(|e| date >= e) {
                return Err(BirthdateError::OutsideEra);
            }
            return Ok(date);
        }
    }
    if s.len() == 8 && s.chars().all(|c| c.is_ascii_digit()) {
        let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().map_err(|_| BirthdateError::Format);
        return ymd(n(0..4)? as i32, n(4..6)?, n(6..8)?);
    }
    let f = fields(&s).ok_or(BirthdateError::Format)?;
    match f[..] {
        [y, m, d] if (1000..=9999).contains(&y) => ymd(y as i32, m, d),
        _ => Err(BirthdateError::Format),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn western_formats() {
        for s in [
            "19801201",
            "1980-12-01",
            "1980/12/01",
            "1980/12/1",
            "1980年12月1日",
            "１９８０１２０１",
            "１９８０－１２－０１",
            " 1980.12.01 ",
        ] {
            assert_eq!(parse_birthdate(s), Ok(date!(1980 - 12 - 01)), "{s}");
        }
    }

    #[test]
    fn japanese_eras() {
        for s in [
            "S55.12.1",
            "s55/12/01",
            "昭和55年12月1日",
            "昭55.12.1",
            "Ｓ５５．１２．１",
            "㍼55年12月1日",
            "昭和 55年 12月 1日",
        ] {
            assert_eq!(parse_birthdate(s), Ok(date!(1980 - 12 - 01)), "{s}");
        }
        assert_eq!(parse_birthdate("令和元年5月1日"), Ok(date!(2019 - 05 - 01)));
        assert_eq!(parse_birthdate("H1.1.8"), Ok(date!(1989 - 01 - 08)));
        assert_eq!(parse_birthdate("S64.1.7"), Ok(date!(1989 - 01 - 07)));
        assert_eq!(parse_birthdate("T15.12.24"), Ok(date!(1926 - 12 - 24)));
    }

    #[test]
    fn dates_outside_their_era_are_refused() {
        assert_eq!(parse_birthdate("S64.1.8"), Err(BirthdateError::OutsideEra));
        assert_eq!(parse_birthdate("H31.5.1"), Err(BirthdateError::OutsideEra));
        assert_eq!(parse_birthdate("R1.4.30"), Err(BirthdateError::OutsideEra));
        assert_eq!(parse_birthdate("S0.1.1"), Err(BirthdateError::OutsideEra));
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(parse_birthdate(""), Err(BirthdateError::Empty));
        assert_eq!(parse_birthdate("19801301"), Err(BirthdateError::NoSuchDay));
        assert_eq!(
            parse_birthdate("1980-02-30"),
            Err(BirthdateError::NoSuchDay)
        );
        assert_eq!(parse_birthdate("12/01/1980"), Err(BirthdateError::Format));
        assert_eq!(parse_birthdate("S55"), Err(BirthdateError::Format));
        assert_eq!(parse_birthdate("yesterday"), Err(BirthdateError::Format));
        assert_eq!(parse_birthdate("1980--12-01"), Err(BirthdateError::Format));
        assert_eq!(
            parse_birthdate("S99999999999.1.1"),
            Err(BirthdateError::Format)
        );
        // A year that fits in i32 but not once the era's first year is added (found while
        // writing the property tests below; it overflowed).
        assert_eq!(
            parse_birthdate("R2147483000.1.1"),
            Err(BirthdateError::Format)
        );
    }
}

#[cfg(test)]
mod properties {
    //! Untrusted input: whatever is typed, no panic; every date comes back from each way of
    //! writing it.
    use super::*;
    use proptest::prelude::*;

    fn full_width(s: &str) -> String {
        s.chars()
            .map(|c| match c {
                '0'..='9' => char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap_or(c),
                '-' => '－',
                '/' => '／',
                '.' => '．',
                c => c,
            })
            .collect()
    }

    fn era_of(d: Date) -> Option<(&'static str, &'static str, i32)> {
        let i = ERAS.iter().rposition(|e| era_start(e) <= d)?;
        let e = &ERAS[i];
        Some((e.names[0], e.names[1], d.year() - e.start.0 + 1))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_input_is_answered_without_panic(s in "\\PC{0,40}") {
            let _ = parse_birthdate(&s);
        }

        #[test]
        fn era_like_input_is_answered_without_panic(
            era in "[MTSHRmtshr明大昭平令]|明治|昭和|令和",
            y in prop_oneof![any::<u32>(), 2_147_480_000u32..=2_147_483_647],
            m in any::<u32>(), d in any::<u32>(), sep in "[./年-]",
        ) {
            let _ = parse_birthdate(&format!("{era}{y}{sep}{m}{sep}{d}"));
        }

        #[test]
        fn every_way_of_writing_a_date_reads_back(days in 0i32..(366 * 150)) {
            let d = time::macros::date!(1900 - 01 - 01) + time::Duration::days(days.into());
            let (y, m, day) = (d.year(), u8::from(d.month()), d.day());
            let forms = [
                format!("{y:04}{m:02}{day:02}"),
                format!("{y:04}-{m:02}-{day:02}"),
                format!("{y:04}/{m}/{day}"),
                format!("{y}年{m}月{day}日"),
                full_width(&format!("{y:04}-{m:02}-{day:02}")),
                format!(" {y:04}.{m:02}.{day:02} "),
            ];
            for f in &forms {
                prop_assert_eq!(parse_birthdate(f), Ok(d), "{}", f);
            }
            if let Some((letter, name, ey)) = era_of(d) {
                let year = if ey == 1 { "元".to_string() } else { ey.to_string() };
                for f in [format!("{letter}{ey}.{m}.{day}"), format!("{name}{year}年{m}月{day}日")] {
                    prop_assert_eq!(parse_birthdate(&f), Ok(d), "{}", f);
                }
            }
        }
    }
}
