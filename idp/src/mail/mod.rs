//! Mail to members: one-time codes, verification and reset links, notices of account changes.
//! Real SMTP when configured, otherwise `.eml` files in an outbox folder plus a log line.
//! A failed send is reported to the caller (the page says "could not send, try again"); it
//! never takes a request down.

pub mod templates;
pub mod transport;

pub use templates::{Mail, MailKind, Requested};
pub use transport::{MailError, Mailer};

/// `t***@example.jp`: enough for the member to recognise the address (and for a log reader
/// to tell two apart), not to learn it.
pub fn masked(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_are_masked() {
        assert_eq!(super::masked("taro@example.jp"), "t***@example.jp");
        assert_eq!(super::masked("nonsense"), "***");
    }
}
