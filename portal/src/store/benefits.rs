//! 給付金のお知らせ rows: one per payment.

use super::schema::benefit_payments::dsl as b;
use super::{DbConn, INSERT_CHUNK, StoreResult};
use diesel::prelude::*;
use kenpo_shared::MemberKey;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::benefit_payments)]
pub struct BenefitRow {
    pub symbol: String,
    pub number: String,
    /// YYYYMM of `payment_date`: the unit a re-import replaces.
    pub payment_month: i32,
    pub branch: String,
    /// A [`crate::notices::BenefitKind`] code.
    pub kind: String,
    /// What the payment covers: `YYYY-MM` (a treatment month) or `YYYY-MM-DD` (a day or the
    /// first day of a period).
    pub covered_from: String,
    /// Same form as `covered_from`; equal to it when the payment covers one month or day.
    pub covered_to: String,
    pub person_name: String,
    /// `YYYY-MM-DD`.
    pub decision_date: String,
    /// `YYYY-MM-DD`.
    pub payment_date: String,
    pub amount: i64,
    /// A [`crate::notices::PaymentRoute`] code.
    pub route: String,
    pub import_id: String,
    pub imported_at: i64,
}

/// A household's payments, newest first, optionally one person's.
pub fn list(c: &mut DbConn, key: &MemberKey, branch: Option<&str>) -> StoreResult<Vec<BenefitRow>> {
    let mut q = b::benefit_payments
        .filter(b::symbol.eq(key.symbol.as_str()))
        .filter(b::number.eq(key.number.as_str()))
        .into_boxed();
    if let Some(br) = branch {
        q = q.filter(b::branch.eq(br.to_string()));
    }
    Ok(q.order((
        b::payment_date.desc(),
        b::branch,
        b::kind,
        b::covered_from.desc(),
    ))
    .select(BenefitRow::as_select())
    .load(c)?)
}

pub fn persons(c: &mut DbConn, key: &MemberKey) -> StoreResult<Vec<(String, String)>> {
    Ok(b::benefit_payments
        .filter(b::symbol.eq(key.symbol.as_str()))
        .filter(b::number.eq(key.number.as_str()))
        .select((b::branch, b::person_name))
        .distinct()
        .load(c)?)
}

/// Replaces, for every household and payment month present in `rows`, that month's payments.
pub fn replace_months(c: &mut DbConn, rows: &[BenefitRow]) -> StoreResult<usize> {
    let households = rows
        .iter()
        .map(|r| (r.payment_month, r.symbol.as_str(), r.number.as_str()));
    let mut removed = 0;
    for (month, symbol, numbers) in super::deletions(households) {
        removed += diesel::delete(
            b::benefit_payments
                .filter(b::payment_month.eq(month))
                .filter(b::symbol.eq(symbol))
                .filter(b::number.eq_any(numbers)),
        )
        .execute(c)?;
    }
    for chunk in rows.chunks(INSERT_CHUNK) {
        super::per_backend!(c, c => diesel::insert_into(b::benefit_payments).values(chunk).execute(c))?;
    }
    Ok(removed)
}

pub fn count(c: &mut DbConn) -> StoreResult<i64> {
    Ok(b::benefit_payments.count().get_result(c)?)
}
