//! Persistence. `db` holds the pool and migrations; each submodule owns one table family and
//! exposes typed async functions (handlers and services never write SQL).

pub mod audit;
pub mod clients;
pub mod consents;
pub mod credentials;
pub mod grants;
pub mod invitations;
pub mod keys;
pub mod known_browsers;
pub mod member_search;
pub mod members;
pub mod outbox;
pub mod schema;
pub mod staff;

pub use kenpo_shared::db::{Backend, Db, DbConn, StoreError, StoreResult};
pub use kenpo_shared::ephemeral;

use diesel_migrations::embed_migrations;

/// The IdP's schema migrations, embedded in the binary.
pub const MIGRATIONS: kenpo_shared::db::Migrations = kenpo_shared::db::Migrations {
    sqlite: embed_migrations!("../migrations/idp/sqlite"),
    postgres: embed_migrations!("../migrations/idp/postgres"),
};
