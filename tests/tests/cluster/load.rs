//! Load workers, as members and relying parties behave: each *sign-in worker* signs its member
//! in at a relying party (a new browser each time: password, emailed code, code exchange, ID
//! token check), calls userinfo and refreshes twice, keeping the newest refresh token as a
//! client must; each *account worker* also changes its password and enrols a passkey on the
//! account page. Everything they were told succeeded is recorded, so a scenario can check
//! afterwards that it persisted; what failed in flight (502 from the load balancer) is recorded
//! as ambiguous. Each worker's member has an address of their own (`X-Forwarded-For`).

use crate::cluster::Env;
use crate::flows::{Member, Rp, Tally, register_passkey, rp_sign_in};
use crate::support::Browser;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A grant's newest refresh token as the client holds it.
#[derive(Debug, Clone)]
pub struct HeldGrant {
    pub refresh: String,
    /// A refresh of this token broke in flight: the server may or may not have rotated it.
    pub ambiguous: bool,
    pub issued_at: Instant,
}

/// An account change the member was told had succeeded.
#[derive(Debug, Clone)]
pub enum Completed {
    Password {
        user_id: String,
    },
    Passkey {
        member_id: String,
        count_at_least: usize,
    },
}

pub struct Load {
    stop: Arc<AtomicBool>,
    handles: Vec<tokio::task::JoinHandle<()>>,
    pub tally: Arc<Tally>,
    pub grants: Arc<Mutex<Vec<HeldGrant>>>,
    pub completed: Arc<Mutex<Vec<Completed>>>,
    /// The account workers' members with their newest password.
    pub accounts: Arc<Mutex<Vec<Member>>>,
    pub started: Instant,
}

fn browser_at(addr: &str) -> Browser {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(v) = reqwest::header::HeaderValue::from_str(addr) {
        headers.insert("x-forwarded-for", v);
    }
    Browser {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .timeout(Duration::from_secs(40))
            .build()
            .expect("browser"),
    }
}

impl Load {
    /// Starts one sign-in worker per `members` (each sign-in followed by userinfo and
    /// `refreshes` refreshes, unless 0) and one account worker per `account_members`.
    pub async fn start(
        env: &Arc<Env>,
        members: Vec<Member>,
        account_members: Vec<Member>,
        refreshes: usize,
    ) -> Load {
        let load = Load {
            stop: Arc::new(AtomicBool::new(false)),
            handles: Vec::new(),
            tally: Arc::default(),
            grants: Arc::default(),
            completed: Arc::default(),
            accounts: Arc::new(Mutex::new(account_members.clone())),
            started: Instant::now(),
        };
        let mut load = load;
        for (i, m) in members.into_iter().enumerate() {
            let (env, stop, tally, grants) = (
                env.clone(),
                load.stop.clone(),
                load.tally.clone(),
                load.grants.clone(),
            );
            let rp = Rp::new(&env, "rp-a").await;
            load.handles.push(tokio::spawn(async move {
                let addr = format!("198.51.100.{}", i + 1);
                while !stop.load(Ordering::Relaxed) {
                    signin_round(&env, &rp, &m, &addr, &tally, &grants, refreshes).await;
                }
            }));
        }
        for (i, m) in account_members.into_iter().enumerate() {
            let (env, stop, tally, completed, accounts) = (
                env.clone(),
                load.stop.clone(),
                load.tally.clone(),
                load.completed.clone(),
                load.accounts.clone(),
            );
            let rp = Rp::new(&env, "rp-b").await;
            load.handles.push(tokio::spawn(async move {
                let addr = format!("203.0.113.{}", i + 1);
                let mut m = m;
                let mut other: Option<String> = None;
                let mut round = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    round += 1;
                    account_round(
                        &env, &rp, &mut m, &mut other, round, &addr, &tally, &completed,
                    )
                    .await;
                    accounts.lock().unwrap()[i] = m.clone();
                }
            }));
        }
        load
    }

    /// Stops the workers after their current round.
    pub async fn stop(mut self) -> Load {
        self.stop.store(true, Ordering::Relaxed);
        for h in std::mem::take(&mut self.handles) {
            let _ = tokio::time::timeout(Duration::from_secs(60), h).await;
        }
        self
    }
}

async fn signin_round(
    env: &Env,
    rp: &Rp,
    m: &Member,
    addr: &str,
    tally: &Tally,
    grants: &Mutex<Vec<HeldGrant>>,
    refreshes: usize,
) {
    let b = browser_at(addr);
    let t = Instant::now();
    let tokens = match rp_sign_in(env, rp, &b, m).await {
        Ok(t) => t,
        Err(e) => {
            tally.error("signin.failed", e);
            tokio::time::sleep(Duration::from_millis(200)).await;
            return;
        }
    };
    tally.latency(t.elapsed());
    tally.count("signin.ok");
    if refreshes == 0 {
        return;
    }
    match rp.userinfo(&tokens.access).await {
        Ok(_) => tally.count("userinfo.ok"),
        Err(s) => tally.error("userinfo.failed", format!("{s}")),
    }
    let Some(mut refresh) = tokens.refresh else {
        tally.error("refresh.missing", "no refresh token".into());
        return;
    };
    let slot = {
        let mut g = grants.lock().unwrap();
        g.push(HeldGrant {
            refresh: refresh.clone(),
            ambiguous: false,
            issued_at: Instant::now(),
        });
        g.len() - 1
    };
    for _ in 0..refreshes {
        match rp.refresh(&refresh).await {
            Ok(t) => {
                tally.count("refresh.ok");
                if let Some(r) = t.refresh {
                    refresh = r;
                    grants.lock().unwrap()[slot].refresh = refresh.clone();
                }
            }
            Err(e) => {
                if e.status == 502 {
                    grants.lock().unwrap()[slot].ambiguous = true;
                }
                tally.error("refresh.failed", e.to_string());
                return;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn account_round(
    env: &Env,
    rp: &Rp,
    m: &mut Member,
    other: &mut Option<String>,
    round: u32,
    addr: &str,
    tally: &Tally,
    completed: &Mutex<Vec<Completed>>,
) {
    let b = browser_at(addr);
    if let Err(e) = rp_sign_in(env, rp, &b, m).await {
        // A password change that broke in flight may have been made after all.
        if let Some(p) = other.take() {
            let before = std::mem::replace(&mut m.password, p);
            *other = Some(before);
        }
        tally.error("account.signin.failed", e);
        tokio::time::sleep(Duration::from_millis(200)).await;
        return;
    }
    *other = None;
    tally.count("account.signin.ok");
    let page = b.get(&env.idp_url("/account")).await;
    let Some(csrf) = page.input("csrf") else {
        tally.error("account.page", format!("{}", page.status));
        return;
    };
    if round % 2 == 1 {
        let new = format!("Kawaru-Pass-{round}!A");
        let r = b
            .post(
                &env.idp_url("/account/password"),
                &[
                    ("csrf", &csrf),
                    ("current_password", &m.password),
                    ("new_password", &new),
                    ("new_password_confirm", &new),
                ],
            )
            .await;
        let done = r.location().is_some_and(|l| l.contains("done=password"));
        if done {
            tally.count("password.changed");
            m.password = new;
            completed.lock().unwrap().push(Completed::Password {
                user_id: m.user_id.clone(),
            });
        } else if r.status == 502 {
            *other = Some(new);
            tally.error("password.in_flight", "502".into());
        } else {
            tally.error("password.failed", format!("{}", r.status));
        }
    } else {
        let page = b.get(&env.idp_url("/account/enroll-passkey")).await;
        if page.step().as_deref() != Some("enroll-passkey") {
            tally.error("passkey.page", format!("{} {:?}", page.status, page.step()));
            return;
        }
        let mut auth = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true);
        let (status, answer) =
            register_passkey(env, &b, &page, "/account/enroll-passkey", &mut auth).await;
        if status == 200 {
            tally.count("passkey.enrolled");
            let mut c = completed.lock().unwrap();
            let n = c
                .iter()
                .filter(|x| matches!(x, Completed::Passkey { member_id, .. } if *member_id == m.id))
                .count();
            c.push(Completed::Passkey {
                member_id: m.id.clone(),
                count_at_least: n + 1,
            });
        } else {
            tally.error("passkey.failed", format!("{status} {answer}"));
        }
    }
}
