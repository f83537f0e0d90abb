//! Enrolment of a second factor (passkey, authenticator app, email OTP), used by onboarding and
//! by the account page.

use crate::state::AppState;
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
}
