//! kenpo identity provider: the OpenID Connect provider and hosted sign-in pages of the
//! union's member web, and the staff CLI. `app` builds the router (tests call it directly);
//! `startup` builds the state from configuration and runs the server and background tasks.

pub mod account;
pub mod admin;
pub mod config;
pub mod enroll;
pub mod error;
pub mod mail;
pub mod members_csv;
pub mod metrics;
pub mod mfa;
pub mod oidc;
pub mod onboarding;
pub mod pages;
pub mod recovery;
pub mod routes;
pub mod security;
pub mod signin;
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
