//! Brute-force throttling ("softlock"). Threat: guessing a member's password, birthdate or
//! one-time code, from one address or many, sequentially or in parallel.
//!
//! Per account (keyed by the normalised user ID, whether or not it exists, so unknown IDs get
//! the same answers): every attempt is counted *before* it is checked, with an atomic
//! increment, so parallel guesses cannot slip past the budget. The first
//! `account_free_failures` attempts pass; after that an attempt passes only by taking the
//! account's *gate*, a put-if-absent key that lives for a delay doubling with each failure (up
//! to `account_max_delay_secs`): of many parallel attempts exactly one gets through, the rest
//! are refused with the remaining wait and not counted. There is no permanent lockout. The
//! count is cleared when a sign-in completes (not on a correct password alone, so a thief with
//! the password cannot reset the budget for guessing the second factor).
//!
//! Per address: a fixed one-minute window of attempts.

use crate::config::ThrottleConfig;
use crate::store::ephemeral::{EphResult, Ephemeral, secs};
use kenpo_shared::scope::{self, Refusal};
use std::net::IpAddr;

/// Whether an attempt may be checked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Refused; try again after this many seconds.
    Wait(u64),
}

pub struct Throttle<'a> {
    eph: &'a Ephemeral,
    cfg: &'a ThrottleConfig,
}

fn delay_after(cfg: &ThrottleConfig, attempts: i64) -> i64 {
    let over = (attempts - cfg.account_free_failures - 1).clamp(0, 30) as u32;
    cfg.account_base_delay_secs
        .saturating_mul(1i64 << over)
        .min(cfg.account_max_delay_secs)
}

impl<'a> Throttle<'a> {
    pub fn new(eph: &'a Ephemeral, cfg: &'a ThrottleConfig) -> Self {
        Self { eph, cfg }
    }

    /// Claims one attempt against an account's budget.
    pub async fn account_attempt(&self, account: &str) -> EphResult<Gate> {
        let count_key = format!("softlock:n:{account}");
        let n = self
            .eph
            .incr(&count_key, 1, secs(self.cfg.account_window_secs))
            .await?;
        if n <= self.cfg.account_free_failures {
            return Ok(Gate::Open);
        }
        let delay = delay_after(self.cfg, n);
        let gate_key = format!("softlock:gate:{account}");
        if self.eph.put_new(&gate_key, "1", secs(delay)).await? {
            return Ok(Gate::Open);
        }
        self.eph
            .incr(&count_key, -1, secs(self.cfg.account_window_secs))
            .await?;
        let wait = self
            .eph
            .ttl(&gate_key)
            .await?
            .map(|d| d.as_secs().max(1))
            .unwrap_or(1);
        scope::note_refusal(Refusal::Account);
        Ok(Gate::Wait(wait))
    }

    /// Clears an account's failures (a completed sign-in).
    pub async fn account_cleared(&self, account: &str) -> EphResult<()> {
        self.eph.delete(&format!("softlock:n:{account}")).await?;
        self.eph.delete(&format!("softlock:gate:{account}")).await
    }

    /// Failures counted against an account (staff `members unlock` shows and clears them).
    pub async fn account_failures(&self, account: &str) -> EphResult<i64> {
        Ok(self
            .eph
            .get(&format!("softlock:n:{account}"))
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Counts one attempt from an address in the current minute.
    pub async fn address_attempt(&self, ip: IpAddr, now: i64) -> EphResult<Gate> {
        let window = now / 60;
        let n = self
            .eph
            .incr(
                &format!(
                    "rate:addr:{}:{window}",
                    crate::security::request::bucket(ip)
                ),
                1,
                secs(61),
            )
            .await?;
        if n > self.cfg.address_per_minute {
            scope::note_refusal(Refusal::Address);
            Ok(Gate::Wait((60 - now % 60).max(1) as u64))
        } else {
            Ok(Gate::Open)
        }
    }

    /// A generic fixed-window limit (`limit` events per `window_secs`) under `key`.
    pub async fn limit(
        &self,
        key: &str,
        limit: i64,
        window_secs: i64,
        now: i64,
    ) -> EphResult<Gate> {
        let window = now / window_secs;
        let n = self
            .eph
            .incr(&format!("rate:{key}:{window}"), 1, secs(window_secs + 1))
            .await?;
        if n > limit {
            scope::note_refusal(Refusal::Limit);
            Ok(Gate::Wait((window_secs - now % window_secs).max(1) as u64))
        } else {
            Ok(Gate::Open)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ephemeral::MemoryStore;

    fn cfg() -> ThrottleConfig {
        ThrottleConfig {
            account_free_failures: 3,
            account_base_delay_secs: 30,
            ..ThrottleConfig::default()
        }
    }

    #[tokio::test]
    async fn delays_start_after_the_free_attempts_and_grow() {
        let c = cfg();
        assert_eq!(delay_after(&c, 4), 30);
        assert_eq!(delay_after(&c, 5), 60);
        assert_eq!(delay_after(&c, 6), 120);
        assert_eq!(delay_after(&c, 100), c.account_max_delay_secs);
        let eph = Ephemeral::Memory(MemoryStore::new());
        let t = Throttle::new(&eph, &c);
        for _ in 0..3 {
            assert_eq!(t.account_attempt("taro").await.unwrap(), Gate::Open);
        }
        assert_eq!(
            t.account_attempt("taro").await.unwrap(),
            Gate::Open,
            "the gate lets one through"
        );
        assert!(
            matches!(t.account_attempt("taro").await.unwrap(), Gate::Wait(w) if w > 0 && w <= 30)
        );
        assert_eq!(
            t.account_attempt("hanako").await.unwrap(),
            Gate::Open,
            "accounts are independent"
        );
        t.account_cleared("taro").await.unwrap();
        assert_eq!(t.account_attempt("taro").await.unwrap(), Gate::Open);
    }

    #[tokio::test]
    async fn parallel_guesses_do_not_get_around_the_budget() {
        let c = cfg();
        let eph = Ephemeral::Memory(MemoryStore::new());
        let mut handles = Vec::new();
        for _ in 0..50 {
            let eph = eph.clone();
            let c = c.clone();
            handles.push(tokio::spawn(async move {
                Throttle::new(&eph, &c)
                    .account_attempt("jiro")
                    .await
                    .unwrap()
            }));
        }
        let mut open = 0;
        for h in handles {
            if h.await.unwrap() == Gate::Open {
                open += 1;
            }
        }
        assert_eq!(open, 4, "three free attempts plus one through the gate");
    }

    #[tokio::test]
    async fn ipv6_addresses_of_one_64_share_the_address_budget() {
        let c = ThrottleConfig {
            address_per_minute: 2,
            ..ThrottleConfig::default()
        };
        let eph = Ephemeral::Memory(MemoryStore::new());
        let t = Throttle::new(&eph, &c);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            t.address_attempt(ip("2001:db8:1:2::1"), 120).await.unwrap(),
            Gate::Open
        );
        assert_eq!(
            t.address_attempt(ip("2001:db8:1:2::2"), 120).await.unwrap(),
            Gate::Open
        );
        assert!(
            matches!(
                t.address_attempt(ip("2001:db8:1:2:ffff::9"), 120)
                    .await
                    .unwrap(),
                Gate::Wait(_)
            ),
            "another address of the same /64 finds the budget spent"
        );
        assert_eq!(
            t.address_attempt(ip("2001:db8:1:3::1"), 120).await.unwrap(),
            Gate::Open,
            "another /64 has its own"
        );
    }

    #[tokio::test]
    async fn addresses_have_a_per_minute_budget() {
        let c = ThrottleConfig {
            address_per_minute: 2,
            ..ThrottleConfig::default()
        };
        let eph = Ephemeral::Memory(MemoryStore::new());
        let t = Throttle::new(&eph, &c);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(t.address_attempt(ip, 120).await.unwrap(), Gate::Open);
        assert_eq!(t.address_attempt(ip, 121).await.unwrap(), Gate::Open);
        assert_eq!(t.address_attempt(ip, 122).await.unwrap(), Gate::Wait(58));
        assert_eq!(
            t.address_attempt(ip, 180).await.unwrap(),
            Gate::Open,
            "a new minute"
        );
    }
}
