//! Delivery: lettre's SMTP transport (implicit TLS, STARTTLS or plain for a local relay) or
//! its file transport (the outbox folder of the embedded mode).

use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail could not be built: {0}")]
    Build(String),
    #[error("mail could not be sent: {0}")]
    Send(String),
}

#[derive(Clone)]
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Smtp(_) => f.write_str("Mailer::Smtp"),
            Mailer::Outbox(_, dir) => write!(f, "Mailer::Outbox({})", dir.display()),
        }
    }
}

/// Checks an SMTP URL: `smtps://user:pass@host:465` (implicit TLS),
/// `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtp://host:25` (plain).
pub fn parse_smtp_url(url: &str) -> Result<(), String> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

impl Mailer {
    pub fn smtp(url: &str) -> Result<Mailer, MailError> {
        let t = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Build(e.to_string()))?
            .timeout(Some(std::time::Duration::from_secs(15)))
            .build();
        Ok(Mailer::Smtp(t))
    }

    pub fn outbox(dir: PathBuf) -> Result<Mailer, MailError> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| MailError::Build(format!("{}: {e}", dir.display())))?;
        Ok(Mailer::Outbox(AsyncFileTransport::new(&dir), dir))
    }

    pub async fn send(&self, message: Message) -> Result<(), MailError> {
        let to = logged_recipients(&message);
        let subject = message
            .headers()
            .get_raw("Subject")
            .unwrap_or_default()
            .to_string();
        match self {
            Mailer::Smtp(t) => {
                t.send(message)
                    .await
                    .map_err(|e| MailError::Send(super::masked_in(&e.to_string())))?;
                tracing::info!(%to, "mail sent");
            }
            Mailer::Outbox(t, dir) => {
                let id = t
                    .send(message)
                    .await
                    .map_err(|e| MailError::Send(e.to_string()))?;
                tracing::info!(%to, %subject, file = %dir.join(format!("{id}.eml")).display(), "mail written to the outbox");
            }
        }
        Ok(())
    }
}

/// The recipients as log lines show them: masked (`t***@example.jp`), never whole, since logs
/// travel further than the member database (collectors, support tickets).
pub fn logged_recipients(message: &Message) -> String {
    message
        .envelope()
        .to()
        .iter()
        .map(|a| super::masked(a.as_ref()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// Collects what the fmt subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_log_line_of_a_sent_mail_masks_the_recipient() {
        let dir = std::env::temp_dir().join(format!("kenpo-mail-{}", uuid::Uuid::new_v4()));
        let mailer = Mailer::outbox(dir.clone()).unwrap();
        let message = Message::builder()
            .from("no-reply@kenpo.example.jp".parse().unwrap())
            .to("taro.yamada@example.jp".parse().unwrap())
            .subject("test")
            .body("body".to_string())
            .unwrap();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        mailer.send(message).await.unwrap();
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("mail written to the outbox"), "{log}");
        assert!(log.contains("to=t***@example.jp"), "{log}");
        assert!(!log.contains("taro.yamada"), "{log}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
