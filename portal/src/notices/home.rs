//! The home page's digest: what is new since the member's previous visit, this year's medical
//! total, and the newest notice of each kind.

use super::benefits::{Payment, payments_in};
use super::household::{Person, Selection, persons_in};
use super::medical::MedicalLine;
use super::money::Totals;
use super::{MemberKey, Month};
use crate::store::{self, Db, StoreResult};
use std::collections::BTreeMap;
use time::Date;

#[derive(Debug, Clone)]
pub struct Digest {
    pub persons: Vec<Person>,
    /// The previous sign-in (UNIX seconds), if any.
    pub previous_visit: Option<i64>,
    /// Treatment months with rows added since the previous visit, newest first, and how many.
    pub new_medical: Vec<(Month, usize)>,
    pub new_payments: Vec<Payment>,
    pub eligibility_updated: bool,
    pub this_year: i32,
    pub this_year_totals: Totals,
    /// The newest treatment month and its totals.
    pub latest_month: Option<(Month, Totals)>,
    pub latest_payment: Option<Payment>,
    pub cards: usize,
    /// From January to the deduction deadline (15 March): last year, for the tax return.
    pub deduction_year: Option<i32>,
}

pub async fn digest(
    db: &Db,
    key: &MemberKey,
    previous_visit: Option<i64>,
    today: Date,
) -> StoreResult<Digest> {
    let sel = Selection {
        key: key.clone(),
        branch: None,
    };
    db.run(move |c| {
        let persons = persons_in(c, &sel.key)?;
        let since = previous_visit.unwrap_or(i64::MIN);
        let mut new_medical: BTreeMap<Month, usize> = BTreeMap::new();
        for m in store::medical::imported_after(c, &sel.key, since)? {
            if let Some(m) = Month::from_yyyymm(m) {
                *new_medical.entry(m).or_default() += 1;
            }
        }
        let payments = payments_in(c, &sel)?;
        let new_payments = payments
            .iter()
            .filter(|p| p.imported_at > since)
            .cloned()
            .collect();
        let cards = store::eligibility::list(c, &sel.key)?;
        let eligibility_updated =
            previous_visit.is_some() && cards.iter().any(|r| r.imported_at > since);

        let this_year = today.year();
        let to_lines = |rows: Vec<store::medical::MedicalRow>| -> StoreResult<Vec<MedicalLine>> {
            rows.into_iter().map(MedicalLine::from_row).collect()
        };
        let year_lines = to_lines(store::medical::between(
            c,
            &sel.key,
            this_year * 100 + 1,
            this_year * 100 + 12,
            None,
        )?)?;
        let latest_month = match store::medical::months(c, &sel.key)?.first() {
            Some(&m) => {
                let lines = to_lines(store::medical::between(c, &sel.key, m, m, None)?)?;
                Month::from_yyyymm(m).map(|month| (month, super::medical::totals(&lines)))
            }
            None => None,
        };
        let in_season = today.month() as u8 <= 2 || (today.month() as u8 == 3 && today.day() <= 15);
        Ok(Digest {
            persons,
            previous_visit,
            new_medical: new_medical.into_iter().rev().collect(),
            new_payments,
            eligibility_updated,
            this_year,
            this_year_totals: super::medical::totals(&year_lines),
            latest_month,
            latest_payment: payments.into_iter().next(),
            cards: cards.len(),
            deduction_year: in_season.then_some(this_year - 1),
        })
    })
    .await
}
