//! Graceful shutdown, the same for both services. On SIGTERM (or ctrl-c):
//!
//! 1. `/readyz` answers 503 at once ([`Lifecycle::draining`]), while the listener still
//!    accepts: the load balancer takes the replica out of rotation without a refused request;
//! 2. after `drain` the listener closes and requests in flight finish, within `timeout`;
//! 3. background work sees [`Lifecycle::stopping`] and hands over (finishes what it holds or
//!    gives it back), within the same bound; then the process exits.
//!
//! `kill -9` skips all of it; what the replicas keep durable makes that safe too (the cluster
//! test kills replicas under load).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

#[derive(Clone, Debug)]
pub struct Lifecycle {
    draining: Arc<AtomicBool>,
    stop_tx: Arc<watch::Sender<bool>>,
    stop_rx: watch::Receiver<bool>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        let (tx, rx) = watch::channel(false);
        Lifecycle {
            draining: Arc::new(AtomicBool::new(false)),
            stop_tx: Arc::new(tx),
            stop_rx: rx,
        }
    }
}

impl Lifecycle {
    pub fn new() -> Self {
        Self::default()
    }

    /// True from the shutdown signal on: `/readyz` must answer 503.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Resolves when background work must stop taking new work.
    pub fn stopping(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    pub fn is_stopping(&self) -> bool {
        *self.stop_rx.borrow()
    }

    /// Marks the replica as draining (readiness false) and, after `drain`, stopping.
    pub async fn begin(&self, drain: Duration) {
        self.draining.store(true, Ordering::Relaxed);
        tracing::info!(
            drain_secs = drain.as_secs(),
            "shutting down: not ready any more"
        );
        tokio::time::sleep(drain).await;
        let _ = self.stop_tx.send(true);
    }
}

/// Work started in the background on behalf of a request (a mail still being delivered), so
/// that a stopping replica can wait for it.
#[derive(Clone, Debug, Default)]
pub struct InFlight {
    count: Arc<std::sync::atomic::AtomicUsize>,
    idle: Arc<tokio::sync::Notify>,
}

/// Held while one piece of background work runs.
pub struct InFlightGuard(InFlight);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl InFlight {
    pub fn start(&self) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.clone())
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Waits until nothing runs, at most `timeout`; false if work was still running.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.idle.notified();
                if self.count() == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}

/// Resolves at SIGTERM or ctrl-c.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Runs `server` (an axum server whose graceful shutdown waits for `lifecycle.stopping()`)
/// until a signal, then drains; gives up on requests still running `timeout` after the
/// listener closed.
pub async fn run_until_signal<F>(
    lifecycle: &Lifecycle,
    server: F,
    drain: Duration,
    timeout: Duration,
) -> std::io::Result<()>
where
    F: Future<Output = std::io::Result<()>> + Send,
{
    tokio::pin!(server);
    tokio::select! {
        r = &mut server => return r,
        _ = signal() => {}
    }
    let lc = lifecycle.clone();
    let begin = tokio::spawn(async move { lc.begin(drain).await });
    // The server keeps serving during the drain; it stops accepting once `stopping` fires.
    let overall = drain + timeout;
    match tokio::time::timeout(overall, &mut server).await {
        Ok(r) => {
            let _ = begin.await;
            r
        }
        Err(_) => {
            tracing::warn!(
                timeout_secs = timeout.as_secs(),
                "requests still running at the shutdown timeout were cut off"
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn draining_comes_before_stopping() {
        let lc = Lifecycle::new();
        assert!(!lc.draining() && !lc.is_stopping());
        let stopping = lc.stopping();
        let l2 = lc.clone();
        let t = tokio::spawn(async move { l2.begin(Duration::from_millis(200)).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(lc.draining(), "not ready at once");
        assert!(!lc.is_stopping(), "still serving during the drain");
        tokio::time::timeout(Duration::from_secs(2), stopping)
            .await
            .expect("stops after the drain");
        t.await.unwrap();
        assert!(lc.is_stopping());
    }

    #[tokio::test]
    async fn in_flight_work_is_waited_for() {
        let f = InFlight::default();
        assert!(f.wait_idle(Duration::from_millis(10)).await);
        let g = f.start();
        assert!(
            !f.wait_idle(Duration::from_millis(50)).await,
            "still running"
        );
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(g);
        });
        assert!(f.wait_idle(Duration::from_secs(2)).await);
    }
}
