//! What needs the application state: the values sampled at scrape time, the middleware that
//! counts notice views, and the metrics listener's view of the state.

use super::*;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Duration;

impl PortalMetrics {
    pub async fn render(&self, state: &AppState) -> String {
        let summary = state.db.run(crate::store::imports::summary);
        if let Ok(Ok(rows)) = tokio::time::timeout(Duration::from_secs(1), summary).await {
            for (kind, n, at) in rows {
                let l = KindLabels { kind };
                self.imports.get_or_create(&l).set(n);
                self.last_import.get_or_create(&l).set(at);
            }
        }
        self.base.render(&state.db, &state.eph).await
    }
}

/// Middleware: counts notice pages answered 200 (a member saw their notices).
pub async fn notice_views(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let view = (req.method() == axum::http::Method::GET)
        .then(|| req.extensions().get::<MatchedPath>())
        .flatten()
        .and_then(|p| view_of_route(p.as_str()));
    let res = next.run(req).await;
    if let Some((kind, format)) = view
        && res.status() == axum::http::StatusCode::OK
    {
        state
            .metrics
            .views
            .get_or_create(&ViewLabels {
                kind: kind.into(),
                format: format.into(),
            })
            .inc();
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
