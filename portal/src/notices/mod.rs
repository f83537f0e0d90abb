//! What members read: the decisions behind each notice page, as plain functions over the store
//! (no HTTP types). Every function takes the household ([`MemberKey`]) of the signed-in member,
//! taken from their verified ID token; nothing here accepts an identifier from a request.

pub mod benefits;
pub mod eligibility;
pub mod home;
pub mod household;
pub mod kinds;
pub mod medical;
pub mod money;

pub use household::{Person, Selection};
pub use kenpo_shared::MemberKey;
pub use kinds::{BenefitKind, MedicalCategory, PaymentRoute};

use kenpo_shared::Lang;
use time::{Date, Month as TimeMonth, OffsetDateTime, UtcOffset};

/// Japan Standard Time: notices, years and "today" follow the union's calendar.
pub const JST: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// Today in Japan.
pub fn today_jst(now: OffsetDateTime) -> Date {
    now.to_offset(JST).date()
}

/// A calendar month (a treatment month, a payment month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: u8,
}

impl Month {
    pub fn new(year: i32, month: u8) -> Option<Month> {
        ((1..=12).contains(&month) && (1900..=2999).contains(&year))
            .then_some(Month { year, month })
    }

    pub fn of(date: Date) -> Month {
        Month {
            year: date.year(),
            month: date.month() as u8,
        }
    }

    /// From the stored YYYYMM form.
    pub fn from_yyyymm(v: i32) -> Option<Month> {
        Month::new(v / 100, u8::try_from(v % 100).ok()?)
    }

    pub fn yyyymm(self) -> i32 {
        self.year * 100 + i32::from(self.month)
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u8 {
        self.month
    }

    /// The month `n` months earlier.
    pub fn minus(self, n: i32) -> Month {
        let index = self.year * 12 + i32::from(self.month) - 1 - n;
        Month {
            year: index.div_euclid(12),
            month: (index.rem_euclid(12) + 1) as u8,
        }
    }

    /// The first day of the month.
    pub fn first_day(self) -> Option<Date> {
        let m = TimeMonth::try_from(self.month).ok()?;
        Date::from_calendar_date(self.year, m, 1).ok()
    }

    /// `2025年4月` / `April 2025`.
    pub fn label(self, lang: Lang) -> String {
        match lang {
            Lang::Ja => format!("{}年{}月", self.year, self.month),
            Lang::En => match TimeMonth::try_from(self.month) {
                Ok(m) => format!("{m} {}", self.year),
                Err(_) => format!("{}-{:02}", self.year, self.month),
            },
        }
    }

    /// `2025-04`.
    pub fn iso(self) -> String {
        format!("{}-{:02}", self.year, self.month)
    }
}

/// A stored `YYYY-MM-DD` as `2025年4月1日` / `1 April 2025`.
pub fn date_label(iso: &str, lang: Lang) -> String {
    match parse_iso_date(iso) {
        Some(d) => match lang {
            Lang::Ja => format!("{}年{}月{}日", d.year(), d.month() as u8, d.day()),
            Lang::En => format!("{} {} {}", d.day(), d.month(), d.year()),
        },
        None => iso.to_string(),
    }
}

pub fn parse_iso_date(iso: &str) -> Option<Date> {
    Date::parse(
        iso,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

pub fn iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn months() {
        let m = Month::new(2025, 2).unwrap();
        assert_eq!(m.minus(3), Month::new(2024, 11).unwrap());
        assert_eq!(m.minus(-11), Month::new(2026, 1).unwrap());
        assert_eq!(
            Month::from_yyyymm(202504).unwrap().label(Lang::Ja),
            "2025年4月"
        );
        assert_eq!(
            Month::from_yyyymm(202504).unwrap().label(Lang::En),
            "April 2025"
        );
        assert_eq!(Month::from_yyyymm(202513), None);
        assert_eq!(Month::of(date!(2025 - 12 - 31)).yyyymm(), 202512);
        assert_eq!(date_label("2025-04-01", Lang::Ja), "2025年4月1日");
    }

    #[test]
    fn japan_time_decides_the_day() {
        let late_utc = time::macros::datetime!(2025-12-31 16:00 UTC);
        assert_eq!(today_jst(late_utc), date!(2026 - 01 - 01));
    }
}
