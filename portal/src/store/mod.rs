//! Persistence of notices. Each submodule owns one table family and exposes typed functions;
//! handlers and services never write SQL. Bulk writes (imports) take a connection so that one
//! transaction covers the deletes of replaced months, the inserts and the import record.

pub mod benefits;
pub mod eligibility;
pub mod imports;
pub mod medical;
pub mod schema;
pub mod visits;

pub use kenpo_shared::db::{Backend, Db, DbConn, StoreError, StoreResult};

use diesel_migrations::embed_migrations;
use std::collections::{BTreeMap, BTreeSet};

/// The portal's schema migrations, embedded in the binary.
pub const MIGRATIONS: kenpo_shared::db::Migrations = kenpo_shared::db::Migrations {
    sqlite: embed_migrations!("../migrations/portal/sqlite"),
    postgres: embed_migrations!("../migrations/portal/postgres"),
};

/// Rows per multi-row INSERT: well under SQLite's 32,766 bound parameters and PostgreSQL's
/// 65,535 with 14 columns, and large enough that 100,000 rows take a few hundred statements.
pub(crate) const INSERT_CHUNK: usize = 1000;

/// Values per `IN (…)` list when deleting replaced rows.
pub(crate) const IN_CHUNK: usize = 500;

/// What a file replaces, for one DELETE each: every (month or other `scope`, 記号) with the
/// 番号 of its households in chunks of [`IN_CHUNK`], in a stable order.
pub(crate) fn deletions<'a, K: Ord + Copy>(
    households: impl Iterator<Item = (K, &'a str, &'a str)>,
) -> Vec<(K, &'a str, Vec<&'a str>)> {
    let mut scope: BTreeMap<(K, &str), BTreeSet<&str>> = BTreeMap::new();
    for (k, symbol, number) in households {
        scope.entry((k, symbol)).or_default().insert(number);
    }
    let mut out = Vec::new();
    for ((k, symbol), numbers) in scope {
        let numbers: Vec<&str> = numbers.into_iter().collect();
        for chunk in numbers.chunks(IN_CHUNK) {
            out.push((k, symbol, chunk.to_vec()));
        }
    }
    out
}

/// Runs a statement on the concrete connection: multi-row INSERTs do not compile over the
/// `MultiConnection` backend, but do on each real one.
macro_rules! per_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::DbConn::Sqlite($c) => $body,
            $crate::store::DbConn::Pg($c) => $body,
        }
    };
}
pub(crate) use per_backend;
