//! The portal's Prometheus metrics (on `server.metrics_bind`, never the public port; each one
//! is described in docs/operator-guide.md with the alerts to set): the shared HTTP and store
//! metrics, notice views by kind and format (from the answers of the notice pages, so no
//! handler has to count), and imports by kind with the time of the latest (sampled from the
//! database at scrape time: imports also run from the CLI, in another process).

mod scrape;

pub use scrape::{Scrape, notice_views};

use kenpo_shared::metrics::Metrics;
use kenpo_shared::metrics::prometheus_client::encoding::EncodeLabelSet;
use kenpo_shared::metrics::prometheus_client::metrics::counter::Counter;
use kenpo_shared::metrics::prometheus_client::metrics::family::Family;
use kenpo_shared::metrics::prometheus_client::metrics::gauge::Gauge;
use std::sync::Arc;

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
}
