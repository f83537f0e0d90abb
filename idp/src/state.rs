//! The application state every handler receives: configuration, stores, keys, clock, mail.
//! No global statics: tests build their own state with a fixed clock and their own database.

use crate::config::Config;
use crate::mail::templates::MailContext;
use crate::mail::{Mail, MailError, Mailer};
use crate::oidc::keys::{KeyRing, RotationPolicy};
use crate::security::cookies::Cookies;
use crate::security::password::PasswordHasher;
use crate::security::secretbox::SecretBox;
use crate::store::Db;
use crate::store::audit::AuditLog;
use crate::store::clients::ClientStore;
use crate::store::consents::ConsentStore;
use crate::store::ephemeral::Ephemeral;
use crate::store::members::MemberStore;
use crate::store::outbox::Outbox;
use kenpo_shared::Clock;
use std::ops::Deref;
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    /// The issuer without a trailing slash.
    pub issuer: String,
    pub db: Db,
    pub eph: Ephemeral,
    pub keys: KeyRing,
    pub sbox: Arc<SecretBox>,
    pub hasher: PasswordHasher,
    pub clock: Clock,
    pub mailer: Mailer,
    pub cookies: Cookies,
    pub http: reqwest::Client,
    /// Wakes the back-channel logout worker when deliveries are queued.
    pub outbox_wake: Arc<Notify>,
    pub webauthn: Arc<webauthn_rs::Webauthn>,
    pub client_cache: crate::store::clients::ClientCache,
    /// The discovery document (depends only on configuration).
    pub discovery: String,
    pub metrics: Arc<crate::metrics::IdpMetrics>,
    /// Readiness and the shutdown sequence.
    pub lifecycle: kenpo_shared::lifecycle::Lifecycle,
    /// Mails still being delivered after their page answered.
    pub mail_in_flight: kenpo_shared::lifecycle::InFlight,
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
            .field("issuer", &self.issuer)
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

    pub fn members(&self) -> MemberStore {
        MemberStore::new(self.db.clone())
    }
    pub fn clients(&self) -> ClientStore {
        ClientStore::cached(self.db.clone(), self.client_cache.clone())
    }
    /// Grants and their revocation (see `oidc::grants`).
    pub fn grants(&self) -> crate::oidc::grants::Grants {
        crate::oidc::grants::Grants::new(
            self.db.clone(),
            self.eph.clone(),
            self.config.tokens.access_token_ttl_secs,
        )
    }
    pub fn consents(&self) -> ConsentStore {
        ConsentStore::new(self.db.clone())
    }
    pub fn audit(&self) -> AuditLog {
        AuditLog::new(self.db.clone()).observed(self.metrics.clone())
    }
    pub fn outbox(&self) -> Outbox {
        Outbox::new(self.db.clone())
    }

    /// Hashes a member's new password on the bounded argon2 queue and stores it: the one way a
    /// password is set (first login, reset by mail, change on the account page). Returns the
    /// stored hash.
    pub async fn set_password(
        &self,
        member_id: &str,
        password: String,
        now: i64,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let hash = self
            .hasher
            .hash(&kenpo_shared::Secret::new(password))
            .await?;
        self.members()
            .set_password(member_id, hash.clone(), now)
            .await?;
        Ok(hash)
    }

    pub fn rotation_policy(&self) -> RotationPolicy {
        rotation_policy(&self.config)
    }

    pub fn mail_context(&self) -> MailContext {
        MailContext {
            from_name: self.config.mail.from_name.clone(),
            from_address: self.config.mail.from_address.clone(),
            service_name: self.config.union.service_name.clone(),
            contact_email: self.config.union.contact_email.clone(),
        }
    }

    /// Builds and sends a mail. The page waits for the SMTP server at most
    /// `mail.page_wait_ms`: a refusal within that time is returned for the page to report; a
    /// slow server does not hold the page (the delivery goes on in the background, bounded by
    /// the transport's timeout, and a stopping replica waits for it).
    pub async fn send_mail(&self, mail: Mail) -> Result<(), MailError> {
        let ctx = self.mail_context();
        let message = mail.build(&ctx)?;
        if let Mailer::Outbox(..) = self.mailer {
            // The embedded mode has no mail server: the log shows what the member would read.
            tracing::info!(to = %crate::mail::masked(&mail.to), subject = %mail.subject(&ctx.service_name), "mail (outbox mode):\n{}", mail.text(&ctx));
        }
        let (mailer, metrics) = (self.mailer.clone(), self.metrics.clone());
        let guard = self.mail_in_flight.start();
        metrics.mail_started();
        let delivery = tokio::spawn(async move {
            let result = mailer.send(message).await;
            metrics.mail_done(result.is_ok());
            if let Err(e) = &result {
                tracing::warn!(error = %crate::mail::masked_in(&e.to_string()), "mail delivery failed");
            }
            drop(guard);
            result
        });
        let wait = std::time::Duration::from_millis(self.config.mail.page_wait_ms);
        match tokio::time::timeout(wait, delivery).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(MailError::Send(format!("delivery task failed: {e}"))),
            Err(_) => {
                tracing::info!(
                    wait_ms = wait.as_millis() as u64,
                    "the mail server is slow: the page goes on, delivery continues"
                );
                Ok(())
            }
        }
    }

    /// Sends a notice whose failure must not undo what it reports (the change stands; the
    /// failure is logged by [`AppState::send_mail`]).
    pub async fn send_notice(&self, mail: Mail) {
        if self.send_mail(mail).await.is_err() {
            tracing::warn!("notice not delivered; the change it reports stands");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// The server-nonce policy of DPoP proofs (`dpop.nonce`).
    pub fn dpop_nonces(&self) -> crate::oidc::dpop::Nonces {
        crate::oidc::dpop::Nonces {
            on: self.config.dpop.nonce,
            ttl: self.config.dpop.nonce_ttl_secs,
        }
    }

    /// Verifies the DPoP proof of a request to `path` of this issuer (see `oidc::dpop`);
    /// the key's thumbprint, or none without a proof.
    pub async fn verify_dpop(
        &self,
        headers: &axum::http::HeaderMap,
        method: &str,
        path: &str,
        access_token: Option<&str>,
        now: i64,
    ) -> Result<Option<String>, crate::oidc::dpop::Refusal> {
        let window = crate::oidc::dpop::Window {
            max_age: self.config.dpop.proof_max_age_secs,
            max_skew: self.config.dpop.proof_max_skew_secs,
        };
        crate::oidc::dpop::verify(
            &self.eph,
            headers,
            method,
            &self.url(path),
            access_token,
            now,
            window,
            self.dpop_nonces(),
        )
        .await
    }
}

pub fn rotation_policy(config: &Config) -> RotationPolicy {
    RotationPolicy {
        rotate_after_secs: config.keys.rotate_after_days * 86_400,
        prepublish_secs: config.keys.prepublish_hours * 3600,
        // Retired keys stay published as long as anything they signed can still be checked:
        // ID tokens (and their use as logout hints for a day).
        retire_grace_secs: config.tokens.id_token_ttl_secs + 86_400,
    }
}
