//! The IdP's Prometheus metrics (served on `server.metrics_bind`, never the public port; each
//! one is described in docs/operator-guide.md with the alerts to set):
//!
//! - the shared HTTP and store metrics (`kenpo_shared::metrics`);
//! - sign-in attempts by factor and result: successes from the audit trail (every step a
//!   member passes is audited), failures and refusals from the answers of the sign-in
//!   endpoints (401 wrong, 429 throttled), so no handler has to remember to count;
//! - audit events by kind (onboarding completions, password changes, enrolments, recoveries,
//!   refresh-token reuse, staff actions);
//! - mail sent and failed, back-channel deliveries pending, delivered and failed, the argon2
//!   queue, the signing keys in use.

mod scrape;

pub use scrape::{Scrape, signin_outcomes};

use kenpo_shared::metrics::Metrics;
use kenpo_shared::metrics::prometheus_client::encoding::EncodeLabelSet;
use kenpo_shared::metrics::prometheus_client::metrics::counter::Counter;
use kenpo_shared::metrics::prometheus_client::metrics::family::Family;
use kenpo_shared::metrics::prometheus_client::metrics::gauge::Gauge;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SigninLabels {
    /// `password`, `totp`, `email`, `passkey`.
    pub factor: String,
    /// `success`, `failure` (wrong answer), `throttled`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

pub struct IdpMetrics {
    pub base: Arc<Metrics>,
    signins: Family<SigninLabels, Counter>,
    audit: Family<KindLabels, Counter>,
    mail: Family<ResultLabels, Counter>,
    mail_pending: Gauge,
    backchannel: Family<ResultLabels, Counter>,
    backchannel_pending: Gauge,
    argon2_queue: Gauge,
    signing_keys: Family<KindLabels, Gauge>,
}

impl std::fmt::Debug for IdpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdpMetrics")
    }
}

impl Default for IdpMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The factor a sign-in step proved, from the `amr` values it added.
pub fn factor_of_amr(amr: &[&str]) -> &'static str {
    if amr.contains(&"mca") {
        "email"
    } else if amr.contains(&"hwk") {
        "passkey"
    } else if amr.contains(&"otp") {
        "totp"
    } else {
        "password"
    }
}

/// The factor checked by a sign-in endpoint (POST), for its failures and refusals.
fn factor_of_route(route: &str) -> Option<&'static str> {
    Some(match route {
        "/login" => "password",
        "/signin/mfa-totp" => "totp",
        "/signin/mfa-email" => "email",
        "/signin/mfa-passkey/finish" | "/login/passkey/finish" => "passkey",
        _ => return None,
    })
}

impl IdpMetrics {
    pub fn new() -> IdpMetrics {
        let base = Arc::new(Metrics::new("kenpo_idp"));
        let m = IdpMetrics {
            base,
            signins: Family::default(),
            audit: Family::default(),
            mail: Family::default(),
            mail_pending: Gauge::default(),
            backchannel: Family::default(),
            backchannel_pending: Gauge::default(),
            argon2_queue: Gauge::default(),
            signing_keys: Family::default(),
        };
        m.base.register(|r| {
            // name, help => metric: one line per series family a scrape lists.
            macro_rules! register {
                ($($name:literal, $help:literal => $metric:ident;)*) => {
                    $(r.register($name, $help, m.$metric.clone());)*
                };
            }
            register! {
                "signin_attempts", "Sign-in steps by factor (password, totp, email, passkey) and result (success, failure, throttled)" => signins;
                "audit_events", "Audited events by kind (onboarding.completed, password.changed, mfa.enrolled, refresh.reuse, …)" => audit;
                "mail", "Mails by result: sent, failed (the SMTP server refused or timed out)" => mail;
                "mail_in_flight", "Mails being handed to the SMTP server now" => mail_pending;
                "backchannel_deliveries", "Back-channel logout deliveries by result: delivered, failed (will be retried), abandoned" => backchannel;
                "backchannel_pending", "Back-channel logout deliveries not yet made (all replicas; sampled at scrape)" => backchannel_pending;
                "argon2_queue_depth", "Password hashes waiting for or running on this replica's hashing threads" => argon2_queue;
                "signing_keys", "Signing keys this replica publishes, by state (active, published)" => signing_keys;
            }
        });
        m
    }

    pub fn signin(&self, factor: &str, result: &str) {
        self.signins
            .get_or_create(&SigninLabels {
                factor: factor.into(),
                result: result.into(),
            })
            .inc();
    }

    /// Every audited event; sign-in steps also count as successful attempts of their factor.
    pub fn audited(&self, kind: &str, detail: &serde_json::Value) {
        self.audit
            .get_or_create(&KindLabels { kind: kind.into() })
            .inc();
        if matches!(
            kind,
            "signin.primary" | "signin.second_factor" | "signin.step_up"
        ) {
            let amr: Vec<&str> = detail["amr"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            self.signin(factor_of_amr(&amr), "success");
        }
    }

    pub fn mail_started(&self) {
        self.mail_pending.inc();
    }

    pub fn mail_done(&self, ok: bool) {
        self.mail_pending.dec();
        let result = if ok { "sent" } else { "failed" };
        self.mail
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
    }

    pub fn backchannel(&self, result: &str) {
        self.backchannel
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_from_amr_and_routes() {
        assert_eq!(factor_of_amr(&["otp", "mca"]), "email");
        assert_eq!(factor_of_amr(&["hwk", "user", "mfa"]), "passkey");
        assert_eq!(factor_of_amr(&["otp"]), "totp");
        assert_eq!(factor_of_amr(&["pwd"]), "password");
        assert_eq!(factor_of_route("/login"), Some("password"));
        assert_eq!(factor_of_route("/account"), None);
    }
}
