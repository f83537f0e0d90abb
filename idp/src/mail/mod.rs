//! Mail to members: one-time codes, verification and reset links, notices of account changes.
//! Real SMTP when configured, otherwise `.eml` files in an outbox folder plus a log line.
//! A failed send is reported to the caller (the page says "could not send, try again"); it
//! never takes a request down.

pub mod templates;
pub mod transport;

pub use templates::{Mail, MailKind};
pub use transport::{MailError, Mailer};
