//! Self-service recovery: forgot password (reset link by mail), forgot user ID.

use crate::state::AppState;
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
}
