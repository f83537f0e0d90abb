//! 医療費のお知らせ rows: one per person, treatment month, category and institution.

use super::schema::medical_costs::dsl as m;
use super::{DbConn, INSERT_CHUNK, StoreResult};
use diesel::prelude::*;
use kenpo_shared::MemberKey;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::medical_costs)]
pub struct MedicalRow {
    pub symbol: String,
    pub number: String,
    /// YYYYMM.
    pub treatment_month: i32,
    pub branch: String,
    /// A [`crate::notices::MedicalCategory`] code.
    pub category: String,
    pub institution: String,
    pub patient_name: String,
    pub days: i32,
    pub total_cost: i64,
    pub insurer_paid: i64,
    pub public_subsidy: i64,
    pub own_share: i64,
    pub import_id: String,
    pub imported_at: i64,
}

/// Rows of one household in `[from, to]` (YYYYMM), optionally one person, in month order.
pub fn between(
    c: &mut DbConn,
    key: &MemberKey,
    from: i32,
    to: i32,
    branch: Option<&str>,
) -> StoreResult<Vec<MedicalRow>> {
    let mut q = m::medical_costs
        .filter(m::symbol.eq(key.symbol.as_str()))
        .filter(m::number.eq(key.number.as_str()))
        .filter(m::treatment_month.between(from, to))
        .into_boxed();
    if let Some(b) = branch {
        q = q.filter(m::branch.eq(b.to_string()));
    }
    Ok(
        q.order((m::treatment_month, m::branch, m::category, m::institution))
            .select(MedicalRow::as_select())
            .load(c)?,
    )
}

/// The treatment months (YYYYMM) a household has rows for, newest first.
pub fn months(c: &mut DbConn, key: &MemberKey) -> StoreResult<Vec<i32>> {
    Ok(m::medical_costs
        .filter(m::symbol.eq(key.symbol.as_str()))
        .filter(m::number.eq(key.number.as_str()))
        .select(m::treatment_month)
        .distinct()
        .order(m::treatment_month.desc())
        .load(c)?)
}

/// The people (枝番, name) that appear in a household's rows.
pub fn persons(c: &mut DbConn, key: &MemberKey) -> StoreResult<Vec<(String, String)>> {
    Ok(m::medical_costs
        .filter(m::symbol.eq(key.symbol.as_str()))
        .filter(m::number.eq(key.number.as_str()))
        .select((m::branch, m::patient_name))
        .distinct()
        .load(c)?)
}

/// Treatment months of rows imported after `since`, one entry per row.
pub fn imported_after(c: &mut DbConn, key: &MemberKey, since: i64) -> StoreResult<Vec<i32>> {
    Ok(m::medical_costs
        .filter(m::symbol.eq(key.symbol.as_str()))
        .filter(m::number.eq(key.number.as_str()))
        .filter(m::imported_at.gt(since))
        .select(m::treatment_month)
        .load(c)?)
}

/// Replaces, for every household and treatment month present in `rows`, that month's rows
/// with `rows`. Returns how many earlier rows were removed. Call inside a transaction.
pub fn replace_months(c: &mut DbConn, rows: &[MedicalRow]) -> StoreResult<usize> {
    let households = rows
        .iter()
        .map(|r| (r.treatment_month, r.symbol.as_str(), r.number.as_str()));
    let mut removed = 0;
    for (month, symbol, numbers) in super::deletions(households) {
        removed += diesel::delete(
            m::medical_costs
                .filter(m::treatment_month.eq(month))
                .filter(m::symbol.eq(symbol))
                .filter(m::number.eq_any(numbers)),
        )
        .execute(c)?;
    }
    for chunk in rows.chunks(INSERT_CHUNK) {
        super::per_backend!(c, c => diesel::insert_into(m::medical_costs).values(chunk).execute(c))?;
    }
    Ok(removed)
}

/// Number of rows (all households): for operators and tests.
pub fn count(c: &mut DbConn) -> StoreResult<i64> {
    Ok(m::medical_costs.count().get_result(c)?)
}
