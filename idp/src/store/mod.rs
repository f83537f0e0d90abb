//! Persistence. `db` holds the pool and migrations; each submodule owns one table family and
//! exposes typed async functions (handlers and services never write SQL).

pub mod audit;
pub mod clients;
pub mod consents;
pub mod credentials;
pub mod db;
pub mod ephemeral;
pub mod grants;
pub mod keys;
pub mod members;
pub mod outbox;
pub mod schema;

pub use db::{Backend, Db, DbConn, StoreError, StoreResult};
