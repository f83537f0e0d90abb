//! Real processes and the faults done to them: replicas of the built `idp` and `portal`
//! binaries, a Redis server of the test's own, PostgreSQL databases, and a TCP relay in front
//! of PostgreSQL that can cut the network path.

use diesel::Connection;
use diesel::connection::SimpleConnection;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    // The kernel may hand a port out again once its listener is closed: never give one twice.
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Where the built binaries are: `KENPO_CLUSTER_BIN_DIR`, or the profile folder this test
/// binary was built into (`target/debug/deps/cluster-…` → `target/debug`).
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("KENPO_CLUSTER_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("target folder")
}

pub fn binary(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --bins` first (or set KENPO_CLUSTER_BIN_DIR)",
        p.display()
    );
    p
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Idp,
    Portal,
}

/// One replica: a process of the real binary with its own configuration file and log.
pub struct Replica {
    pub name: String,
    pub service: Service,
    pub port: u16,
    pub metrics_port: u16,
    pub config: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
    pub starts: usize,
}

impl Replica {
    pub fn new(
        name: &str,
        service: Service,
        dir: &Path,
        port: u16,
        metrics_port: u16,
        config_text: &str,
    ) -> Replica {
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, config_text).expect("write replica config");
        Replica {
            name: name.into(),
            service,
            port,
            metrics_port,
            config,
            log: dir.join(format!("{name}.log")),
            child: None,
            starts: 0,
        }
    }

    fn bin(&self) -> PathBuf {
        binary(match self.service {
            Service::Idp => "idp",
            Service::Portal => "portal",
        })
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} runs already", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("replica log");
        let err = log.try_clone().expect("replica log");
        let child = Command::new(self.bin())
            .arg("--config")
            .arg(&self.config)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.name));
        self.child = Some(child);
        self.starts += 1;
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits up to `within` for the process to exit; returns how long it took.
    pub fn terminate(&mut self, within: Duration) -> Option<Duration> {
        let mut c = self.child.take()?;
        let t = Instant::now();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        while t.elapsed() < within {
            if let Ok(Some(_)) = c.try_wait() {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&mut self, within: Duration) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let t = Instant::now();
        while t.elapsed() < within {
            if let Ok(r) = http.get(self.url("/readyz")).send().await
                && r.status().is_success()
            {
                return;
            }
            if !self.running() {
                panic!("{} exited:\n{}", self.name, self.tail(40));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} not ready in {within:?}:\n{}", self.name, self.tail(40));
    }

    /// The last lines of the replica's log.
    pub fn tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A Redis server of the test's own (never the shared one on 6379).
pub struct Redis {
    pub port: u16,
    up: bool,
}

impl Redis {
    pub fn start() -> Redis {
        let mut r = Redis {
            port: free_port(),
            up: false,
        };
        r.resume();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn cli(&self, args: &[&str]) -> bool {
        Command::new("redis-cli")
            .arg("-p")
            .arg(self.port.to_string())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts (again) on the same port, empty.
    pub fn resume(&mut self) {
        let ok = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "yes"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "redis-server must be installed");
        for _ in 0..100 {
            if self.cli(&["ping"]) {
                self.up = true;
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on {} did not start", self.port);
    }

    /// Stops the server (its data is gone).
    pub fn stop(&mut self) {
        self.cli(&["shutdown", "nosave"]);
        for _ in 0..100 {
            if !self.cli(&["ping"]) {
                self.up = false;
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn flushdb(&self) {
        assert!(self.cli(&["flushdb"]), "FLUSHDB");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if self.up {
            self.stop();
        }
    }
}

/// The PostgreSQL server the suite uses (superuser, trust auth).
pub fn pg_base() -> String {
    std::env::var("KENPO_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn pg_admin() -> diesel::PgConnection {
    diesel::PgConnection::establish(&pg_base()).expect("PostgreSQL reachable")
}

/// A fresh database named `kenpo_cluster_<what>_<random>`, dropped with the value.
pub struct PgDb {
    pub name: String,
}

impl PgDb {
    pub fn create(what: &str) -> PgDb {
        let name = format!(
            "kenpo_cluster_{what}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        pg_admin()
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        PgDb { name }
    }

    /// The URL on `port` (the relay's) or on PostgreSQL's own.
    pub fn url_via(&self, port: Option<u16>) -> String {
        let base = pg_base();
        let (prefix, _) = base.rsplit_once('/').expect("a database in the URL");
        match port {
            Some(p) => {
                let u = url::Url::parse(prefix).expect("PostgreSQL URL");
                format!("postgres://{}@127.0.0.1:{p}/{}", u.username(), self.name)
            }
            None => format!("{prefix}/{}", self.name),
        }
    }

    /// Ends every server process of this database's clients (`pg_terminate_backend`).
    pub fn terminate_backends(&self) -> usize {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        use diesel::RunQueryDsl;
        let rows: Vec<N> = diesel::sql_query(format!(
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            self.name
        ))
        .load(&mut pg_admin())
        .expect("pg_terminate_backend");
        rows.first().map(|r| r.n as usize).unwrap_or(0)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = pg_admin().batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// A TCP relay in front of PostgreSQL whose path can be cut (as a failed network or a
/// stopped database server would: open connections break, new ones are refused).
pub struct Relay {
    pub port: u16,
    cut: Arc<AtomicBool>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Relay {
    pub async fn start(target: u16) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("relay port");
        let port = listener.local_addr().expect("relay addr").port();
        let cut = Arc::new(AtomicBool::new(false));
        let (tx, _) = tokio::sync::watch::channel(0u64);
        let generation = Arc::new(tx);
        let (c, g) = (cut.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if c.load(Ordering::Relaxed) {
                    drop(inbound);
                    continue;
                }
                let mut stop = g.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = stop.changed() => {}
                    }
                });
            }
        });
        Relay {
            port,
            cut,
            generation,
        }
    }

    /// Breaks every open connection and refuses new ones until [`Relay::restore`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::Relaxed);
    }
}
