//! The cluster: 3 IdP and 2 portal replicas (the built binaries) on loopback ports, one
//! PostgreSQL database each for the IdP and the portal (reached through a relay that can cut
//! the path), one Redis of the test's own, one SMTP server, one `secrets.keys` list for all,
//! and a round-robin load balancer in front of each service.

use crate::procs::{PgDb, Redis, Relay, Replica, Service, free_port};
use crate::proxy::Proxy;
use crate::smtp::Smtp;
use crate::support::TempDir;
use kenpo_idp::state::AppState;
use std::sync::Arc;
use std::time::Duration;

pub const PORTAL_SECRET: &str = "cluster-portal-secret-0123456789abcdefghij";
pub const RP_SECRET: &str = "cluster-rp-secret-0123456789abcdefghijklmn";
/// Relying parties of the tests: (client id, algorithm, redirect URI).
pub const RPS: [(&str, &str, &str); 3] = [
    ("rp-a", "ES256", "https://rp-a.example/cb"),
    ("rp-b", "EdDSA", "https://rp-b.example/cb"),
    ("rp-rs", "RS256", "https://rp-rs.example/cb"),
];

/// What members, relying parties and load workers need (shared with their tasks).
pub struct Env {
    pub idp_proxy: Arc<Proxy>,
    pub portal_proxy: Arc<Proxy>,
    pub smtp: Arc<Smtp>,
    /// The IdP as the staff CLI and tests see its database (members, factors, keys); it
    /// serves nothing. Built after the replicas made the signing keys (building it first
    /// would create them from the test process).
    staff: std::sync::OnceLock<AppState>,
}

impl Env {
    pub fn idp_url(&self, path: &str) -> String {
        format!("{}{path}", self.idp_proxy.url())
    }

    pub fn portal_url(&self, path: &str) -> String {
        format!("{}{path}", self.portal_proxy.url())
    }

    pub fn staff(&self) -> &AppState {
        self.staff.get().expect("built at start")
    }

    /// The same members' view through another IdP load balancer (a restored copy).
    pub fn with_idp(&self, idp_proxy: Arc<Proxy>) -> Env {
        Env {
            idp_proxy,
            portal_proxy: self.portal_proxy.clone(),
            smtp: self.smtp.clone(),
            staff: Default::default(),
        }
    }
}

pub struct Cluster {
    pub env: Arc<Env>,
    pub dir: TempDir,
    pub redis: Redis,
    pub idp_db: PgDb,
    pub portal_db: PgDb,
    pub idp_relay: Relay,
    pub portal_relay: Relay,
    pub secret_key: String,
    pub idps: Vec<Replica>,
    pub portals: Vec<Replica>,
}

impl std::ops::Deref for Cluster {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.env
    }
}

fn pg_port() -> u16 {
    url::Url::parse(&crate::procs::pg_base())
        .ok()
        .and_then(|u| u.port())
        .unwrap_or(5432)
}

impl Cluster {
    /// Starts everything; every IdP replica at the same moment on the empty database.
    pub async fn start() -> Cluster {
        let dir = TempDir::new();
        let redis = Redis::start();
        let idp_db = PgDb::create("idp");
        let portal_db = PgDb::create("portal");
        let idp_relay = Relay::start(pg_port()).await;
        let portal_relay = Relay::start(pg_port()).await;
        let smtp = Arc::new(Smtp::start().await);
        let secret_key = kenpo_idp::security::secretbox::generate_key("k1");
        let idp_ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let portal_ports: Vec<(u16, u16)> = (0..2).map(|_| (free_port(), free_port())).collect();
        let idp_proxy_port = free_port();
        let portal_proxy_port = free_port();
        let env = Env {
            smtp,
            staff: Default::default(),
            idp_proxy: Proxy::start(
                idp_proxy_port,
                idp_ports
                    .iter()
                    .enumerate()
                    .map(|(i, (p, _))| (format!("idp-{}", i + 1), *p))
                    .collect(),
            )
            .await,
            portal_proxy: Proxy::start(
                portal_proxy_port,
                portal_ports
                    .iter()
                    .enumerate()
                    .map(|(i, (p, _))| (format!("portal-{}", i + 1), *p))
                    .collect(),
            )
            .await,
        };
        let mut c = Cluster {
            env: Arc::new(env),
            idps: Vec::new(),
            portals: Vec::new(),
            dir,
            redis,
            idp_db,
            portal_db,
            idp_relay,
            portal_relay,
            secret_key,
        };
        for (i, (port, mport)) in idp_ports.iter().enumerate() {
            let text = c.idp_config(*port, *mport, 0);
            let r = Replica::new(
                &format!("idp-{}", i + 1),
                Service::Idp,
                &c.dir.0,
                *port,
                *mport,
                &text,
            );
            c.idps.push(r);
        }
        for (i, (port, mport)) in portal_ports.iter().enumerate() {
            let text = c.portal_config(*port, *mport, 0);
            let r = Replica::new(
                &format!("portal-{}", i + 1),
                Service::Portal,
                &c.dir.0,
                *port,
                *mport,
                &text,
            );
            c.portals.push(r);
        }
        // All IdP replicas at once on the empty database (the first defect's situation).
        for r in &mut c.idps {
            r.start();
        }
        for r in &mut c.portals {
            r.start();
        }
        for r in c.idps.iter_mut().chain(c.portals.iter_mut()) {
            r.wait_ready(Duration::from_secs(60)).await;
        }
        for i in 0..3 {
            assert!(c.idp_proxy.wait_ready(i, Duration::from_secs(5)).await);
        }
        for i in 0..2 {
            assert!(c.portal_proxy.wait_ready(i, Duration::from_secs(5)).await);
        }
        let staff = c.staff_state().await;
        let _ = c.env.staff.set(staff);
        c
    }

    fn clients_toml(&self) -> String {
        let portal = self.portal_proxy.url();
        let mut s = format!(
            r#"
[[clients]]
client_id = "kenpo-portal"
name = "医療費・給付金のお知らせ"
secret = "{PORTAL_SECRET}"
redirect_uris = ["{portal}/auth/callback"]
post_logout_redirect_uris = ["{portal}/"]
backchannel_logout_uri = "{portal}/auth/backchannel-logout"
id_token_signed_response_alg = "ES256"
"#
        );
        for (id, alg, cb) in RPS {
            s.push_str(&format!(
                r#"
[[clients]]
client_id = "{id}"
name = "テスト {id}"
secret = "{RP_SECRET}"
redirect_uris = ["{cb}"]
post_logout_redirect_uris = ["{cb}/signed-out"]
id_token_signed_response_alg = "{alg}"
"#
            ));
        }
        s
    }

    pub fn idp_config(&self, port: u16, metrics_port: u16, offset: i64) -> String {
        format!(
            r#"
[server]
bind = "127.0.0.1:{port}"
issuer = "{issuer}"
trusted_proxies = ["127.0.0.1"]
metrics_bind = "127.0.0.1:{metrics_port}"
shutdown_drain_secs = 1
shutdown_timeout_secs = 10

[database]
url = "{db}"
pool_size = 8
checkout_timeout_secs = 3

[ephemeral]
url = "{redis}"
prefix = "kenpo:idp:"

[secrets]
keys = ["{key}"]

[mail]
smtp_url = "smtp://127.0.0.1:{smtp}"

[throttle]
address_per_minute = 100000
authorize_per_minute = 100000
stranger_posts_per_minute = 100000

[mfa]
email_otp_per_hour = 100000
email_otp_resend_secs = 1

[log]
level = "warn"

[testing]
clock_offset_secs = {offset}
{clients}"#,
            issuer = self.idp_proxy.url(),
            db = self.idp_db.url_via(Some(self.idp_relay.port)),
            redis = self.redis.url(),
            key = self.secret_key,
            smtp = self.smtp.port,
            clients = self.clients_toml(),
        )
    }

    pub fn portal_config(&self, port: u16, metrics_port: u16, offset: i64) -> String {
        format!(
            r#"
[server]
bind = "127.0.0.1:{port}"
base_url = "{base}"
metrics_bind = "127.0.0.1:{metrics_port}"
shutdown_drain_secs = 1
shutdown_timeout_secs = 10

[database]
url = "{db}"
checkout_timeout_secs = 3

[ephemeral]
url = "{redis}"
prefix = "kenpo:portal:"

[oidc]
issuer = "{issuer}"
client_id = "kenpo-portal"
client_secret = "{PORTAL_SECRET}"
signing_alg = "ES256"

[session]
revalidate_secs = 2

[log]
level = "warn"

[testing]
clock_offset_secs = {offset}
"#,
            base = self.portal_proxy.url(),
            db = self.portal_db.url_via(Some(self.portal_relay.port)),
            redis = self.redis.url(),
            issuer = self.idp_proxy.url(),
        )
    }

    /// The IdP's configuration as the staff CLI uses it (straight to the database).
    fn staff_config(&self) -> kenpo_idp::config::Config {
        let path = self.dir.0.join("staff.toml");
        let text = self
            .idp_config(free_port(), free_port(), 0)
            .replace(
                &self.idp_db.url_via(Some(self.idp_relay.port)),
                &self.idp_db.url_via(None),
            )
            .replace(&self.redis.url(), "memory");
        std::fs::write(&path, text).expect("staff config");
        kenpo_idp::config::Config::load(Some(&path)).expect("staff config loads")
    }

    async fn staff_state(&self) -> AppState {
        kenpo_idp::startup::build_state(self.staff_config(), kenpo_shared::Clock::System)
            .await
            .expect("staff state")
    }

    /// Restarts the IdP replicas one after the other with these clock offsets (SIGTERM, wait
    /// for its exit, start, wait until the load balancer sees it ready).
    pub async fn restart_idps_with_offsets(&mut self, offsets: &[i64]) {
        for (i, off) in offsets.iter().enumerate() {
            let (port, mport) = (self.idps[i].port, self.idps[i].metrics_port);
            let text = self.idp_config(port, mport, *off);
            let r = &mut self.idps[i];
            assert!(
                r.terminate(Duration::from_secs(20)).is_some(),
                "{} stops",
                r.name
            );
            std::fs::write(&r.config, text).expect("config");
            r.start();
            r.wait_ready(Duration::from_secs(60)).await;
            assert!(self.idp_proxy.wait_ready(i, Duration::from_secs(5)).await);
        }
    }

    pub async fn restart_portals_with_offsets(&mut self, offsets: &[i64]) {
        for (i, off) in offsets.iter().enumerate() {
            let (port, mport) = (self.portals[i].port, self.portals[i].metrics_port);
            let text = self.portal_config(port, mport, *off);
            let r = &mut self.portals[i];
            assert!(
                r.terminate(Duration::from_secs(20)).is_some(),
                "{} stops",
                r.name
            );
            std::fs::write(&r.config, text).expect("config");
            r.start();
            r.wait_ready(Duration::from_secs(60)).await;
            assert!(
                self.portal_proxy
                    .wait_ready(i, Duration::from_secs(5))
                    .await
            );
        }
    }

    /// Runs the portal's staff CLI against its database.
    pub fn portal_cli(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(crate::procs::binary("portal"))
            .arg("--config")
            .arg(&self.portals[0].config)
            .args(args)
            .output()
            .expect("portal CLI");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "portal {args:?}: {text}");
        text
    }

    /// Every replica's log tail, for a failure report.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for r in self.idps.iter().chain(self.portals.iter()) {
            s.push_str(&format!("--- {} (last 15 lines)\n{}\n", r.name, r.tail(15)));
        }
        s
    }
}
