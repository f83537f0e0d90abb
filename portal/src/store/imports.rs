//! The record of staff imports (what was loaded, when, from which file).

use super::schema::imports::dsl as i;
use super::{DbConn, StoreResult};
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::imports)]
pub struct ImportRecord {
    pub id: String,
    /// `medical`, `benefits` or `eligibility`.
    pub kind: String,
    pub file_name: String,
    /// `UTF-8` or `Shift_JIS`.
    pub encoding: String,
    pub rows_imported: i64,
    pub rows_replaced: i64,
    pub households: i64,
    pub imported_at: i64,
}

pub fn record(c: &mut DbConn, r: &ImportRecord) -> StoreResult<()> {
    diesel::insert_into(i::imports).values(r).execute(c)?;
    Ok(())
}

/// The latest imports, newest first.
pub fn latest(c: &mut DbConn, limit: i64) -> StoreResult<Vec<ImportRecord>> {
    Ok(i::imports
        .order(i::imported_at.desc())
        .limit(limit)
        .select(ImportRecord::as_select())
        .load(c)?)
}

/// Per kind: how many imports and the time of the latest one (metrics).
pub fn summary(c: &mut DbConn) -> StoreResult<Vec<(String, i64, i64)>> {
    use diesel::dsl::{count_star, max};
    let out: Vec<(String, i64, Option<i64>)> = i::imports
        .group_by(i::kind)
        .select((i::kind, count_star(), max(i::imported_at)))
        .load(c)?;
    Ok(out
        .into_iter()
        .map(|(k, n, at)| (k, n, at.unwrap_or(0)))
        .collect())
}

/// Who made an import on the staff pages, and why.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::staff_imports)]
pub struct StaffImport {
    pub import_id: String,
    pub staff_sub: String,
    pub staff_email: String,
    pub reason: String,
    pub at: i64,
}

pub fn record_staff(c: &mut DbConn, r: &StaffImport) -> StoreResult<()> {
    diesel::insert_into(super::schema::staff_imports::table)
        .values(r)
        .execute(c)?;
    Ok(())
}

/// The staff record of each of `ids` that has one.
pub fn staff_of(c: &mut DbConn, ids: &[String]) -> StoreResult<Vec<StaffImport>> {
    use super::schema::staff_imports::dsl as s;
    Ok(s::staff_imports
        .filter(s::import_id.eq_any(ids))
        .select(StaffImport::as_select())
        .load(c)?)
}
