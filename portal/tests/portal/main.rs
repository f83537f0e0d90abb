#![allow(clippy::unwrap_used)] // a test (or bench) that cannot set up is a failed test
//! The portal's integration tests, one binary: the app is called in-process (`tower`'s
//! `oneshot`) against its own database and store prefix, with a small stand-in IdP on loopback
//! (discovery, keys, token endpoint) whose tokens are signed with `ring`, independently of the
//! IdP crate. The real IdP is exercised by the cross-service suite (tests/tests/e2e/portal.rs).
//!
//! Backends: SQLite + in-process by default; PostgreSQL and Redis when
//! `KENPO_TEST_DATABASE_URL` / `KENPO_TEST_REDIS_URL` are set.

mod support;

mod backchannel;
mod import;
mod isolation;
mod signin;
mod statements;
