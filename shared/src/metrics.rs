//! Prometheus metrics both services share: requests per route (rate, latency, in flight),
//! answers given because a backend was unreachable, throttle refusals, and the health of the
//! database pool and Redis. Each service adds its own metrics to the same [`Registry`] and
//! serves it on a separate listener ([`serve`]), never on the public port: the figures say
//! how the service is used and must not be readable from the internet.
//!
//! The registry lives in the application state (no global recorder), so every test builds its
//! own.

use crate::db::Db;
use crate::ephemeral::Ephemeral;
use crate::scope;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use prometheus_client;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route template (`/signin/mfa-totp`), never the raw path (unbounded cardinality).
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    pub backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    pub kind: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

/// The metrics of the HTTP edge and the stores.
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    unavailable: Family<BackendLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
}

/// The registry of one service plus what is sampled at scrape time.
pub struct Metrics {
    registry: Mutex<Registry>,
    pub http: HttpMetrics,
    backend_up: Family<BackendLabels, Gauge>,
    db_connections: Gauge,
    db_idle: Gauge,
    db_max: Gauge,
    db_unavailable: Counter,
    redis_commands: Counter,
    redis_unavailable: Counter,
    redis_errors: Counter,
    redis_seen: Mutex<(u64, u64, u64, u64)>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A registry whose names start with `prefix_` (`kenpo_idp`, `kenpo_portal`).
    pub fn new(prefix: &str) -> Metrics {
        let mut r = Registry::with_prefix(prefix);
        let http = HttpMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            in_flight: Gauge::default(),
            unavailable: Family::default(),
            refusals: Family::default(),
        };
        r.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            http.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            http.duration.clone(),
        );
        r.register(
            "http_requests_in_flight",
            "HTTP requests being answered now",
            http.in_flight.clone(),
        );
        r.register(
            "backend_unavailable_responses",
            "Requests answered 503 because a backend (redis, database) could not be reached",
            http.unavailable.clone(),
        );
        r.register(
            "throttle_refusals",
            "Requests refused by a throttle: account (softlock gate closed), address, limit",
            http.refusals.clone(),
        );
        let m = Metrics {
            http,
            backend_up: Family::default(),
            db_connections: Gauge::default(),
            db_idle: Gauge::default(),
            db_max: Gauge::default(),
            db_unavailable: Counter::default(),
            redis_commands: Counter::default(),
            redis_unavailable: Counter::default(),
            redis_errors: Counter::default(),
            redis_seen: Mutex::new((0, 0, 0, 0)),
            registry: Mutex::new(Registry::default()),
        };
        r.register(
            "backend_up",
            "1 when the backend answered the last probe (at scrape time, 1 s deadline)",
            m.backend_up.clone(),
        );
        r.register(
            "db_pool_connections",
            "Open database connections of this replica",
            m.db_connections.clone(),
        );
        r.register(
            "db_pool_idle_connections",
            "Idle database connections of this replica",
            m.db_idle.clone(),
        );
        r.register(
            "db_pool_max_connections",
            "Configured size of the database pool",
            m.db_max.clone(),
        );
        r.register(
            "db_unavailable",
            "Database operations that failed because the database could not be reached",
            m.db_unavailable.clone(),
        );
        r.register(
            "redis_commands",
            "Redis commands sent",
            m.redis_commands.clone(),
        );
        r.register(
            "redis_unavailable",
            "Redis commands that failed because Redis could not be reached in time",
            m.redis_unavailable.clone(),
        );
        r.register(
            "redis_errors",
            "Redis commands that failed otherwise",
            m.redis_errors.clone(),
        );
        *m.registry.lock().unwrap_or_else(|p| p.into_inner()) = r;
        m
    }

    /// Adds service-specific metrics to the registry.
    pub fn register(&self, f: impl FnOnce(&mut Registry)) {
        f(&mut self.registry.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Samples the stores (a probe of each, bounded), then renders the text format.
    pub async fn render(&self, db: &Db, eph: &Ephemeral) -> String {
        let probe = Duration::from_secs(1);
        let db_up = matches!(tokio::time::timeout(probe, db.ping()).await, Ok(Ok(())));
        let eph_up = matches!(tokio::time::timeout(probe, eph.ping()).await, Ok(Ok(())));
        self.sample(db, eph, db_up, eph_up);
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }

    fn sample(&self, db: &Db, eph: &Ephemeral, db_up: bool, eph_up: bool) {
        let up = |b: &str, v: bool| {
            self.backend_up
                .get_or_create(&BackendLabels { backend: b.into() })
                .set(i64::from(v));
        };
        up("database", db_up);
        up("redis", eph_up);
        let p = db.stats();
        self.db_connections.set(i64::from(p.connections));
        self.db_idle.set(i64::from(p.idle));
        self.db_max.set(i64::from(p.max));
        // The stores count with plain atomics; the counters here follow them.
        let mut seen = self.redis_seen.lock().unwrap_or_else(|p| p.into_inner());
        let follow = |c: &Counter, now: u64, before: &mut u64| {
            c.inc_by(now.saturating_sub(*before));
            *before = now.max(*before);
        };
        follow(&self.db_unavailable, p.unavailable, &mut seen.3);
        if let Some(r) = eph.redis_stats() {
            follow(
                &self.redis_commands,
                r.commands.load(Ordering::Relaxed),
                &mut seen.0,
            );
            follow(
                &self.redis_unavailable,
                r.unavailable.load(Ordering::Relaxed),
                &mut seen.1,
            );
            follow(
                &self.redis_errors,
                r.errors.load(Ordering::Relaxed),
                &mut seen.2,
            );
        }
    }
}

/// Middleware (outermost but for request ids and tracing): opens the request's
/// [`scope`], and records its route, status, latency and what the scope observed.
pub async fn track(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    // Decremented on drop: a request cut off by the timeout layer outside is dropped here.
    struct InFlight(Gauge);
    impl Drop for InFlight {
        fn drop(&mut self) {
            self.0.dec();
        }
    }
    m.http.in_flight.inc();
    let guard = InFlight(m.http.in_flight.clone());
    let (res, seen) = scope::observe(next.run(req)).await;
    drop(guard);
    let status = res.status().as_u16();
    m.http
        .duration
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    m.http
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status,
        })
        .inc();
    if let Some(b) = seen.outage()
        && status == 503
    {
        m.http
            .unavailable
            .get_or_create(&BackendLabels {
                backend: b.as_str().into(),
            })
            .inc();
    }
    if let Some(r) = seen.refusal() {
        m.http
            .refusals
            .get_or_create(&RefusalLabels {
                kind: r.as_str().into(),
            })
            .inc();
    }
    res
}

/// What the metrics listener needs to render a scrape.
pub trait Scrape: Clone + Send + Sync + 'static {
    fn scrape(&self) -> impl std::future::Future<Output = String> + Send;
}

/// Serves `GET /metrics` on its own listener until `shutdown` resolves.
pub async fn serve<S: Scrape>(
    listener: tokio::net::TcpListener,
    source: S,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    async fn metrics<S: Scrape>(State(s): State<S>) -> Response {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            s.scrape().await,
        )
            .into_response()
    }
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics::<S>))
        .with_state(source);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn requests_are_counted_by_route_template() {
        let m = Arc::new(Metrics::new("t"));
        let app = axum::Router::new()
            .route("/items/{id}", get(|| async { "ok" }))
            .route(
                "/down",
                get(|| async {
                    scope::note_outage(scope::Backend::Ephemeral);
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                }),
            )
            .layer(axum::middleware::from_fn_with_state(m.clone(), track));
        for uri in ["/items/1", "/items/2", "/down"] {
            let req = Request::builder().uri(uri).body(axum::body::Body::empty());
            let _ = app.clone().oneshot(req.unwrap()).await.unwrap();
        }
        let db = Db::connect("sqlite://:memory:", 1).unwrap();
        let eph = Ephemeral::Memory(crate::ephemeral::MemoryStore::new());
        let text = m.render(&db, &eph).await;
        assert!(
            text.contains(
                r#"t_http_requests_total{method="GET",route="/items/{id}",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"t_backend_unavailable_responses_total{backend="redis"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"t_backend_up{backend="database"} 1"#),
            "{text}"
        );
    }
}
