//! 資格情報のお知らせ rows: the current eligibility of each household member.

use super::schema::eligibility::dsl as e;
use super::{DbConn, INSERT_CHUNK, StoreResult};
use diesel::prelude::*;
use kenpo_shared::MemberKey;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::eligibility)]
pub struct EligibilityRow {
    pub symbol: String,
    pub number: String,
    pub branch: String,
    /// 保険者番号: eight digits.
    pub insurer_number: String,
    pub name: String,
    pub name_kana: String,
    /// `YYYY-MM-DD`.
    pub birthdate: String,
    /// 資格取得年月日, `YYYY-MM-DD`.
    pub eligible_since: String,
    /// 一部負担金の割合: 1, 2 or 3 (割).
    pub cost_share: i32,
    /// 交付年月日, `YYYY-MM-DD`.
    pub issued_on: String,
    pub import_id: String,
    pub imported_at: i64,
}

/// A household's members, insured person first.
pub fn list(c: &mut DbConn, key: &MemberKey) -> StoreResult<Vec<EligibilityRow>> {
    Ok(e::eligibility
        .filter(e::symbol.eq(key.symbol.as_str()))
        .filter(e::number.eq(key.number.as_str()))
        .order(e::branch)
        .select(EligibilityRow::as_select())
        .load(c)?)
}

/// Replaces the members of every household present in `rows` with `rows` (a dependant missing
/// from the file has left the household).
pub fn replace_households(c: &mut DbConn, rows: &[EligibilityRow]) -> StoreResult<usize> {
    let households = rows
        .iter()
        .map(|r| ((), r.symbol.as_str(), r.number.as_str()));
    let mut removed = 0;
    for ((), symbol, numbers) in super::deletions(households) {
        removed += diesel::delete(
            e::eligibility
                .filter(e::symbol.eq(symbol))
                .filter(e::number.eq_any(numbers)),
        )
        .execute(c)?;
    }
    for chunk in rows.chunks(INSERT_CHUNK) {
        super::per_backend!(c, c => diesel::insert_into(e::eligibility).values(chunk).execute(c))?;
    }
    Ok(removed)
}

pub fn count(c: &mut DbConn) -> StoreResult<i64> {
    Ok(e::eligibility.count().get_result(c)?)
}
