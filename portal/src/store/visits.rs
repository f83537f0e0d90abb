//! When each household last signed in, so the home page can say what is new since then.

use super::schema::visits::dsl as v;
use super::{DbConn, StoreResult};
use diesel::prelude::*;
use kenpo_shared::MemberKey;

/// Records a sign-in at `now` and returns the previous one.
pub fn swap(c: &mut DbConn, key: &MemberKey, now: i64) -> StoreResult<Option<i64>> {
    let filter = v::visits
        .filter(v::symbol.eq(key.symbol.as_str()))
        .filter(v::number.eq(key.number.as_str()));
    let previous: Option<i64> = filter.select(v::last_visit_at).first(c).optional()?;
    // Update first, insert when absent (on_conflict does not compile over MultiConnection).
    // Two replicas inserting at once: the loser's UniqueViolation means the row now exists.
    let n = diesel::update(filter)
        .set(v::last_visit_at.eq(now))
        .execute(c)?;
    if n == 0 {
        let inserted = diesel::insert_into(v::visits)
            .values((
                v::symbol.eq(key.symbol.as_str()),
                v::number.eq(key.number.as_str()),
                v::last_visit_at.eq(now),
            ))
            .execute(c);
        match inserted {
            Ok(_) => {}
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(previous)
}
