//! The backup and restore drill of docs/operator-guide.md, run for real: `pg_dump` of the
//! IdP's and the portal's databases while the cluster serves, `pg_restore` into fresh
//! databases, an IdP replica started on the restored copy with the same `secrets.keys`, and
//! members signing in through it: passwords, TOTP secrets (sealed), signing keys and refresh
//! tokens all came back.

use crate::Report;
use crate::cluster::Cluster;
use crate::flows::{Rp, rp_sign_in, seed_member};
use crate::procs::{PgDb, Replica, Service, free_port};
use crate::proxy::Proxy;
use crate::support::Browser;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub async fn backup_and_restore(c: &mut Cluster, r: &mut Report) -> Result<(), String> {
    let totp = seed_member(c, "drillt", "8400001", "totp").await;
    let email = seed_member(c, "drille", "8400002", "email").await;
    let rp = Rp::new(c, "rp-a").await;
    let before = rp_sign_in(c, &rp, &Browser::new(), &email).await?;
    let held = before.refresh.clone().ok_or("no refresh token")?;

    // Backup while serving.
    let t = Instant::now();
    let mut sizes = Vec::new();
    let mut restored = Vec::new();
    for (what, db) in [("idp", &c.idp_db), ("portal", &c.portal_db)] {
        let file = c.dir.0.join(format!("{what}.dump"));
        run(Command::new("pg_dump")
            .arg("--format=custom")
            .arg("--file")
            .arg(&file)
            .arg(db.url_via(None)))?;
        sizes.push(std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0));
        let fresh = PgDb::create(&format!("restored_{what}"));
        run(Command::new("pg_restore")
            .args([
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--dbname",
            ])
            .arg(fresh.url_via(None))
            .arg(&file))?;
        restored.push(fresh);
    }
    r.figure(
        "restore drill: pg_dump + pg_restore of both databases",
        format!("{:.1?} ({} + {} bytes)", t.elapsed(), sizes[0], sizes[1]),
    );

    // An IdP on the restored copy, behind a load balancer of its own, Redis empty for it.
    let port = free_port();
    let proxy_port = free_port();
    let proxy = Proxy::start(proxy_port, vec![("idp-restored".into(), port)]).await;
    let text = c
        .idp_config(port, free_port(), 0)
        .replace(
            &c.idp_db.url_via(Some(c.idp_relay.port)),
            &restored[0].url_via(None),
        )
        .replace(
            &format!("issuer = \"{}\"", c.idp_proxy.url()),
            &format!("issuer = \"{}\"", proxy.url()),
        )
        .replace("prefix = \"kenpo:idp:\"", "prefix = \"kenpo:restored:\"");
    let mut replica = Replica::new(
        "idp-restored",
        Service::Idp,
        &c.dir.0,
        port,
        free_port(),
        &text,
    );
    replica.start();
    replica.wait_ready(Duration::from_secs(60)).await;
    proxy.wait_ready(0, Duration::from_secs(5)).await;
    let env = Arc::new(c.with_idp(proxy.clone()));

    let mut problems = Vec::new();
    let original = reqwest::get(c.idp_url("/jwks"))
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let copy = reqwest::get(env.idp_url("/jwks"))
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    if original != copy {
        problems.push("the restored IdP publishes other signing keys".to_string());
    }
    let rp2 = Rp::new(&env, "rp-a").await;
    for m in [&totp, &email] {
        if let Err(e) = rp_sign_in(&env, &rp2, &Browser::new(), m).await {
            problems.push(format!(
                "{} cannot sign in on the restored copy: {e}",
                m.user_id
            ));
        }
    }
    match rp2.refresh(&held).await {
        Ok(_) => {}
        Err(e) => problems.push(format!("a refresh token from before the backup: {e}")),
    }
    let imports = {
        let cfg = c.dir.0.join("portal-restored.toml");
        let text = std::fs::read_to_string(&c.portals[0].config)
            .map_err(|e| e.to_string())?
            .replace(
                &c.portal_db.url_via(Some(c.portal_relay.port)),
                &restored[1].url_via(None),
            );
        std::fs::write(&cfg, text).map_err(|e| e.to_string())?;
        run(Command::new(crate::procs::binary("portal"))
            .arg("--config")
            .arg(&cfg)
            .args(["imports", "--limit", "5"]))?
    };
    if !imports.contains("medical") {
        problems.push(format!("the restored portal lists no imports: {imports}"));
    }
    r.figure(
        "restore drill: members signed in on the restored copy",
        format!(
            "{} of 2, refresh token from before: {}",
            2 - problems
                .iter()
                .filter(|p| p.contains("cannot sign in"))
                .count(),
            if problems.iter().any(|p| p.contains("refresh")) {
                "refused"
            } else {
                "works"
            }
        ),
    );
    replica.terminate(Duration::from_secs(15));
    proxy.shutdown();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}
