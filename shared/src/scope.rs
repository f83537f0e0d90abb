//! Facts a request learns on its way through the stores, read once at the edge.
//!
//! A handler turns a store failure into a page or protocol error in many places, often after
//! the error has become text. Whether the cause was an unreachable backend (Redis or the
//! database down, a timeout) decides between "something broke" (500) and "temporarily
//! unavailable" (503 with `Retry-After`), and it must not depend on every handler passing the
//! right error type along. So the stores note an outage here, in a value scoped to the request
//! by the outermost middleware ([`observe`]), and the error conversions ask [`outage`].
//!
//! Outside a scope (background tasks, the CLI, unit tests) every note is dropped and every
//! question answers "nothing seen".

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// A backend a request could not reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The short-lived store (Redis).
    Ephemeral,
    /// The durable store (PostgreSQL or SQLite).
    Database,
    /// The IdP's password-hashing queue is full (not a remote backend, but the same answer:
    /// 503 with `Retry-After`, nothing changed).
    Hashing,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Ephemeral => "redis",
            Backend::Database => "database",
            Backend::Hashing => "argon2",
        }
    }
}

/// Why a request was refused by a throttle (for the metrics of throttling and lockouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An account's failure budget is spent (the softlock gate is closed).
    Account,
    /// Too many attempts from one address.
    Address,
    /// Another fixed-window limit (mail resends, recovery requests).
    Limit,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Account => "account",
            Refusal::Address => "address",
            Refusal::Limit => "limit",
        }
    }
}

/// What one request observed.
#[derive(Debug, Default)]
pub struct Observed {
    outage: AtomicU8,
    refusal: AtomicU8,
}

impl Observed {
    pub fn outage(&self) -> Option<Backend> {
        match self.outage.load(Ordering::Relaxed) {
            1 => Some(Backend::Ephemeral),
            2 => Some(Backend::Database),
            3 => Some(Backend::Hashing),
            _ => None,
        }
    }

    pub fn refusal(&self) -> Option<Refusal> {
        match self.refusal.load(Ordering::Relaxed) {
            1 => Some(Refusal::Account),
            2 => Some(Refusal::Address),
            3 => Some(Refusal::Limit),
            _ => None,
        }
    }
}

tokio::task_local! {
    static SCOPE: Arc<Observed>;
}

/// Runs `f` (a request) in a fresh scope and returns its output with what it observed.
pub async fn observe<F: Future>(f: F) -> (F::Output, Arc<Observed>) {
    let seen = Arc::new(Observed::default());
    let out = SCOPE.scope(seen.clone(), f).await;
    (out, seen)
}

/// Notes that the current request could not reach `backend`.
pub fn note_outage(backend: Backend) {
    let v = match backend {
        Backend::Ephemeral => 1,
        Backend::Database => 2,
        Backend::Hashing => 3,
    };
    let _ = SCOPE.try_with(|s| s.outage.store(v, Ordering::Relaxed));
}

/// Notes that a throttle refused the current request.
pub fn note_refusal(why: Refusal) {
    let v = match why {
        Refusal::Account => 1,
        Refusal::Address => 2,
        Refusal::Limit => 3,
    };
    let _ = SCOPE.try_with(|s| s.refusal.store(v, Ordering::Relaxed));
}

/// The backend the current request found unreachable, if any.
pub fn outage() -> Option<Backend> {
    SCOPE.try_with(|s| s.outage()).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notes_stay_inside_their_request() {
        note_outage(Backend::Database); // outside any scope: dropped
        assert_eq!(outage(), None);
        let (inner, seen) = observe(async {
            assert_eq!(outage(), None);
            note_outage(Backend::Ephemeral);
            note_refusal(Refusal::Account);
            outage()
        })
        .await;
        assert_eq!(inner, Some(Backend::Ephemeral));
        assert_eq!(seen.outage(), Some(Backend::Ephemeral));
        assert_eq!(seen.refusal(), Some(Refusal::Account));
        let (_, other) = observe(async {}).await;
        assert_eq!(other.outage(), None, "a new request starts clean");
    }
}
