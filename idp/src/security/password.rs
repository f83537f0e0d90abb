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
}

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
    pub fn new(m_kib: u32, t: u32, p: u32, concurrency: usize) -> Result<Self, HashError> {
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
        Ok(Self {
            params,
            jobs: start_threads(concurrency)?,
            dummy: Arc::new(dummy),
            depth: Arc::default(),
        })
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
        let (done, result) = tokio::sync::oneshot::channel();
        let depth = self.depth.clone();
        depth.fetch_add(1, Ordering::Relaxed);
        let queued = depth.clone();
        self.jobs
            .send(Box::new(move || {
                let out = f();
                queued.fetch_sub(1, Ordering::Relaxed);
                // The caller may have gone (request cancelled): nobody to tell.
                let _ = done.send(out);
            }))
            .map_err(|_| {
                depth.fetch_sub(1, Ordering::Relaxed);
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
        let hasher = PasswordHasher::new(19_456, 2, 1, 2).unwrap();
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

        let weak = PasswordHasher::new(19_456, 2, 1, 1).unwrap();
        let stronger = PasswordHasher::new(19_456, 3, 1, 1).unwrap();
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
}
