//! Password hashing with argon2id at or above OWASP's minimum (m = 19 MiB, t = 2, p = 1 by
//! default; see docs/security-model.md).
//!
//! Hashing is deliberately slow, so it runs on its own threads, as many as CPUs: a burst of
//! sign-ins queues here instead of occupying the async workers that serve every other request.
//! Each thread takes the next queued hash as soon as it finishes one, without a round trip
//! through the async scheduler (with a semaphore in front of the blocking pool, the handoff
//! waited for a busy worker and left a core idle between hashes). Unknown accounts and initial
//! passwords still pay for one hash (against a dummy), so the answer takes the same time
//! whether or not the account exists.
//!
//! The queue is bounded (`password.hash_queue_limit`, by default 64 waiting hashes per
//! thread, about two-thirds of a second of work each at ~96 hashes/s): past it a hash is
//! refused at once with [`HashError::Busy`], which pages answer as 503 with `Retry-After` and
//! protocol endpoints as `temporarily_unavailable` (noted in the request's scope like an
//! unreachable backend). Without a bound a flood of wrong passwords queued without limit, each
//! waiting request holding memory and a connection, and every sign-in waited behind it. A
//! job whose caller has gone (request cancelled or timed out) is dropped without hashing.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use kenpo_shared::Secret;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2 parameters rejected: {0}")]
    Params(String),
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("hashing pool closed")]
    Closed,
    /// The queue is full: the caller should answer "temporarily unavailable".
    #[error("hashing queue full")]
    Busy,
}

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// The hashing threads' queue; they end when the last clone of the hasher is dropped.
    jobs: Sender<Job>,
    dummy: Arc<String>,
    /// Hashes queued or running (the `argon2_queue_depth` metric).
    depth: Arc<std::sync::atomic::AtomicUsize>,
    /// Hashes queued and not yet taken by a thread, at most `limit`.
    waiting: Arc<std::sync::atomic::AtomicUsize>,
    limit: usize,
    /// Jobs run and jobs skipped because their caller had gone (tests and diagnostics).
    ran: Arc<std::sync::atomic::AtomicU64>,
    skipped: Arc<std::sync::atomic::AtomicU64>,
}

/// Waiting hashes allowed per hashing thread when `password.hash_queue_limit` is 0.
pub const DEFAULT_QUEUE_PER_THREAD: usize = 64;

/// Starts `n` hashing threads sharing one queue.
fn start_threads(n: usize) -> Result<Sender<Job>, HashError> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let rx: Arc<Mutex<Receiver<Job>>> = Arc::new(Mutex::new(rx));
    for i in 0..n {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || {
                loop {
                    // The lock is held only while taking a job, not while running it.
                    let job = match rx.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        // A panicking job must not take the thread with it.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => return, // every sender dropped
                    }
                }
            })
            .map_err(|e| HashError::Hash(format!("cannot start a hashing thread: {e}")))?;
    }
    Ok(tx)
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m_kib", &self.params.m_cost())
            .field("t", &self.params.t_cost())
            .field("p", &self.params.p_cost())
            .finish()
    }
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The stored hash used weaker parameters than configured: store a new one.
    pub needs_rehash: bool,
}

impl PasswordHasher {
    /// `concurrency` threads (0: one per CPU) and at most `queue_limit` hashes waiting for
    /// them (0: [`DEFAULT_QUEUE_PER_THREAD`] per thread).
    pub fn new(
        m_kib: u32,
        t: u32,
        p: u32,
        concurrency: usize,
        queue_limit: usize,
    ) -> Result<Self, HashError> {
        let params =
            Params::new(m_kib, t, p, None).map_err(|e| HashError::Params(e.to_string()))?;
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            concurrency
        };
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let dummy = argon
            .hash_password(b"kenpo dummy password for timing equality")
            .map_err(|e| HashError::Hash(e.to_string()))?
            .to_string();
        let limit = if queue_limit == 0 {
            DEFAULT_QUEUE_PER_THREAD.saturating_mul(concurrency)
        } else {
            queue_limit
        };
        Ok(Self {
            params,
            jobs: start_threads(concurrency)?,
            dummy: Arc::new(dummy),
            depth: Arc::default(),
            waiting: Arc::default(),
            limit,
            ran: Arc::default(),
            skipped: Arc::default(),
        })
    }

    /// Jobs skipped because their caller had gone before a thread took them.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Jobs computed.
    pub fn ran(&self) -> u64 {
        self.ran.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Hashes waiting for a thread or being computed now.
    pub fn queue_depth(&self) -> usize {
        self.depth.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        use std::sync::atomic::Ordering;
        // Claim a place in the queue, or refuse at once: a full queue is not waited for.
        if self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (w < self.limit).then_some(w + 1)
            })
            .is_err()
        {
            kenpo_shared::scope::note_outage(kenpo_shared::scope::Backend::Hashing);
            return Err(HashError::Busy);
        }
        let (done, result) = tokio::sync::oneshot::channel();
        let depth = self.depth.clone();
        depth.fetch_add(1, Ordering::Relaxed);
        let (queued, waiting) = (depth.clone(), self.waiting.clone());
        let (ran, skipped) = (self.ran.clone(), self.skipped.clone());
        self.jobs
            .send(Box::new(move || {
                waiting.fetch_sub(1, Ordering::AcqRel);
                // The caller has gone (request cancelled or timed out): nobody would read the
                // answer, so the thread moves on to a caller who is still waiting.
                if done.is_closed() {
                    skipped.fetch_add(1, Ordering::Relaxed);
                    queued.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
                ran.fetch_add(1, Ordering::Relaxed);
                let out = f();
                queued.fetch_sub(1, Ordering::Relaxed);
                // The caller may have gone meanwhile: nobody to tell.
                let _ = done.send(out);
            }))
            .map_err(|_| {
                depth.fetch_sub(1, Ordering::Relaxed);
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                HashError::Closed
            })?;
        // A panic in `f` drops `done` unsent.
        result
            .await
            .map_err(|_| HashError::Hash("the hashing thread failed".into()))
    }

    /// A new PHC string for `password`.
    pub async fn hash(&self, password: &Secret<String>) -> Result<String, HashError> {
        let argon = self.argon();
        let pw = password.clone();
        self.blocking(move || {
            argon
                .hash_password(pw.expose().as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| HashError::Hash(e.to_string()))
        })
        .await?
    }

    /// Checks `password` against `stored`; with no stored hash, spends the same time on a
    /// dummy and fails.
    pub async fn verify(
        &self,
        password: &Secret<String>,
        stored: Option<&str>,
    ) -> Result<Verified, HashError> {
        let argon = self.argon();
        let pw = password.clone();
        let (hash, real) = match stored {
            Some(h) => (h.to_string(), true),
            None => (self.dummy.as_str().to_string(), false),
        };
        let wanted = self.params.clone();
        self.blocking(move || {
            let ok = argon
                .verify_password(pw.expose().as_bytes(), hash.as_str())
                .is_ok();
            let needs_rehash = ok && real && !meets(&hash, &wanted);
            Verified {
                ok: ok && real,
                needs_rehash,
            }
        })
        .await
    }

    /// Spends one verification's time without checking anything (timing equality).
    pub async fn burn(&self, password: &Secret<String>) -> Result<(), HashError> {
        self.verify(password, None).await.map(|_| ())
    }
}

/// Whether a stored hash is argon2id with at least the wanted parameters.
fn meets(phc: &str, wanted: &Params) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    match Params::try_from(&parsed) {
        Ok(p) => {
            p.m_cost() >= wanted.m_cost()
                && p.t_cost() >= wanted.t_cost()
                && p.p_cost() >= wanted.p_cost()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_weak_ones_are_flagged() {
        let hasher = PasswordHasher::new(19_456, 2, 1, 2, 0).unwrap();
        let pw = Secret::new("Correct-Horse-1".to_string());
        let h = hasher.hash(&pw).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert_eq!(
            hasher.verify(&pw, Some(&h)).await.unwrap(),
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
        let wrong = Secret::new("Correct-Horse-2".to_string());
        assert!(!hasher.verify(&wrong, Some(&h)).await.unwrap().ok);
        assert!(
            !hasher.verify(&pw, None).await.unwrap().ok,
            "no stored hash never verifies"
        );

        let weak = PasswordHasher::new(19_456, 2, 1, 1, 0).unwrap();
        let stronger = PasswordHasher::new(19_456, 3, 1, 1, 0).unwrap();
        let old = weak.hash(&pw).await.unwrap();
        assert_eq!(
            stronger.verify(&pw, Some(&old)).await.unwrap(),
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
        assert!(!stronger.verify(&pw, Some("not a hash")).await.unwrap().ok);
    }

    /// Queues a job that holds the only thread until `release` is sent; returns once it runs.
    async fn occupy(hasher: &PasswordHasher) -> std::sync::mpsc::Sender<()> {
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel();
        let h = hasher.clone();
        tokio::spawn(async move {
            h.blocking(move || {
                let _ = started.send(());
                let _ = hold.recv();
            })
            .await
        });
        running.await.unwrap();
        release
    }

    async fn settled(hasher: &PasswordHasher) {
        for _ in 0..500 {
            if hasher.queue_depth() == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the queue did not drain");
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let hasher = PasswordHasher::new(19_456, 2, 1, 1, 1).unwrap();
        let release = occupy(&hasher).await;
        let pw = Secret::new("Correct-Horse-1".to_string());
        // One place in the queue: the first hash waits there, the second is refused.
        let waiting = {
            let (h, pw) = (hasher.clone(), pw.clone());
            tokio::spawn(async move { h.hash(&pw).await })
        };
        while hasher.waiting.load(std::sync::atomic::Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        let started = std::time::Instant::now();
        assert!(matches!(
            hasher.verify(&pw, None).await,
            Err(HashError::Busy)
        ));
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        assert_eq!(hasher.queue_depth(), 2, "the refused hash is not counted");
        release.send(()).unwrap();
        assert!(waiting.await.unwrap().is_ok(), "the queued hash still runs");
        settled(&hasher).await;
        assert!(hasher.verify(&pw, None).await.is_ok(), "room again");
    }

    #[tokio::test]
    async fn a_cancelled_callers_hash_is_skipped() {
        let hasher = PasswordHasher::new(19_456, 2, 1, 1, 0).unwrap();
        let release = occupy(&hasher).await;
        let pw = Secret::new("Correct-Horse-1".to_string());
        // The caller gives up while its hash waits (as a dropped request's future does).
        let gone =
            tokio::time::timeout(std::time::Duration::from_millis(20), hasher.hash(&pw)).await;
        assert!(gone.is_err());
        assert_eq!(hasher.queue_depth(), 2);
        release.send(()).unwrap();
        settled(&hasher).await;
        assert_eq!(hasher.ran(), 1, "only the occupying job ran");
        assert_eq!(hasher.skipped(), 1, "the abandoned hash was not computed");
        assert!(hasher.hash(&pw).await.is_ok());
        assert_eq!(hasher.ran(), 2);
    }
}
