//! kenpo notice portal: 医療費・給付金・資格情報のお知らせ for members, signed in through the
//! union's IdP as an ordinary OpenID Connect relying party, and the staff import of notices.
//! `app` builds the router (tests call it directly); `startup` builds the state from
//! configuration.

pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod import;
pub mod metrics;
pub mod notices;
pub mod pages;
pub mod routes;
pub mod staff;
pub mod startup;
pub mod state;
/// Every page text, from `texts.toml` (see build.rs).
#[allow(clippy::all)]
pub mod texts {
    include!(concat!(env!("OUT_DIR"), "/texts.rs"));
}
pub mod store;

pub use routes::app;
pub use state::AppState;
