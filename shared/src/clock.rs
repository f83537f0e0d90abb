//! Time is read once per request from the application's clock, so that every time rule
//! (code lifetimes, throttles, initial-password expiry) can be tested with a fixed clock.

use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

#[derive(Clone, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    /// A clock that only moves when a test advances it.
    Fixed(Arc<Mutex<OffsetDateTime>>),
    /// The system clock shifted by some seconds: the cluster test runs replicas whose clocks
    /// disagree (`testing.clock_offset_secs`), as real machines' clocks do.
    Offset(i64),
}

impl Clock {
    pub fn fixed(at: OffsetDateTime) -> Self {
        Clock::Fixed(Arc::new(Mutex::new(at)))
    }

    /// The system clock, or the system clock shifted by `secs` when it is not zero.
    pub fn system_with_offset(secs: i64) -> Self {
        if secs == 0 {
            Clock::System
        } else {
            Clock::Offset(secs)
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        match self {
            Clock::System => OffsetDateTime::now_utc(),
            Clock::Fixed(t) => *t.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
            Clock::Offset(s) => OffsetDateTime::now_utc() + Duration::seconds(*s),
        }
    }

    /// Moves a fixed clock forward; a no-op on the system clock.
    pub fn advance(&self, by: Duration) {
        if let Clock::Fixed(t) = self {
            let mut guard = t.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *guard += by;
        }
    }
}

/// How far apart the clocks of two replicas may be. Times one replica wrote by its own clock
/// are judged by another's with this much allowance: signing keys are dated this far back, and
/// a short-lived record (a code, a pushed request) whose real end is the store's TTL — one
/// clock for every replica — is not taken for expired by a replica whose clock is ahead.
pub const REPLICA_SKEW_SECS: i64 = 300;

/// Whether a short-lived record written to end at `expires_at` (by some replica's clock) has
/// lapsed at `now` (this replica's), allowing for [`REPLICA_SKEW_SECS`]. Its store TTL ends
/// it on time in any case.
pub fn lapsed(expires_at: i64, now: i64) -> bool {
    expires_at.saturating_add(REPLICA_SKEW_SECS) <= now
}
