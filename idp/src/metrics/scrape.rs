//! What needs the application state: the values sampled at scrape time, the middleware that
//! counts sign-in answers, and the metrics listener's view of the state.

use super::*;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Duration;

impl IdpMetrics {
    /// Samples what lives elsewhere, then renders.
    pub async fn render(&self, state: &AppState) -> String {
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_secs(1), state.outbox().pending_count()).await
        {
            self.backchannel_pending.set(n);
        }
        self.argon2_queue.set(state.hasher.queue_depth() as i64);
        let (active, published) = state.keys.counts();
        self.signing_keys
            .get_or_create(&KindLabels {
                kind: "active".into(),
            })
            .set(active as i64);
        self.signing_keys
            .get_or_create(&KindLabels {
                kind: "published".into(),
            })
            .set(published as i64);
        self.base.render(&state.db, &state.eph).await
    }
}

/// Middleware: failures (401) and throttle refusals (429) of the sign-in endpoints.
pub async fn signin_outcomes(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let factor = (req.method() == axum::http::Method::POST)
        .then(|| req.extensions().get::<MatchedPath>())
        .flatten()
        .and_then(|p| factor_of_route(p.as_str()));
    let res = next.run(req).await;
    if let Some(factor) = factor {
        match res.status().as_u16() {
            401 => state.metrics.signin(factor, "failure"),
            429 => state.metrics.signin(factor, "throttled"),
            _ => {}
        }
    }
    res
}

/// The metrics listener's view of the state.
#[derive(Clone)]
pub struct Scrape(pub AppState);

impl kenpo_shared::metrics::Scrape for Scrape {
    async fn scrape(&self) -> String {
        self.0.metrics.render(&self.0).await
    }
}
