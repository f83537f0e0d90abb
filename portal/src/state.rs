//! The application state every handler receives. No global statics: tests build their own
//! state with a fixed clock, their own database and their own store prefix.

use crate::auth::cookies::Cookies;
use crate::auth::provider::Provider;
use crate::auth::session::{Lifetimes, Sessions};
use crate::config::Config;
use crate::store::Db;
use kenpo_shared::Clock;
use kenpo_shared::ephemeral::Ephemeral;
use std::ops::Deref;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub db: Db,
    pub eph: Ephemeral,
    pub clock: Clock,
    pub provider: Provider,
    pub cookies: Cookies,
    pub metrics: Arc<crate::metrics::PortalMetrics>,
    /// Readiness and the shutdown sequence.
    pub lifecycle: kenpo_shared::lifecycle::Lifecycle,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("base_url", &self.config.server.base_url)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        AppState(Arc::new(inner))
    }

    /// Current time as UNIX seconds (read once per request and passed down).
    pub fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    /// Today in Japan.
    pub fn today(&self) -> time::Date {
        crate::notices::today_jst(self.clock.now())
    }

    pub fn sessions(&self) -> Sessions {
        Sessions::new(
            self.eph.clone(),
            Lifetimes {
                idle_secs: self.config.session.idle_secs,
                absolute_secs: self.config.session.absolute_secs,
                revalidate_secs: self.config.session.revalidate_secs,
            },
        )
    }
}
