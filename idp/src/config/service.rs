//! The union's service around the sign-in: `[mail]`, `[union]`, `[demo]`, `[testing]`.

use kenpo_shared::Secret;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// `smtps://user:pass@host:465` (implicit TLS), `smtp://…?tls=starttls` or
    /// `smtp://host:25` (plain, local relay). Empty: write `.eml` files to `outbox_dir`.
    pub smtp_url: Option<Secret<String>>,
    pub outbox_dir: PathBuf,
    pub from_name: String,
    pub from_address: String,
    /// A page waits at most this long for the SMTP server to take a mail; a slower server
    /// gets the mail in the background (a refusal within this time is shown on the page).
    pub page_wait_ms: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            outbox_dir: "./data/outbox".into(),
            from_name: "けんぽWeb".into(),
            from_address: "no-reply@kenpo.example.jp".into(),
            page_wait_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnionConfig {
    /// Shown in page headers and mail subjects (【…】).
    pub service_name: String,
    pub service_name_en: String,
    /// Where members write when they cannot help themselves (no ID questions by phone).
    pub contact_email: String,
    /// Folder with the editable texts: terms-ja.md, terms-en.md, privacy-ja.md, privacy-en.md.
    pub texts_dir: Option<PathBuf>,
    /// Version of the terms of use; a new value asks every member again.
    pub terms_version: String,
}

impl Default for UnionConfig {
    fn default() -> Self {
        Self {
            service_name: "けんぽWeb".into(),
            service_name_en: "Kenpo Web".into(),
            contact_email: "web-support@kenpo.example.jp".into(),
            texts_dir: None,
            terms_version: "2025-11".into(),
        }
    }
}

/// Knobs for the test suites only: never set them in production.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TestingConfig {
    /// Seconds added to the system clock (the cluster test runs replicas whose clocks are
    /// ±30 s apart).
    pub clock_offset_secs: i64,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// Seed a demo member and a demo relying party at start (embedded mode).
    pub enabled: bool,
}
