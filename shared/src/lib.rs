//! Types both kenpo services need: member identifiers and their normalisation, birthdates
//! (Western and Japanese eras), redacted secrets, the clock, configuration loading, telemetry,
//! language negotiation and the page chrome with its security headers.
//!
//! Nothing here touches credentials: password, factor and token logic live in the IdP only.

pub mod birthdate;
pub mod clock;
pub mod config;
pub mod db;
pub mod ephemeral;
pub mod ids;
pub mod import_text;
pub mod lang;
pub mod lifecycle;
pub mod lines;
pub mod metrics;
pub mod scope;
pub mod secret;
pub mod telemetry;
pub mod web;

pub use birthdate::{BirthdateError, parse_birthdate};
pub use clock::Clock;
pub use ids::{Branch, MemberKey, MemberNumber, MemberSymbol, UserId, normalize};
pub use lang::{Lang, Text};
pub use secret::Secret;
