//! How many statements a hosted page sends to the database, counted by diesel's
//! instrumentation on the very connections of the IdP under test (issue 9: the member, the
//! factors and the step are loaded once per request and carried through).

use crate::support::*;
use diesel::connection::{Instrumentation, InstrumentationEvent, set_default_instrumentation};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use time::Duration;

/// Databases being watched: the part of their URL after the scheme, and the counters.
type Watched = Mutex<Vec<(String, Arc<Counts>)>>;

#[derive(Default)]
struct Counts {
    selects: AtomicUsize,
    writes: AtomicUsize,
}

fn watched() -> &'static Watched {
    static W: OnceLock<Watched> = OnceLock::new();
    W.get_or_init(Default::default)
}

/// Counts the statements of one connection once it turns out to be to a watched database.
#[derive(Default)]
struct Counter(Option<Arc<Counts>>);

impl Instrumentation for Counter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartEstablishConnection { url, .. } => {
                self.0 = watched()
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|(marker, _)| url.contains(marker.as_str()))
                    .map(|(_, c)| c.clone());
            }
            InstrumentationEvent::StartQuery { query, .. } => {
                if let Some(c) = &self.0 {
                    let sql = query.to_string().trim_start().to_ascii_uppercase();
                    // r2d2's health check of a PostgreSQL connection at checkout is not a read.
                    if sql.trim_end_matches(';') == "SELECT 1" {
                        return;
                    }
                    if sql.starts_with("SELECT") {
                        c.selects.fetch_add(1, Ordering::SeqCst);
                    } else if ["INSERT", "UPDATE", "DELETE"]
                        .iter()
                        .any(|w| sql.starts_with(w))
                    {
                        c.writes.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            _ => {}
        }
    }
}

/// An IdP whose database statements are counted from its first connection on.
async fn counted_idp() -> (TestIdp, Arc<Counts>) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        set_default_instrumentation(|| Some(Box::new(Counter::default()))).unwrap();
    });
    let counts = Arc::new(Counts::default());
    let idp = TestIdp::start_with(|c| {
        let marker = c
            .database
            .url
            .split_once("://")
            .map_or(c.database.url.as_str(), |(_, rest)| rest)
            .to_string();
        watched().lock().unwrap().push((marker, counts.clone()));
    })
    .await;
    (idp, counts)
}

#[tokio::test]
async fn an_authenticator_app_code_reads_the_member_once() {
    let (idp, counts) = counted_idp().await;
    let m = idp.member("reads", "26", "1234567").await;
    let browser = Browser::new();
    let page = password_step(&idp, &browser, &m).await;
    assert_eq!(page.step().as_deref(), Some("mfa-totp"));
    idp.clock.advance(Duration::seconds(30));
    let code = totp_code(&m.totp_secret, idp.state.now());
    let before = (
        counts.selects.load(Ordering::SeqCst),
        counts.writes.load(Ordering::SeqCst),
    );
    let done = browser
        .submit(&page, "/signin/mfa-totp", &[("otp", &code)])
        .await;
    assert!(done.status.is_redirection(), "{}", describe(&done));
    let selects = counts.selects.load(Ordering::SeqCst) - before.0;
    let writes = counts.writes.load(Ordering::SeqCst) - before.1;
    eprintln!("POST /signin/mfa-totp: {selects} SELECTs, {writes} writes");
    // One trip for the member and the counts of their factors (three SELECTs), one for the
    // TOTP secret; writes: the used time step, the audit entry, and — this being the
    // browser's first completed sign-in — its device token (the row and its audit entry).
    assert!(selects <= 4, "{selects} SELECTs");
    assert!(writes <= 4, "{writes} writes");
}
