//! Scenarios with faults done to real processes: `kill -9` of a replica under load, Redis
//! flushed, Redis stopped, the database path cut, database backends terminated, a stalling
//! mail server, clocks ±30 s apart, graceful shutdown, and the sign-in throughput of three
//! replicas against one.

use crate::Report;
use crate::cluster::Cluster;
use crate::flows::{Member, Rp, rp_sign_in, seed_member, sign_in, sign_in_email};
use crate::load::{Completed, HeldGrant, Load};
use crate::proxy::Logged;
use crate::support::Browser;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the load balancer answered in a window.
#[derive(Debug, Default)]
pub struct Window {
    pub total: usize,
    pub ok: usize,
    pub s500: usize,
    pub broken: usize,
    pub s503: usize,
    pub other5xx: usize,
    pub max: Duration,
}

impl Window {
    pub fn of(log: &[Logged]) -> Window {
        let mut w = Window::default();
        for l in log {
            w.total += 1;
            w.max = w.max.max(l.took);
            match l.status {
                500 => w.s500 += 1,
                502 if l.broken => w.broken += 1,
                503 => w.s503 += 1,
                s if s >= 500 => w.other5xx += 1,
                _ => w.ok += 1,
            }
        }
        w
    }

    pub fn describe(&self) -> String {
        format!(
            "{} answers: {} 500, {} broken in flight (502), {} 503, {} other 5xx; slowest {:.1?}",
            self.total, self.s500, self.broken, self.s503, self.other5xx, self.max
        )
    }
}

fn both(c: &Cluster, from: Instant) -> Window {
    let mut log = c.idp_proxy.log_since(from);
    log.extend(c.portal_proxy.log_since(from));
    Window::of(&log)
}

async fn members(c: &Cluster, prefix: &str, base: u32, n: usize) -> Vec<Member> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(
            seed_member(
                c,
                &format!("{prefix}{i:02}"),
                &format!("{}", base + i as u32),
                "email",
            )
            .await,
        );
    }
    out
}

/// Refreshes every held grant once; returns (ok, failed though ambiguous, failed).
async fn check_grants(c: &Cluster, grants: &[HeldGrant]) -> (usize, usize, Vec<String>) {
    let rp = Rp::new(c, "rp-a").await;
    let (mut ok, mut ambiguous, mut failed) = (0, 0, Vec::new());
    for g in grants {
        match rp.refresh(&g.refresh).await {
            Ok(_) => ok += 1,
            Err(_) if g.ambiguous => ambiguous += 1,
            Err(e) => failed.push(e.to_string()),
        }
    }
    (ok, ambiguous, failed)
}

/// `kill -9` of one IdP replica while 8 workers sign in, refresh, change passwords and enrol
/// passkeys: only requests in flight fail; every refresh token held before the kill still
/// works; every completed password change and enrolment persisted; the replica restarts and
/// serves.
pub async fn kill9_under_load(c: &mut Cluster, r: &mut Report, secs: u64) -> Result<(), String> {
    let signers = members(c, "kill", 7300000, 6).await;
    let accounts = members(c, "acct", 7310000, 2).await;
    let load = Load::start(&c.env, signers, accounts, 2).await;
    tokio::time::sleep(Duration::from_secs(secs / 3)).await;
    let victim = 1;
    let kill_at = Instant::now();
    let held_before: Vec<HeldGrant> = load.grants.lock().unwrap().clone();
    c.idps[victim].kill9();
    tokio::time::sleep(Duration::from_secs(5)).await;
    c.idps[victim].start();
    c.idps[victim].wait_ready(Duration::from_secs(60)).await;
    let back = Instant::now();
    let restart = back - kill_at;
    let rest = Duration::from_secs(secs).saturating_sub(load.started.elapsed());
    tokio::time::sleep(rest).await;
    let load = load.stop().await;
    let w = both(c, load.started);
    let t = load.tally.snapshot();
    r.figure(
        "kill -9: load",
        format!("{secs} s, 8 workers, {:?}", t.counts),
    );
    r.figure("kill -9: answers", w.describe());
    r.figure(
        "kill -9: replica killed, restarted and ready after",
        format!("{restart:.1?}"),
    );
    let served_after = c
        .idp_proxy
        .log_since(back)
        .iter()
        .filter(|l| l.replica == Some(victim) && l.status < 500)
        .count();
    r.figure(
        "kill -9: answers of the restarted replica",
        served_after.to_string(),
    );
    // The held tokens: every one issued before the kill, plus the newest.
    let held_now: Vec<HeldGrant> = load.grants.lock().unwrap().clone();
    let before: Vec<HeldGrant> = held_now
        .iter()
        .filter(|g| held_before.iter().any(|b| b.issued_at == g.issued_at))
        .cloned()
        .collect();
    let (ok, ambiguous, failed) = check_grants(c, &before).await;
    r.figure(
        "kill -9: refresh tokens held from before the kill that still work",
        format!(
            "{ok} of {} ({ambiguous} whose last refresh broke in flight)",
            before.len()
        ),
    );
    let completed: Vec<Completed> = load.completed.lock().unwrap().clone();
    let mut lost = Vec::new();
    let creds = kenpo_idp::store::credentials::CredentialStore::new(c.staff().db.clone());
    for x in &completed {
        if let Completed::Passkey {
            member_id,
            count_at_least,
        } = x
        {
            let n = creds
                .passkeys(member_id)
                .await
                .map_err(|e| e.to_string())?
                .len();
            if n < *count_at_least {
                lost.push(format!("passkeys of {member_id}: {n} < {count_at_least}"));
            }
        }
    }
    let final_accounts: Vec<Member> = load.accounts.lock().unwrap().clone();
    let rp = Rp::new(c, "rp-b").await;
    for m in &final_accounts {
        if let Err(e) = rp_sign_in(c, &rp, &Browser::new(), m).await {
            lost.push(format!(
                "{} cannot sign in with the newest password: {e}",
                m.user_id
            ));
        }
    }
    let changed: Vec<&str> = completed
        .iter()
        .filter_map(|x| match x {
            Completed::Password { user_id } => Some(user_id.as_str()),
            Completed::Passkey { .. } => None,
        })
        .collect();
    let changes = changed.len();
    r.figure(
        "kill -9: completed password changes / passkey enrolments, all persisted",
        format!(
            "{changes} (by {:?}) / {}",
            changed.iter().collect::<std::collections::BTreeSet<_>>(),
            completed.len() - changes
        ),
    );
    if w.s500 > 0 || w.other5xx > 0 {
        return Err(format!("server errors: {}\n{:?}", w.describe(), t.errors));
    }
    // Each of the 8 workers has at most one request in flight.
    if w.broken > 8 {
        return Err(format!(
            "more failures than requests in flight: {}",
            w.describe()
        ));
    }
    if !failed.is_empty() {
        return Err(format!("refresh tokens lost: {failed:?}"));
    }
    if !lost.is_empty() {
        return Err(lost.join("\n"));
    }
    if served_after == 0 {
        return Err("the restarted replica served nothing".into());
    }
    if t.counts.get("signin.ok").copied().unwrap_or(0) < 8
        || changes == 0
        || completed.len() == changes
    {
        return Err(format!(
            "too little work done: {:?} {:?}",
            t.counts, t.errors
        ));
    }
    Ok(())
}

/// Redis `FLUSHDB` under load: members sign in again, nothing durable is lost.
pub async fn flushdb(c: &mut Cluster, r: &mut Report) -> Result<(), String> {
    let signers = members(c, "flush", 7400000, 4).await;
    // A portal session and an IdP session from before: both end; the member signs in again.
    let m = seed_member(c, "flushp", "7409999", "email").await;
    let b = Browser::new();
    let back = sign_in_email(
        c,
        &b,
        &c.portal_url("/auth/login?return_to=/"),
        &m,
        &c.portal_url("/auth/callback"),
    )
    .await?;
    b.get(&back).await;
    let load = Load::start(&c.env, signers, Vec::new(), 2).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let held: Vec<HeldGrant> = load.grants.lock().unwrap().clone();
    let at = Instant::now();
    c.redis.flushdb();
    let ok_before = load.tally.get("signin.ok");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let load = load.stop().await;
    let w = both(c, at);
    let after_ok = load.tally.get("signin.ok") - ok_before;
    r.figure("FLUSHDB: answers after the flush", w.describe());
    // The tokens the clients hold now for the grants that existed before the flush (the
    // workers went on rotating them).
    let now: Vec<HeldGrant> = load.grants.lock().unwrap().clone();
    let held: Vec<HeldGrant> = now
        .into_iter()
        .filter(|g| held.iter().any(|h| h.issued_at == g.issued_at))
        .collect();
    let (ok, ambiguous, failed) = check_grants(c, &held).await;
    r.figure(
        "FLUSHDB: refresh tokens from before that still work",
        format!("{ok} of {} ({ambiguous} ambiguous)", held.len()),
    );
    let p = b.get(&c.portal_url("/medical")).await;
    if p.status != 303 {
        return Err(format!("the portal session survived FLUSHDB? {}", p.status));
    }
    sign_in_email(
        c,
        &b,
        &c.portal_url("/auth/login?return_to=/"),
        &m,
        &c.portal_url("/auth/callback"),
    )
    .await
    .map_err(|e| format!("signing in again after FLUSHDB: {e}"))?;
    if w.s500 > 0 || w.other5xx > 0 || w.broken > 0 {
        return Err(format!("server errors after FLUSHDB: {}", w.describe()));
    }
    if !failed.is_empty() {
        return Err(format!("refresh tokens lost by FLUSHDB: {failed:?}"));
    }
    if after_ok == 0 {
        return Err("nobody signed in after the flush".into());
    }
    Ok(())
}

/// Redis stopped for 20 s: members get the Japanese "temporarily unavailable" page (503,
/// Retry-After), protocol clients `temporarily_unavailable`; nothing waits longer than the
/// request timeout, no 500; `/readyz` false, `/healthz` true; service resumes by itself
/// within 5 s of Redis returning.
pub async fn redis_outage(c: &mut Cluster, r: &mut Report, outage: u64) -> Result<(), String> {
    let signers = members(c, "rout", 7500000, 3).await;
    let m = seed_member(c, "routm", "7509999", "email").await;
    let rp = Rp::new(c, "rp-a").await;
    let tokens = rp_sign_in(c, &rp, &Browser::new(), &m).await?;
    let b = Browser::new();
    let back = sign_in_email(
        c,
        &b,
        &c.portal_url("/auth/login?return_to=/"),
        &m,
        &c.portal_url("/auth/callback"),
    )
    .await?;
    b.get(&back).await;
    let load = Load::start(&c.env, signers, Vec::new(), 2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let down_at = Instant::now();
    c.redis.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut problems = Vec::new();
    // A member submitting the sign-in form.
    let fresh = Browser::new();
    let login = fresh.get(&c.idp_url("/login")).await;
    let t = Instant::now();
    let page = if login.input("csrf").is_some() {
        fresh
            .submit(
                &login,
                "/login",
                &[("username", &m.user_id), ("password", &m.password)],
            )
            .await
    } else {
        login
    };
    let took = t.elapsed();
    r.figure(
        "Redis down: sign-in form answered",
        format!("{} in {took:.1?}", page.status),
    );
    if page.status != 503
        || !page.body.contains("一時的にご利用いただけません")
        || page.headers.get("retry-after").is_none()
    {
        problems.push(format!(
            "sign-in page: {} retry-after={:?}",
            page.status,
            page.headers.get("retry-after")
        ));
    }
    // The portal page of a signed-in member.
    let p = b.get(&c.portal_url("/medical")).await;
    r.figure("Redis down: portal page answered", format!("{}", p.status));
    if p.status != 503
        || !p.body.contains("一時的にご利用いただけません")
        || p.headers.get("retry-after").is_none()
    {
        problems.push(format!("portal page: {}", p.status));
    }
    // A relying party refreshing.
    match rp
        .refresh(tokens.refresh.as_deref().unwrap_or_default())
        .await
    {
        Err(e)
            if e.status == 503
                && e.error == "temporarily_unavailable"
                && e.retry_after.is_some() =>
        {
            r.figure("Redis down: token endpoint answered", e.to_string());
        }
        other => problems.push(format!("token endpoint: {other:?}")),
    }
    match rp.userinfo(&tokens.access).await {
        Err(503) => {}
        other => problems.push(format!("userinfo: {other:?}")),
    }
    // Probes, straight to each replica.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    for rep in c.idps.iter().chain(c.portals.iter()) {
        let t = Instant::now();
        let ready = http
            .get(rep.url("/readyz"))
            .send()
            .await
            .map(|r| r.status().as_u16());
        let took = t.elapsed();
        let live = http
            .get(rep.url("/healthz"))
            .send()
            .await
            .map(|r| r.status().as_u16());
        if ready.as_ref().ok() != Some(&503) || took > Duration::from_secs(2) {
            problems.push(format!("{} readyz {ready:?} in {took:?}", rep.name));
        }
        if live.as_ref().ok() != Some(&200) {
            problems.push(format!("{} healthz {live:?}", rep.name));
        }
    }
    let metrics = http
        .get(format!(
            "http://127.0.0.1:{}/metrics",
            c.idps[0].metrics_port
        ))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    if !metrics.contains("kenpo_idp_backend_up{backend=\"redis\"} 0") {
        problems.push("metrics do not show Redis down".into());
    }
    let rest = Duration::from_secs(outage).saturating_sub(down_at.elapsed());
    tokio::time::sleep(rest).await;
    c.redis.resume();
    let up_at = Instant::now();
    // Time until a whole sign-in succeeds again.
    let mut recovered = None;
    while up_at.elapsed() < Duration::from_secs(30) {
        if rp_sign_in(c, &rp, &Browser::new(), &m).await.is_ok() {
            recovered = Some(up_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let load = load.stop().await;
    let during = {
        let mut log = c.idp_proxy.log_since(down_at);
        log.extend(c.portal_proxy.log_since(down_at));
        log.retain(|l| l.at < up_at);
        Window::of(&log)
    };
    r.figure(
        "Redis down 20 s: answers during the outage",
        during.describe(),
    );
    r.figure(
        "Redis down: a whole sign-in works again after Redis returned",
        format!("{recovered:.1?}"),
    );
    let _ = load;
    if during.s500 > 0 || during.other5xx > 0 {
        problems.push(format!("server errors: {}", during.describe()));
    }
    if during.max > Duration::from_secs(30) {
        problems.push(format!("an answer took {:?}", during.max));
    }
    match recovered {
        Some(d) if d <= Duration::from_secs(5) => {}
        other => problems.push(format!("service resumed after {other:?}")),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Defect 3: a refresh answered during the Redis outage must leave the refresh token usable:
/// the client retries with the token it still holds, and must not find its grant revoked.
pub async fn refresh_during_outage(c: &mut Cluster, r: &mut Report) -> Result<(), String> {
    let m = seed_member(c, "retry1", "7600001", "email").await;
    let rp = Rp::new(c, "rp-a").await;
    let tokens = rp_sign_in(c, &rp, &Browser::new(), &m).await?;
    let held = tokens.refresh.clone().ok_or("no refresh token")?;
    c.redis.stop();
    let during = rp.refresh(&held).await;
    c.redis.resume();
    tokio::time::sleep(Duration::from_secs(2)).await;
    r.figure(
        "refresh during the outage",
        format!(
            "{:?}",
            during.as_ref().map(|_| "200").map_err(|e| e.to_string())
        ),
    );
    if during.is_ok() {
        return Err("the refresh succeeded although Redis was down".into());
    }
    let mut retried = Err("not tried".to_string());
    for _ in 0..20 {
        retried = rp.refresh(&held).await.map_err(|e| e.to_string());
        if retried.is_ok() || !retried.as_ref().err().is_some_and(|e| e.contains("503")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    r.figure(
        "the client's retry with the same refresh token",
        format!("{:?}", retried.as_ref().map(|_| "200")),
    );
    let t = retried.map_err(|e| format!("the retry after the outage was refused ({e}): the failed request consumed the refresh token"))?;
    rp.userinfo(&t.access)
        .await
        .map_err(|s| format!("the grant does not work after the retry: {s}"))?;
    Ok(())
}

/// The database path cut for 10 s: `/readyz` false at once, `/healthz` true, pages 503 (not
/// 500) within the request timeout; the pools reconnect by themselves.
pub async fn database_unreachable(c: &mut Cluster, r: &mut Report) -> Result<(), String> {
    let m = seed_member(c, "dbout", "7700001", "email").await;
    let rp = Rp::new(c, "rp-a").await;
    rp_sign_in(c, &rp, &Browser::new(), &m).await?;
    let cut_at = Instant::now();
    c.idp_relay.cut();
    c.portal_relay.cut();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut problems = Vec::new();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    for rep in c.idps.iter().chain(c.portals.iter()) {
        let t = Instant::now();
        let ready = http
            .get(rep.url("/readyz"))
            .send()
            .await
            .map(|r| r.status().as_u16());
        let took = t.elapsed();
        let live = http
            .get(rep.url("/healthz"))
            .send()
            .await
            .map(|r| r.status().as_u16());
        if ready.as_ref().ok() != Some(&503) || took > Duration::from_secs(2) {
            problems.push(format!("{} readyz {ready:?} in {took:?}", rep.name));
        }
        if live.as_ref().ok() != Some(&200) {
            problems.push(format!("{} healthz {live:?}", rep.name));
        }
    }
    let t = Instant::now();
    let attempt = rp_sign_in(c, &rp, &Browser::new(), &m).await;
    r.figure(
        "database unreachable: a sign-in",
        format!(
            "{:?} after {:.1?}",
            attempt.as_ref().map(|_| "ok"),
            t.elapsed()
        ),
    );
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(cut_at.elapsed())).await;
    c.idp_relay.restore();
    c.portal_relay.restore();
    let up_at = Instant::now();
    let mut recovered = None;
    while up_at.elapsed() < Duration::from_secs(30) {
        if rp_sign_in(c, &rp, &Browser::new(), &m).await.is_ok() {
            recovered = Some(up_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut log = c.idp_proxy.log_since(cut_at);
    log.retain(|l| l.at < up_at);
    let w = Window::of(&log);
    r.figure("database unreachable 10 s: answers", w.describe());
    r.figure(
        "database back: a whole sign-in works again after",
        format!("{recovered:.1?}"),
    );
    if w.s500 > 0 || w.other5xx > 0 {
        problems.push(format!("server errors: {}", w.describe()));
    }
    if w.s503 == 0 {
        problems.push("no 503 while the database was unreachable".into());
    }
    match recovered {
        Some(d) if d <= Duration::from_secs(5) => {}
        other => problems.push(format!("service resumed after {other:?}")),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// `pg_terminate_backend` of every replica's connections under load: the pools reconnect; no
/// more than the requests in flight fail.
pub async fn backends_terminated(c: &mut Cluster, r: &mut Report) -> Result<(), String> {
    let signers = members(c, "term", 7800000, 4).await;
    let load = Load::start(&c.env, signers, Vec::new(), 2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let from = Instant::now();
    let mut killed = 0;
    for _ in 0..2 {
        killed += c.idp_db.terminate_backends();
        killed += c.portal_db.terminate_backends();
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let load = load.stop().await;
    let w = both(c, from);
    let ok_after = c
        .idp_proxy
        .log_since(from + Duration::from_secs(4))
        .iter()
        .filter(|l| l.status < 400)
        .count();
    r.figure(
        "pg_terminate_backend ×2: server connections ended",
        killed.to_string(),
    );
    r.figure("pg_terminate_backend: answers", w.describe());
    r.figure(
        "pg_terminate_backend: load",
        format!("{:?}", load.tally.snapshot().counts),
    );
    if killed == 0 {
        return Err("no backend was terminated".into());
    }
    if w.s500 + w.other5xx + w.s503 + w.broken > 8 {
        return Err(format!(
            "more failures than requests in flight: {}",
            w.describe()
        ));
    }
    if ok_after == 0 {
        return Err("nothing worked after the terminations".into());
    }
    Ok(())
}

/// A mail server that accepts and then waits 30 s: no sign-in page waits for it.
pub async fn slow_mail_server(c: &mut Cluster, r: &mut Report) -> Result<(), String> {
    let m = seed_member(c, "slowm", "7900001", "email").await;
    c.smtp
        .stall
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let b = Browser::new();
    let login = b.get(&c.idp_url("/login")).await;
    let t = Instant::now();
    let next = b
        .submit(
            &login,
            "/login",
            &[("username", &m.user_id), ("password", &m.password)],
        )
        .await;
    let page = b.follow(next, "never:").await?;
    let took = t.elapsed();
    // Recovery mails too.
    let forgot = b.get(&c.idp_url("/recovery/password")).await;
    let t2 = Instant::now();
    let sent = if forgot.input("csrf").is_some() {
        Some(
            b.submit(&forgot, "/recovery/password", &[("username", &m.user_id)])
                .await,
        )
    } else {
        None
    };
    let took2 = t2.elapsed();
    c.smtp
        .stall
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let stalled = c.smtp.stalled.load(std::sync::atomic::Ordering::Relaxed);
    r.figure(
        "stalling mail server: password + emailed code page answered",
        format!("{} {:?} in {took:.1?}", page.status, page.step()),
    );
    r.figure(
        "stalling mail server: forgot-password answered",
        format!("{:?} in {took2:.1?}", sent.as_ref().map(|p| p.status)),
    );
    if page.step().as_deref() != Some("mfa-email") || took > Duration::from_secs(3) {
        return Err(format!(
            "the code page waited for the mail server: {:?} in {took:?}",
            page.step()
        ));
    }
    if sent.is_some() && took2 > Duration::from_secs(3) {
        return Err(format!("forgot-password waited {took2:?}"));
    }
    if stalled == 0 {
        return Err("the mail server was never contacted".into());
    }
    Ok(())
}

/// Clocks ±30 s apart (IdP replicas −30 / 0 / +30 s, portals −30 / +30 s): TOTP, emailed
/// codes, tokens, and logout tokens still validate. The replicas are restarted one after the
/// other with SIGTERM under load: no request fails (graceful shutdown).
pub async fn clock_skew(c: &mut Cluster, r: &mut Report) -> Result<(), String> {
    let signers = members(c, "roll", 8000000, 2).await;
    let load = Load::start(&c.env, signers, Vec::new(), 1).await;
    let from = Instant::now();
    c.restart_idps_with_offsets(&[-30, 0, 30]).await;
    c.restart_portals_with_offsets(&[-30, 30]).await;
    let load = load.stop().await;
    let w = both(c, from);
    r.figure(
        "rolling restart (SIGTERM) of 5 replicas under load: answers",
        w.describe(),
    );
    let mut problems = Vec::new();
    if w.total - w.ok > 0 {
        problems.push(format!(
            "requests failed during the rolling restart: {}",
            w.describe()
        ));
    }
    let _ = load;
    let rp = Rp::new(c, "rp-a").await;
    for i in 0..3 {
        let m = seed_member(c, &format!("skewt{i}"), &format!("810000{i}"), "totp").await;
        if let Err(e) = rp_sign_in(c, &rp, &Browser::new(), &m).await {
            problems.push(format!("TOTP sign-in {i}: {e}"));
            continue;
        }
        let m = seed_member(c, &format!("skewe{i}"), &format!("810100{i}"), "email").await;
        match rp_sign_in(c, &rp, &Browser::new(), &m).await {
            Ok(t) => {
                let mut refresh = t.refresh.unwrap_or_default();
                for _ in 0..3 {
                    match rp.refresh(&refresh).await {
                        Ok(t) => {
                            refresh = t.refresh.unwrap_or_default();
                            if let Err(s) = rp.userinfo(&t.access).await {
                                problems.push(format!("userinfo {s}"));
                            }
                            if let Some(id) = t.id_token {
                                let _ = id;
                            }
                        }
                        Err(e) => problems.push(format!("refresh: {e}")),
                    }
                }
            }
            Err(e) => problems.push(format!("email-code sign-in {i}: {e}")),
        }
    }
    // The portal (its clock ±30 s) signs members in and takes logout tokens from IdP
    // replicas whose clocks differ from its own by up to a minute.
    for i in 0..2 {
        let m = seed_member(c, &format!("skewp{i}"), &format!("810200{i}"), "email").await;
        let b = Browser::new();
        let back = match sign_in_email(
            c,
            &b,
            &c.portal_url("/auth/login?return_to=/benefits"),
            &m,
            &c.portal_url("/auth/callback"),
        )
        .await
        {
            Ok(b) => b,
            Err(e) => {
                problems.push(format!("portal sign-in {i}: {e}"));
                continue;
            }
        };
        let landing = b.follow(b.get(&back).await, "never:").await?;
        if landing.status != 200 {
            problems.push(format!("portal landing {i}: {}", landing.status));
        }
        let confirm = b.get(&c.idp_url("/logout")).await;
        b.submit(&confirm, "/logout/confirm", &[("confirm", "yes")])
            .await;
        let t = Instant::now();
        let mut ended = false;
        while t.elapsed() < Duration::from_secs(10) {
            if b.get(&c.portal_url("/benefits")).await.status == 303 {
                ended = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !ended {
            problems.push(format!("portal session {i} outlived the IdP sign-out"));
        }
    }
    let _ = sign_in;
    c.restart_idps_with_offsets(&[0, 0, 0]).await;
    c.restart_portals_with_offsets(&[0, 0]).await;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// SIGTERM: `/readyz` 503 at once while requests are still served, then a clean exit within
/// the bounds; no request fails; the outbox is left with nothing claimed and unsent.
pub async fn graceful_shutdown(c: &mut Cluster, r: &mut Report) -> Result<(), String> {
    let signers = members(c, "term", 8200000, 4).await;
    let load = Load::start(&c.env, signers, Vec::new(), 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let from = Instant::now();
    let i = 2;
    let pid = c.idps[i].pid().ok_or("not running")?;
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let ready = http
        .get(c.idps[i].url("/readyz"))
        .send()
        .await
        .map(|r| r.status().as_u16());
    let live = http
        .get(c.idps[i].url("/healthz"))
        .send()
        .await
        .map(|r| r.status().as_u16());
    let exited = c.idps[i].terminate(Duration::from_secs(20));
    r.figure(
        "SIGTERM: readyz / healthz during the drain",
        format!("{ready:?} / {live:?}"),
    );
    r.figure("SIGTERM: exited after", format!("{exited:.1?}"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.idps[i].start();
    c.idps[i].wait_ready(Duration::from_secs(60)).await;
    let load = load.stop().await;
    let w = both(c, from);
    r.figure("SIGTERM under load: answers", w.describe());
    let _ = load;
    if ready.ok() != Some(503) || live.ok() != Some(200) {
        return Err("readiness did not go false first".into());
    }
    if exited.is_none() {
        return Err("did not exit in time".into());
    }
    if w.total - w.ok > 0 {
        return Err(format!("requests failed: {}", w.describe()));
    }
    Ok(())
}

/// Sign-ins per second (password + emailed code + code exchange + ID token check) of the
/// three IdP replicas, then of one (the other two stopped), with the same workers.
pub async fn throughput(
    c: &mut Cluster,
    r: &mut Report,
    secs: u64,
    workers: usize,
) -> Result<(), String> {
    let signers = members(c, "bench", 8300000, workers).await;
    let mut rates = Vec::new();
    for n in [3usize, 1] {
        if n == 1 {
            for i in [1, 2] {
                c.idps[i].terminate(Duration::from_secs(20));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let load = Load::start(&c.env, signers.clone(), Vec::new(), 0).await;
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let load = load.stop().await;
        let ok = load.tally.get("signin.ok");
        let took = load.started.elapsed().as_secs_f64();
        let t = load.tally.snapshot();
        rates.push(ok as f64 / took);
        r.figure(
            &format!("sign-ins/s with {n} IdP replica(s), {workers} workers"),
            format!(
                "{:.1} ({ok} in {took:.0} s; slowest {:.2?}; failures {})",
                ok as f64 / took,
                t.max_latency,
                load.tally.get("signin.failed")
            ),
        );
    }
    for i in [1, 2] {
        c.idps[i].start();
    }
    for i in [1, 2] {
        c.idps[i].wait_ready(Duration::from_secs(60)).await;
        c.idp_proxy.wait_ready(i, Duration::from_secs(5)).await;
    }
    let _ = Arc::clone(&c.env);
    if rates.iter().any(|r| *r <= 0.0) {
        return Err("no sign-in completed".into());
    }
    Ok(())
}
