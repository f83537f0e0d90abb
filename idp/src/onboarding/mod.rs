//! First-login onboarding steps (SPEC steps 2–6): birthdate, terms, email, method, new password.

use crate::state::AppState;
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
}
