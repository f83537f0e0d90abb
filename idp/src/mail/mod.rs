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

/// `text` with every email address in it masked (an SMTP server's refusal often quotes the
/// recipient: `550 5.1.1 <taro@example.jp>: unknown user`), for error fields of log lines.
pub fn masked_in(text: &str) -> String {
    let is_addr_char = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.contains('@') {
            out.push_str(&masked(word));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if is_addr_char(c) || c == '@' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_are_masked() {
        assert_eq!(super::masked("taro@example.jp"), "t***@example.jp");
        assert_eq!(super::masked("nonsense"), "***");
    }

    #[test]
    fn addresses_inside_a_text_are_masked() {
        assert_eq!(
            super::masked_in(
                "550 5.1.1 <taro.yamada+kenpo@example.jp>: unknown, also hanako@mail.example.jp."
            ),
            "550 5.1.1 <t***@example.jp>: unknown, also h***@mail.example.jp."
        );
        assert_eq!(super::masked_in("connection refused"), "connection refused");
    }
}
