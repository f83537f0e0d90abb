//! Brute-force throttling ("softlock"). Threat: guessing a member's password, birthdate or
//! one-time code, from one address or many, sequentially or in parallel — and the reverse,
//! a stranger who knows a user ID keeping the member out by failing on purpose.
//!
//! Budgets (docs/designs/softlock.md): an account has one budget per *known browser* (a
//! browser holding the member's device token, `security::device`) and one shared by every
//! other browser, each split in two kinds: the password (and birthdate) and the second-factor
//! codes. A stranger's failures land in the shared budget, so the member on their own phone
//! or PC is never slowed down by them.
//!
//! Within a budget every attempt is counted *before* it is checked, with an atomic increment,
//! so parallel guesses cannot slip past it. The first `account_free_failures` attempts pass;
//! after that an attempt passes only by taking the budget's *gate*, a put-if-absent key that
//! lives for a delay doubling with each failure (up to `account_max_delay_secs`): of many
//! parallel attempts exactly one gets through, the rest are refused with the remaining wait
//! and not counted. The count is forgotten `account_window_secs` after the *last* failure (a
//! sliding window). After `account_hard_cap` consecutive failures (NIST 800-63B §5.2.2: at most
//! 100) the budget is locked until the member completes a recovery (password budget) or staff
//! unlock the account. A completed sign-in clears the budget it was counted against; a password
//! reset clears the password budgets but never the codes', so whoever holds the mailbox does
//! not get fresh guesses at the second factor.
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

/// What a budget's failures are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The password, the birthdate, a letter's invitation code.
    Password,
    /// Second-factor codes (authenticator app, email).
    Code,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Password => "pwd",
            Kind::Code => "code",
        }
    }
    const ALL: [Kind; 2] = [Kind::Password, Kind::Code];
}

/// Whose budget an attempt counts against: an account (its normalised user ID, whether or not
/// it exists) from a known browser (the id `security::device` recognised) or from anywhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub account: String,
    pub browser: Option<String>,
}

impl Budget {
    pub fn new(account: &str, browser: Option<&str>) -> Self {
        Self {
            account: account.to_string(),
            browser: browser.map(String::from),
        }
    }

    fn key(&self, what: &str, kind: Kind) -> String {
        let browser = self.browser.as_deref().unwrap_or("any");
        format!(
            "softlock:{what}:{}:{}:{browser}",
            kind.as_str(),
            self.account
        )
    }

    /// Whether the attempt came from a browser the member signed in with before.
    pub fn known(&self) -> bool {
        self.browser.is_some()
    }
}

/// The answer for one attempt against a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Open,
    /// Refused for now; try again after this many seconds.
    Wait(u64),
    /// Past the hard cap: refused until a recovery or staff unlock.
    Locked,
}

fn browsers_key(account: &str) -> String {
    format!("softlock:browsers:{account}")
}

impl<'a> Throttle<'a> {
    pub fn new(eph: &'a Ephemeral, cfg: &'a ThrottleConfig) -> Self {
        Self { eph, cfg }
    }

    /// Claims one attempt against a budget.
    pub async fn account_attempt(&self, kind: Kind, budget: &Budget) -> EphResult<Verdict> {
        let lock_key = budget.key("lock", kind);
        if self.eph.get(&lock_key).await?.is_some() {
            scope::note_refusal(Refusal::Account);
            return Ok(Verdict::Locked);
        }
        if let Some(browser) = &budget.browser {
            // Remembered so staff unlock can find every budget of the account.
            self.eph
                .set_add(
                    &browsers_key(&budget.account),
                    browser,
                    secs(self.cfg.account_lock_secs),
                )
                .await?;
        }
        let count_key = budget.key("n", kind);
        let window = secs(self.cfg.account_window_secs);
        let n = self.eph.bump(&count_key, 1, window).await?;
        if n > self.cfg.account_hard_cap {
            self.eph
                .put(&lock_key, "1", secs(self.cfg.account_lock_secs))
                .await?;
            self.eph.incr(&count_key, -1, window).await?;
            scope::note_refusal(Refusal::Account);
            return Ok(Verdict::Locked);
        }
        if n <= self.cfg.account_free_failures {
            return Ok(Verdict::Open);
        }
        let delay = delay_after(self.cfg, n);
        let gate_key = budget.key("gate", kind);
        if self.eph.put_new(&gate_key, "1", secs(delay)).await? {
            return Ok(Verdict::Open);
        }
        self.eph.incr(&count_key, -1, window).await?;
        let wait = self
            .eph
            .ttl(&gate_key)
            .await?
            .map(|d| d.as_secs().max(1))
            .unwrap_or(1);
        scope::note_refusal(Refusal::Account);
        Ok(Verdict::Wait(wait))
    }

    async fn clear(&self, budget: &Budget, kind: Kind, with_lock: bool) -> EphResult<()> {
        self.eph.delete(&budget.key("n", kind)).await?;
        self.eph.delete(&budget.key("gate", kind)).await?;
        if with_lock {
            self.eph.delete(&budget.key("lock", kind)).await?;
        }
        Ok(())
    }

    /// Every budget of an account: the shared one and each known browser's.
    async fn budgets(&self, account: &str) -> EphResult<Vec<Budget>> {
        let mut all = vec![Budget::new(account, None)];
        for b in self.eph.set_members(&browsers_key(account)).await? {
            all.push(Budget::new(account, Some(&b)));
        }
        Ok(all)
    }

    /// A completed sign-in: the budget it was counted against starts afresh.
    pub async fn signed_in(&self, budget: &Budget) -> EphResult<()> {
        for kind in Kind::ALL {
            self.clear(budget, kind, true).await?;
        }
        Ok(())
    }

    /// A completed password reset: the password budgets (and their locks) start afresh,
    /// the second-factor ones do not.
    pub async fn recovered(&self, account: &str) -> EphResult<()> {
        for b in self.budgets(account).await? {
            self.clear(&b, Kind::Password, true).await?;
        }
        Ok(())
    }

    /// Staff unlock: every budget of the account, locks included.
    pub async fn unlock(&self, account: &str) -> EphResult<()> {
        for b in self.budgets(account).await? {
            for kind in Kind::ALL {
                self.clear(&b, kind, true).await?;
            }
        }
        self.eph.delete(&browsers_key(account)).await
    }

    /// Failures counted against an account in all its budgets, and whether one is locked
    /// (the staff console shows them before an unlock).
    pub async fn account_failures(&self, account: &str) -> EphResult<(i64, bool)> {
        let (mut n, mut locked) = (0, false);
        for b in self.budgets(account).await? {
            for kind in Kind::ALL {
                n += self
                    .eph
                    .get(&b.key("n", kind))
                    .await?
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0);
                locked |= self.eph.get(&b.key("lock", kind)).await?.is_some();
            }
        }
        Ok((n, locked))
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

    fn any(account: &str) -> Budget {
        Budget::new(account, None)
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
        let pwd = Kind::Password;
        for _ in 0..3 {
            assert_eq!(
                t.account_attempt(pwd, &any("taro")).await.unwrap(),
                Verdict::Open
            );
        }
        assert_eq!(
            t.account_attempt(pwd, &any("taro")).await.unwrap(),
            Verdict::Open,
            "the gate lets one through"
        );
        assert!(matches!(
            t.account_attempt(pwd, &any("taro")).await.unwrap(),
            Verdict::Wait(w) if w > 0 && w <= 30
        ));
        assert_eq!(
            t.account_attempt(pwd, &any("hanako")).await.unwrap(),
            Verdict::Open,
            "accounts are independent"
        );
        let phone = Budget::new("taro", Some("phone"));
        assert_eq!(
            t.account_attempt(pwd, &phone).await.unwrap(),
            Verdict::Open,
            "a known browser has its own budget"
        );
        assert_eq!(
            t.account_attempt(Kind::Code, &any("taro")).await.unwrap(),
            Verdict::Open,
            "codes have their own budget"
        );
        t.signed_in(&any("taro")).await.unwrap();
        assert_eq!(
            t.account_attempt(pwd, &any("taro")).await.unwrap(),
            Verdict::Open
        );
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
                    .account_attempt(Kind::Password, &any("jiro"))
                    .await
                    .unwrap()
            }));
        }
        let mut open = 0;
        for h in handles {
            if h.await.unwrap() == Verdict::Open {
                open += 1;
            }
        }
        assert_eq!(open, 4, "three free attempts plus one through the gate");
    }

    #[tokio::test]
    async fn the_hard_cap_locks_until_recovery_or_unlock() {
        // No delays, so the cap is what stops the guesses.
        let c = ThrottleConfig {
            account_free_failures: 1000,
            account_hard_cap: 5,
            ..ThrottleConfig::default()
        };
        let eph = Ephemeral::Memory(MemoryStore::new());
        let t = Throttle::new(&eph, &c);
        let b = any("saburo");
        for _ in 0..5 {
            assert_eq!(
                t.account_attempt(Kind::Password, &b).await.unwrap(),
                Verdict::Open
            );
            assert_eq!(
                t.account_attempt(Kind::Code, &b).await.unwrap(),
                Verdict::Open
            );
        }
        assert_eq!(
            t.account_attempt(Kind::Password, &b).await.unwrap(),
            Verdict::Locked
        );
        assert_eq!(
            t.account_attempt(Kind::Code, &b).await.unwrap(),
            Verdict::Locked
        );
        assert_eq!(t.account_failures("saburo").await.unwrap(), (10, true));
        let home = Budget::new("saburo", Some("home-pc"));
        assert_eq!(
            t.account_attempt(Kind::Password, &home).await.unwrap(),
            Verdict::Open,
            "the member's own browser is not locked"
        );
        // A password reset reopens the password budget only.
        t.recovered("saburo").await.unwrap();
        assert_eq!(
            t.account_attempt(Kind::Password, &b).await.unwrap(),
            Verdict::Open
        );
        assert_eq!(
            t.account_attempt(Kind::Code, &b).await.unwrap(),
            Verdict::Locked
        );
        // Staff unlock reopens everything.
        t.unlock("saburo").await.unwrap();
        assert_eq!(
            t.account_attempt(Kind::Code, &b).await.unwrap(),
            Verdict::Open
        );
        assert_eq!(t.account_failures("saburo").await.unwrap(), (1, false));
    }

    #[tokio::test]
    async fn the_window_slides_with_each_failure() {
        let c = ThrottleConfig {
            account_free_failures: 1000,
            account_window_secs: 2,
            ..ThrottleConfig::default()
        };
        let eph = Ephemeral::Memory(MemoryStore::new());
        let t = Throttle::new(&eph, &c);
        let b = any("shiro");
        // A failure every 1.2 s keeps the count alive past the first failure's 2 s.
        for _ in 0..3 {
            t.account_attempt(Kind::Password, &b).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        }
        assert_eq!(t.account_failures("shiro").await.unwrap().0, 3);
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert_eq!(
            t.account_failures("shiro").await.unwrap().0,
            0,
            "forgotten a window after the last failure"
        );
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
