#![allow(clippy::unwrap_used)] // a test that cannot set up is a failed test
//! The cluster test: 3 IdP and 2 portal replicas of the built binaries behind round-robin load
//! balancers, on PostgreSQL and a Redis of the test's own, put through every member journey and
//! the faults of issue 13 (kill -9 under load, Redis flushed and stopped, the database path cut,
//! database backends terminated, a stalling mail server, clocks ±30 s apart, SIGTERM), with
//! the figures an operator sizes by. Scenarios run one after the other on one cluster.
//!
//! Needs PostgreSQL (`KENPO_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`),
//! `redis-server` and `redis-cli` on the PATH, and the binaries (`cargo build --bins`). Runs only
//! with `KENPO_TEST_CLUSTER=1` (`.ci/run` sets it); otherwise it says so and passes.
//!
//! `cargo test -p kenpo-tests --test cluster -- [scenario …]` runs some scenarios only.
//! `KENPO_CLUSTER_LOAD_SECS` (default 60) is the length of the kill -9 load;
//! `KENPO_CLUSTER_BENCH_SECS` (10) and `KENPO_CLUSTER_BENCH_WORKERS` (8) size the throughput
//! comparison; `KENPO_CLUSTER_BIN_DIR` picks other binaries (e.g. `target/release`).

#[path = "../e2e/support.rs"]
mod support;

mod cluster;
mod drill;
mod faults;
mod flows;
mod journeys;
mod load;
mod procs;
mod proxy;
mod smtp;

use futures::FutureExt;
use std::process::ExitCode;
use std::time::Instant;

/// Figures of the run, printed at the end (they go into the operator guide and the issue).
#[derive(Default)]
pub struct Report {
    lines: Vec<(String, String)>,
}

impl Report {
    pub fn figure(&mut self, name: &str, value: impl std::fmt::Display) {
        println!("    {name}: {value}");
        self.lines.push((name.to_string(), value.to_string()));
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const SCENARIOS: [&str; 14] = [
    "keys_decided_once",
    "every_journey_across_replicas",
    "metrics_on_their_own_listener",
    "slow_mail_server",
    "clock_skew",
    "graceful_shutdown",
    "kill9_under_load",
    "flushdb",
    "redis_outage",
    "refresh_during_outage",
    "database_unreachable",
    "backends_terminated",
    "backup_and_restore",
    "throughput",
];

/// Scenarios that check a defect whose fix is owned elsewhere and has not landed yet: their
/// failure is reported, not counted; once one passes, take it off this list. (Empty: issue 13's
/// third defect, `refresh_during_outage`, is fixed in the token endpoint.)
const KNOWN_FAILING: [&str; 0] = [];

async fn run(only: Vec<String>) -> (usize, usize) {
    let t = Instant::now();
    let mut c = cluster::Cluster::start().await;
    println!(
        "cluster up in {:.1?}: {} IdP, {} portal replicas",
        t.elapsed(),
        c.idps.len(),
        c.portals.len()
    );
    let mut report = Report::default();
    let (mut passed, mut failed) = (0, 0);
    let load_secs = env_u64("KENPO_CLUSTER_LOAD_SECS", 60);
    let bench_secs = env_u64("KENPO_CLUSTER_BENCH_SECS", 10);
    let bench_workers = env_u64("KENPO_CLUSTER_BENCH_WORKERS", 8) as usize;
    for name in SCENARIOS {
        if !only.is_empty() && !only.iter().any(|o| name.contains(o.as_str())) {
            continue;
        }
        println!("scenario {name}");
        let started = Instant::now();
        let r = &mut report;
        let cl = &mut c;
        let outcome = std::panic::AssertUnwindSafe(async move {
            let c = cl;
            match name {
                "keys_decided_once" => journeys::keys_decided_once(c, r).await,
                "every_journey_across_replicas" => {
                    journeys::every_journey_across_replicas(c, r).await
                }
                "metrics_on_their_own_listener" => {
                    journeys::metrics_on_their_own_listener(c, r).await
                }
                "slow_mail_server" => faults::slow_mail_server(c, r).await,
                "clock_skew" => faults::clock_skew(c, r).await,
                "graceful_shutdown" => faults::graceful_shutdown(c, r).await,
                "kill9_under_load" => faults::kill9_under_load(c, r, load_secs).await,
                "flushdb" => faults::flushdb(c, r).await,
                "redis_outage" => faults::redis_outage(c, r, 20).await,
                "refresh_during_outage" => faults::refresh_during_outage(c, r).await,
                "database_unreachable" => faults::database_unreachable(c, r).await,
                "backends_terminated" => faults::backends_terminated(c, r).await,
                "backup_and_restore" => drill::backup_and_restore(c, r).await,
                "throughput" => faults::throughput(c, r, bench_secs, bench_workers).await,
                _ => Err("unknown scenario".to_string()),
            }
        })
        .catch_unwind()
        .await;
        let outcome = match outcome {
            Ok(o) => o,
            Err(p) => Err(format!(
                "panicked: {}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
        };
        match outcome {
            Ok(()) => {
                passed += 1;
                let note = if KNOWN_FAILING.contains(&name) {
                    " — listed in KNOWN_FAILING but passes now: take it off the list"
                } else {
                    ""
                };
                println!("scenario {name} ... ok ({:.1?}){note}", started.elapsed());
            }
            Err(e) if KNOWN_FAILING.contains(&name) => {
                println!(
                    "scenario {name} ... KNOWN FAILURE, not counted (fix pending elsewhere, see \
                     KNOWN_FAILING) ({:.1?})\n{e}",
                    started.elapsed()
                );
            }
            Err(e) => {
                failed += 1;
                println!(
                    "scenario {name} ... FAILED ({:.1?})\n{e}\n{}",
                    started.elapsed(),
                    c.logs()
                );
            }
        }
    }
    println!("\nfigures:");
    for (k, v) in &report.lines {
        println!("  {k}: {v}");
    }
    println!("cluster suite took {:.1?}", t.elapsed());
    c.idp_proxy.shutdown();
    c.portal_proxy.shutdown();
    (passed, failed)
}

fn main() -> ExitCode {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if std::env::var("KENPO_TEST_CLUSTER").as_deref() != Ok("1") {
        println!("cluster: skipped (set KENPO_TEST_CLUSTER=1 and build the binaries to run it)");
        println!("cluster: 0 passed, 0 failed");
        return ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (passed, failed) = rt.block_on(run(only));
    println!("cluster: {passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
