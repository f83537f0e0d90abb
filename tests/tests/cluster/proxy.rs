//! A small round-robin HTTP load balancer in front of the replicas of one service, as an
//! operator would put nginx or a cloud load balancer there: every request goes to the next
//! ready replica (consecutive requests of one sign-in land on different replicas); `/readyz`
//! is polled every 200 ms and a replica that is not ready gets no new requests; a request
//! that could not even be sent (connection refused) is retried on the next replica; one that
//! broke after it was sent is answered 502 (it was in flight). When no replica is ready
//! (a shared backend is down), requests still go round (fail open), so members see the
//! replicas' own "temporarily unavailable" page. Every answer names its replica in
//! `x-kenpo-replica` and is logged for the scenarios' figures.

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One answer given by the proxy.
#[derive(Debug, Clone)]
pub struct Logged {
    pub at: Instant,
    pub took: Duration,
    /// Index of the replica that answered (None: no replica could be reached).
    pub replica: Option<usize>,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// The request was sent and the connection broke (502 from the proxy).
    pub broken: bool,
}

pub struct Backend {
    pub name: String,
    pub port: u16,
    ready: AtomicBool,
    /// The test takes a replica out of rotation itself (stopped on purpose).
    pub enabled: AtomicBool,
}

pub struct Proxy {
    pub port: u16,
    pub backends: Vec<Arc<Backend>>,
    next: AtomicUsize,
    http: reqwest::Client,
    log: Mutex<Vec<Logged>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn url(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    /// Starts a proxy on `port` in front of `backends` (name, port).
    pub async fn start(port: u16, backends: Vec<(String, u16)>) -> Arc<Proxy> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("proxy port");
        let proxy = Arc::new(Proxy {
            port,
            backends: backends
                .into_iter()
                .map(|(name, port)| {
                    Arc::new(Backend {
                        name,
                        port,
                        ready: AtomicBool::new(false),
                        enabled: AtomicBool::new(true),
                    })
                })
                .collect(),
            next: AtomicUsize::new(0),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(40))
                .pool_idle_timeout(Duration::from_secs(5))
                .build()
                .expect("proxy client"),
            log: Mutex::new(Vec::new()),
            stop: Arc::new(AtomicBool::new(false)),
        });
        let p = proxy.clone();
        tokio::spawn(async move {
            let probe = reqwest::Client::builder()
                .timeout(Duration::from_millis(1500))
                .build()
                .expect("probe client");
            while !p.stop.load(Ordering::Relaxed) {
                let checks = p.backends.iter().map(|b| {
                    let probe = probe.clone();
                    async move {
                        let ok = probe
                            .get(format!("http://127.0.0.1:{}/readyz", b.port))
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success());
                        b.ready.store(ok, Ordering::Relaxed);
                    }
                });
                futures_join_all(checks).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(proxy.clone())
            .into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        proxy
    }

    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn is_ready(&self, i: usize) -> bool {
        self.backends[i].ready.load(Ordering::Relaxed)
    }

    /// Waits until `i` is seen ready by the health checks.
    pub async fn wait_ready(&self, i: usize, within: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < within {
            if self.is_ready(i) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// The answers logged from `from` on.
    pub fn log_since(&self, from: Instant) -> Vec<Logged> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.at >= from)
            .cloned()
            .collect()
    }

    /// The next replica to use: ready and enabled ones in turn, all enabled ones if none is
    /// ready.
    fn pick(&self, skip: &[usize]) -> Option<usize> {
        let n = self.backends.len();
        let usable = |i: usize, need_ready: bool| {
            let b = &self.backends[i];
            b.enabled.load(Ordering::Relaxed)
                && !skip.contains(&i)
                && (!need_ready || b.ready.load(Ordering::Relaxed))
        };
        for need_ready in [true, false] {
            for _ in 0..n {
                let i = self.next.fetch_add(1, Ordering::Relaxed) % n;
                if usable(i, need_ready) {
                    return Some(i);
                }
            }
        }
        None
    }
}

async fn futures_join_all<F: std::future::Future<Output = ()>>(fs: impl Iterator<Item = F>) {
    let handles: Vec<_> = fs.collect();
    for f in handles {
        f.await;
    }
}

const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
];

async fn forward(
    State(p): State<Arc<Proxy>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path_q = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let path = req.uri().path().to_string();
    let mut headers = req.headers().clone();
    let body: Bytes = match axum::body::to_bytes(req.into_body(), 1 << 20).await {
        Ok(b) => b,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
    // The replicas trust 127.0.0.1 as a proxy: a client may name its own address (the load
    // workers do, so each simulated member has one, as on the internet).
    if !headers.contains_key("x-forwarded-for")
        && let Ok(v) = HeaderValue::from_str(&peer.ip().to_string())
    {
        headers.insert("x-forwarded-for", v);
    }
    let mut tried = Vec::new();
    let (replica, result) = loop {
        let Some(i) = p.pick(&tried) else {
            break (None, None);
        };
        tried.push(i);
        let b = &p.backends[i];
        let url = format!("http://127.0.0.1:{}{path_q}", b.port);
        let sent = p
            .http
            .request(method.clone(), &url)
            .headers(headers.clone())
            .body(body.clone())
            .send()
            .await;
        match sent {
            // Not sent at all: the replica is gone; mark it and try the next one.
            Err(e) if e.is_connect() => b.ready.store(false, Ordering::Relaxed),
            other => break (Some(i), Some(other)),
        }
    };
    let (status, response, broken) = match result {
        None => (
            StatusCode::BAD_GATEWAY,
            (StatusCode::BAD_GATEWAY, "no replica reachable").into_response(),
            false,
        ),
        Some(Err(_)) => (
            StatusCode::BAD_GATEWAY,
            (StatusCode::BAD_GATEWAY, "replica broke the connection").into_response(),
            true,
        ),
        Some(Ok(r)) => {
            let status = r.status();
            let rh: HeaderMap = r.headers().clone();
            match r.bytes().await {
                Ok(bytes) => {
                    let mut res = Response::new(Body::from(bytes));
                    *res.status_mut() = status;
                    for (k, v) in &rh {
                        if !HOP_BY_HOP.contains(&k.as_str()) && k != "content-length" {
                            res.headers_mut().append(k.clone(), v.clone());
                        }
                    }
                    (status, res, false)
                }
                Err(_) => (
                    StatusCode::BAD_GATEWAY,
                    (StatusCode::BAD_GATEWAY, "replica broke the answer").into_response(),
                    true,
                ),
            }
        }
    };
    let mut response = response;
    if let Some(i) = replica
        && let Ok(v) = HeaderValue::from_str(&p.backends[i].name)
    {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-kenpo-replica"), v);
    }
    p.log.lock().unwrap().push(Logged {
        at: started,
        took: started.elapsed(),
        replica,
        method: method.to_string(),
        path,
        status: status.as_u16(),
        broken,
    });
    response
}
