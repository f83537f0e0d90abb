#![allow(clippy::unwrap_used)] // a test (or bench) that cannot set up is a failed test
//! Cross-service tests: the IdP (and the portal) served over real HTTP on loopback, driven by
//! a cookie-keeping HTTP client like a browser, checked by independent implementations
//! (openidconnect as the relying party, jsonwebtoken for logout tokens, ring's HMAC for TOTP).
//!
//! Backends: SQLite + in-process by default; PostgreSQL and Redis when
//! `KENPO_TEST_DATABASE_URL` / `KENPO_TEST_REDIS_URL` are set (`.ci/run` runs both).

mod support;

mod account;
mod admin;
mod bounded;
mod dpop;
mod factors;
mod letters;
mod lifetimes;
mod oidc;
mod onboarding;
mod passwords;
mod portal;
mod races;
mod reads;
mod recovery;
mod softlock;
mod staff;
mod staff_portal;
mod strict;
