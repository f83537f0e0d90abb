//! 給付金のお知らせ: each payment, newest first, with what it covers.

use super::household::Selection;
use super::kinds::{BenefitKind, PaymentRoute};
use super::{Month, date_label, parse_iso_date};
use crate::store::benefits::BenefitRow;
use crate::store::{self, Db, StoreError, StoreResult};
use kenpo_shared::Lang;

/// What a payment covers: one treatment month, one day (a birth), or a period of days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Covered {
    Months(Month, Month),
    Days(String, String),
}

impl Covered {
    /// From the stored `YYYY-MM` / `YYYY-MM-DD` pair.
    pub fn parse(from: &str, to: &str) -> Option<Covered> {
        let month = |s: &str| {
            let (y, m) = s.split_once('-')?;
            Month::new(y.parse().ok()?, m.parse().ok()?)
        };
        if from.len() == 7 {
            Some(Covered::Months(month(from)?, month(to)?))
        } else {
            parse_iso_date(from)?;
            parse_iso_date(to)?;
            Some(Covered::Days(from.to_string(), to.to_string()))
        }
    }

    /// The first month or day covered, for ordering (`2025-04` sorts before `2025-04-01`).
    pub fn start(&self) -> String {
        match self {
            Covered::Months(a, _) => a.iso(),
            Covered::Days(a, _) => a.clone(),
        }
    }

    /// `2025年4月診療分`, `2025年4月〜6月診療分`, `2025年4月1日〜2025年4月30日`.
    pub fn label(&self, lang: Lang) -> String {
        match (self, lang) {
            (Covered::Months(a, b), Lang::Ja) if a == b => format!("{}診療分", a.label(lang)),
            (Covered::Months(a, b), Lang::Ja) => {
                format!("{}〜{}診療分", a.label(lang), b.label(lang))
            }
            (Covered::Months(a, b), Lang::En) if a == b => format!("care in {}", a.label(lang)),
            (Covered::Months(a, b), Lang::En) => {
                format!("care in {} – {}", a.label(lang), b.label(lang))
            }
            (Covered::Days(a, b), _) if a == b => date_label(a, lang),
            (Covered::Days(a, b), Lang::Ja) => {
                format!("{}〜{}", date_label(a, lang), date_label(b, lang))
            }
            (Covered::Days(a, b), Lang::En) => {
                format!("{} – {}", date_label(a, lang), date_label(b, lang))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub branch: String,
    pub person_name: String,
    pub kind: BenefitKind,
    pub covered: Covered,
    pub decision_date: String,
    pub payment_date: String,
    pub amount: i64,
    pub route: PaymentRoute,
    pub imported_at: i64,
}

impl Payment {
    pub fn from_row(r: BenefitRow) -> StoreResult<Payment> {
        Ok(Payment {
            kind: BenefitKind::from_code(&r.kind)
                .ok_or_else(|| StoreError::corrupt(format!("benefit kind {}", r.kind)))?,
            covered: Covered::parse(&r.covered_from, &r.covered_to)
                .ok_or_else(|| StoreError::corrupt(format!("covered {}", r.covered_from)))?,
            route: PaymentRoute::from_code(&r.route)
                .ok_or_else(|| StoreError::corrupt(format!("payment route {}", r.route)))?,
            branch: r.branch,
            person_name: r.person_name,
            decision_date: r.decision_date,
            payment_date: r.payment_date,
            amount: r.amount,
            imported_at: r.imported_at,
        })
    }
}

pub fn payments_in(c: &mut store::DbConn, sel: &Selection) -> StoreResult<Vec<Payment>> {
    store::benefits::list(c, &sel.key, sel.branch_str())?
        .into_iter()
        .map(Payment::from_row)
        .collect()
}

/// The household's payments (or one person's), newest payment first.
pub async fn payments(db: &Db, sel: &Selection) -> StoreResult<Vec<Payment>> {
    let sel = sel.clone();
    db.run(move |c| payments_in(c, &sel)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_reads_naturally() {
        let m = Covered::parse("2025-04", "2025-04").unwrap();
        assert_eq!(m.label(Lang::Ja), "2025年4月診療分");
        let p = Covered::parse("2025-04-01", "2025-04-30").unwrap();
        assert_eq!(p.label(Lang::Ja), "2025年4月1日〜2025年4月30日");
        assert_eq!(Covered::parse("2025-13", "2025-13"), None);
    }
}
