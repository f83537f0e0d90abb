//! Scenarios without faults: the signing keys of replicas started together, every member
//! journey with each request on another replica than the last, and the metrics listener.

use crate::Report;
use crate::cluster::Cluster;
use crate::flows::{self, Rp, first_login, import_new, rp_sign_in, seed_member, sign_in};
use crate::support::{Browser, query};
use std::time::{Duration, Instant};

/// Defect 1: replicas started together on an empty database each created their own signing
/// key, and a relying party that fetched the JWKS from one could not verify an ID token
/// signed by another. One key per algorithm, one JWKS, every RS256 sign-in verifies.
pub async fn keys_decided_once(c: &mut Cluster, r: &mut Report) -> Result<(), String> {
    let rows = kenpo_idp::store::keys::KeyStore::new(c.staff().db.clone())
        .all()
        .await
        .map_err(|e| e.to_string())?;
    let mut per_alg = std::collections::BTreeMap::<String, usize>::new();
    for row in &rows {
        *per_alg.entry(row.alg.clone()).or_default() += 1;
    }
    r.figure(
        "signing keys after 3 replicas started together",
        format!("{per_alg:?}"),
    );
    let http = reqwest::Client::new();
    let mut docs = Vec::new();
    for idp in &c.idps {
        let body = http
            .get(idp.url("/jwks"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        docs.push(body);
    }
    let member = seed_member(c, "keys01", "7100001", "email").await;
    // Three relying parties, each with the JWKS of another replica (as fetched at their
    // start), each signing members in through the load balancer.
    let mut rps = Vec::new();
    for idp in &c.idps {
        rps.push(Rp::with_jwks_from(c, "rp-rs", &idp.url("/jwks")).await);
    }
    let mut failed = Vec::new();
    for i in 0..36 {
        let b = Browser::new();
        if let Err(e) = rp_sign_in(c, &rps[i % 3], &b, &member).await {
            failed.push(format!("sign-in {i}: {e}"));
        }
    }
    r.figure(
        "RS256 sign-ins verified by relying parties each holding one replica's JWKS",
        format!("{} of 36", 36 - failed.len()),
    );
    if per_alg.values().any(|n| *n != 1) || per_alg.len() != 3 {
        return Err(format!("one key per algorithm expected, found {per_alg:?}"));
    }
    if docs.iter().any(|d| d != &docs[0]) {
        return Err("the replicas publish different JWKS".into());
    }
    if !failed.is_empty() {
        return Err(failed.join("\n"));
    }
    Ok(())
}

/// The answers of the IdP's load balancer since `from`, by replica; fails if two
/// consecutive ones came from the same replica or a replica was never used.
fn spread(c: &Cluster, from: Instant) -> Result<usize, String> {
    let log = c.idp_proxy.log_since(from);
    let mut used = [0usize; 3];
    for pair in log.windows(2) {
        if pair[0].replica == pair[1].replica {
            return Err(format!(
                "two consecutive requests on one replica: {} {} and {} {}",
                pair[0].method, pair[0].path, pair[1].method, pair[1].path
            ));
        }
    }
    for l in &log {
        if let Some(i) = l.replica {
            used[i] += 1;
        }
    }
    if used.contains(&0) {
        return Err(format!("a replica served nothing: {used:?}"));
    }
    Ok(log.len())
}

const MEDICAL: &str = "記号,番号,枝番,受診者氏名,診療年月,区分,医療機関名,日数,医療費総額,保険者負担額,公費負担額,自己負担額
34,7200003,00,健保 一郎,2025-01,医科外来,けんぽ内科クリニック,2,12340,8640,0,3700
34,7200003,01,健保 花子,2025-03,医科入院,市立総合病院,9,852300,596610,0,255690
";
const ELIGIBILITY: &str =
    "保険者番号,記号,番号,枝番,氏名,カナ氏名,生年月日,資格取得年月日,負担割合,交付年月日
06139999,34,7200003,00,健保 一郎,ケンポ イチロウ,1980-12-01,2015-04-01,3,2025-11-01
";

/// Every member journey, each request on another replica than the last.
pub async fn every_journey_across_replicas(c: &mut Cluster, r: &mut Report) -> Result<(), String> {
    let rp_a = Rp::new(c, "rp-a").await;
    let rp_b = Rp::new(c, "rp-b").await;
    let from = Instant::now();

    // First login with each factor; SSO to a second client; refresh; userinfo; RP-initiated
    // logout.
    for (n, factor) in ["totp", "email", "passkey"].iter().enumerate() {
        let m = import_new(c, &format!("first0{n}"), &format!("720000{n}")).await;
        let b = Browser::new();
        let start = rp_a.start("openid profile email member");
        let (m, back) = first_login(c, &b, &start.url, &m, factor, rp_a.redirect)
            .await
            .map_err(|e| format!("{factor}: {e}"))?;
        let q = query(&back);
        let code = q
            .get("code")
            .ok_or(format!("{factor}: no code in {back}"))?;
        let tokens = rp_a
            .exchange(code, &start.verifier)
            .await
            .map_err(|e| format!("{factor}: exchange {e}"))?;
        let id_token = tokens.id_token.clone().ok_or("no ID token")?;
        let claims = rp_a.verify(&id_token, &start.nonce)?;
        if claims["member_number"] != serde_json::json!(m.number) {
            return Err(format!("{factor}: member claims {claims}"));
        }
        // SSO: the second client gets a code without a password.
        let sso = rp_b.start("openid profile");
        let back = flows::follow(&b, b.get(&sso.url).await, rp_b.redirect)
            .await
            .err()
            .ok_or(format!("{factor}: SSO asked for something"))?;
        let code = query(&back).get("code").cloned().ok_or("SSO code")?;
        let t2 = rp_b
            .exchange(&code, &sso.verifier)
            .await
            .map_err(|e| format!("SSO exchange {e}"))?;
        rp_b.verify(t2.id_token.as_deref().unwrap_or_default(), &sso.nonce)?;
        let info = rp_a
            .userinfo(&tokens.access)
            .await
            .map_err(|s| format!("userinfo {s}"))?;
        if info["sub"] != claims["sub"] {
            return Err("userinfo names another subject".into());
        }
        let mut refresh = tokens.refresh.clone().ok_or("no refresh token")?;
        for _ in 0..3 {
            let t = rp_a
                .refresh(&refresh)
                .await
                .map_err(|e| format!("refresh {e}"))?;
            refresh = t.refresh.ok_or("rotated token")?;
        }
        // RP-initiated logout with the ID token as hint, back to the client.
        let q = serde_urlencoded::to_string([
            ("id_token_hint", id_token.as_str()),
            (
                "post_logout_redirect_uri",
                &format!("{}/signed-out", rp_a.redirect),
            ),
            ("state", "bye"),
        ])
        .map_err(|e| e.to_string())?;
        let out = flows::follow(
            &b,
            b.get(&c.idp_url(&format!("/logout?{q}"))).await,
            rp_a.redirect,
        )
        .await
        .err()
        .ok_or(format!("{factor}: logout did not return to the client"))?;
        if !out.contains("state=bye") {
            return Err(format!("logout returned to {out}"));
        }
        // Signed out: the next sign-in asks for the password again, and the factor works.
        if *factor != "passkey" {
            let mut m = m.clone();
            m.totp_ahead = 30; // the enrolment used this step's code
            let again = rp_a.start("openid");
            sign_in(c, &Browser::new(), &again.url, &m, rp_a.redirect)
                .await
                .map_err(|e| format!("{factor}: signing in again: {e}"))?;
        }
    }

    // The portal: sign in through the IdP, pages, back-channel logout from the IdP.
    let notices = c.dir.0.join("medical.csv");
    std::fs::write(&notices, MEDICAL).map_err(|e| e.to_string())?;
    c.portal_cli(&["import", "medical", notices.to_str().unwrap_or_default()]);
    let elig = c.dir.0.join("eligibility.csv");
    std::fs::write(&elig, ELIGIBILITY).map_err(|e| e.to_string())?;
    c.portal_cli(&["import", "eligibility", elig.to_str().unwrap_or_default()]);
    let m = seed_member(c, "portal03", "7200003", "totp").await;
    let b = Browser::new();
    let login = c.portal_url("/auth/login?return_to=/medical");
    let back = sign_in(c, &b, &login, &m, &c.portal_url("/auth/callback"))
        .await
        .map_err(|e| format!("portal sign-in: {e}"))?;
    let landing = b.get(&back).await;
    let page = flows::follow(&b, landing, "never:").await?;
    if page.step().as_deref() != Some("portal-medical")
        || !page.body.contains("けんぽ内科クリニック")
    {
        return Err(format!(
            "portal medical page: {} {:?}",
            page.status,
            page.step()
        ));
    }
    for path in [
        "/",
        "/benefits",
        "/eligibility",
        "/medical/deduction?year=2025",
    ] {
        let p = b.get(&c.portal_url(path)).await;
        if p.status != 200 {
            return Err(format!("portal {path}: {}", p.status));
        }
    }
    // The portal revalidates every 2 s with a refresh at the IdP (through the cluster).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let p = b.get(&c.portal_url("/benefits")).await;
    if p.status != 200 {
        return Err(format!("portal after its refresh check: {}", p.status));
    }
    // Signing out at the IdP ends the portal session by back-channel logout.
    let confirm = b.get(&c.idp_url("/logout")).await;
    let done = b
        .submit(&confirm, "/logout/confirm", &[("confirm", "yes")])
        .await;
    if done.status != 200 {
        return Err(format!("IdP sign-out: {}", done.status));
    }
    let t = Instant::now();
    let mut ended = false;
    while t.elapsed() < Duration::from_secs(10) {
        // Just under the revalidation interval would also end it; the clock says which.
        if b.get(&c.portal_url("/eligibility")).await.status == 303 {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !ended {
        return Err("the portal session outlived the IdP sign-out".into());
    }
    r.figure(
        "back-channel logout reached the portal after",
        format!("{:?}", t.elapsed()),
    );
    let n = spread(c, from)?;
    r.figure(
        "journey requests, consecutive ones on different IdP replicas",
        n.to_string(),
    );
    Ok(())
}

/// The metrics listener answers on its own port, never on the public one.
pub async fn metrics_on_their_own_listener(c: &mut Cluster, r: &mut Report) -> Result<(), String> {
    let http = reqwest::Client::new();
    // Each replica counts what it served: look at all three.
    let mut text = String::new();
    for idp in &c.idps {
        text.push_str(
            &http
                .get(format!("http://127.0.0.1:{}/metrics", idp.metrics_port))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    for name in [
        "kenpo_idp_http_requests_total{",
        "kenpo_idp_http_request_duration_seconds_bucket{",
        "kenpo_idp_signin_attempts_total{factor=\"email\",result=\"success\"}",
        "kenpo_idp_audit_events_total{kind=\"onboarding.completed\"}",
        "kenpo_idp_mail_total{result=\"sent\"}",
        "kenpo_idp_backend_up{backend=\"redis\"} 1",
        "kenpo_idp_backend_up{backend=\"database\"} 1",
        "kenpo_idp_db_pool_connections",
        "kenpo_idp_argon2_queue_depth",
        "kenpo_idp_backchannel_pending",
        "kenpo_idp_signing_keys{kind=\"active\"} 3",
    ] {
        if !text.contains(name) {
            let family = name.split('{').next().unwrap_or(name);
            let near: Vec<&str> = text.lines().filter(|l| l.contains(family)).collect();
            return Err(format!("IdP metrics lack {name}: {near:?}"));
        }
    }
    let mut portal = String::new();
    for p in &c.portals {
        portal.push_str(
            &http
                .get(format!("http://127.0.0.1:{}/metrics", p.metrics_port))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    for name in [
        "kenpo_portal_http_requests_total{",
        "kenpo_portal_imports{kind=\"medical\"} 1",
        "kenpo_portal_notice_views_total{kind=\"medical\",format=\"page\"}",
    ] {
        if !portal.contains(name) {
            return Err(format!("portal metrics lack {name}"));
        }
    }
    for path in ["/metrics"] {
        let s = http
            .get(c.idp_url(path))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .status();
        if s != 404 {
            return Err(format!("the public IdP port answers {path} with {s}"));
        }
        let s = http
            .get(c.portal_url(path))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .status();
        if s != 404 {
            return Err(format!("the public portal port answers {path} with {s}"));
        }
    }
    r.figure(
        "IdP metrics exposition (3 replicas)",
        format!("{} lines", text.lines().count()),
    );
    Ok(())
}
