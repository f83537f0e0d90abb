//! The portal's Prometheus metrics (on `server.metrics_bind`, never the public port; each one
//! is described in docs/operator-guide.md with the alerts to set): the shared HTTP and store
//! metrics, notice views by kind and format (from the answers of the notice pages, so no
//! handler has to count), and imports by kind with the time of the latest (sampled from the
//! database at scrape time: imports also run from the CLI, in another process).

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use kenpo_shared::metrics::Metrics;
use kenpo_shared::metrics::prometheus_client::encoding::EncodeLabelSet;
use kenpo_shared::metrics::prometheus_client::metrics::counter::Counter;
use kenpo_shared::metrics::prometheus_client::metrics::family::Family;
use kenpo_shared::metrics::prometheus_client::metrics::gauge::Gauge;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ViewLabels {
    /// `home`, `medical`, `deduction`, `benefits`, `eligibility`.
    pub kind: String,
    /// `page`, `print`, `csv`.
    pub format: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

pub struct PortalMetrics {
    pub base: Arc<Metrics>,
    views: Family<ViewLabels, Counter>,
    imports: Family<KindLabels, Gauge>,
    last_import: Family<KindLabels, Gauge>,
}

impl std::fmt::Debug for PortalMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PortalMetrics")
    }
}

impl Default for PortalMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The notice a route shows, and in which form.
fn view_of_route(route: &str) -> Option<(&'static str, &'static str)> {
    Some(match route {
        "/" => ("home", "page"),
        "/medical" => ("medical", "page"),
        "/medical/deduction" => ("deduction", "page"),
        "/medical/deduction.csv" => ("deduction", "csv"),
        "/medical/deduction/print" => ("deduction", "print"),
        "/benefits" => ("benefits", "page"),
        "/eligibility" => ("eligibility", "page"),
        "/eligibility/print" => ("eligibility", "print"),
        _ => return None,
    })
}

impl PortalMetrics {
    pub fn new() -> PortalMetrics {
        let m = PortalMetrics {
            base: Arc::new(Metrics::new("kenpo_portal")),
            views: Family::default(),
            imports: Family::default(),
            last_import: Family::default(),
        };
        m.base.register(|r| {
            r.register(
                "notice_views",
                "Notice pages shown to signed-in members, by kind and format (page, print, csv)",
                m.views.clone(),
            );
            r.register(
                "imports",
                "Imports recorded in the database, by kind (sampled at scrape)",
                m.imports.clone(),
            );
            r.register(
                "last_import_timestamp_seconds",
                "Time of the latest import, by kind (UNIX seconds; sampled at scrape)",
                m.last_import.clone(),
            );
        });
        m
    }

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
