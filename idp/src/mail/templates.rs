//! Mail texts, Japanese first (English when the member chose English), each with a plain-text
//! and an HTML part. Contract (SPEC): an OTP mail's text body holds the code as its only
//! six-digit number; a verification or reset mail holds exactly one link into the IdP.

use super::MailError;
use kenpo_shared::Lang;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use maud::html;

/// Where and when a request was made, for the mails it causes ("was this you?").
#[derive(Debug, Clone)]
pub struct Requested {
    pub at: i64,
    /// The browser and system, from the user agent ("Chrome / Windows").
    pub device: String,
    pub ip: String,
}

impl Requested {
    fn text(&self, l: Lang) -> String {
        let when = kenpo_shared::lang::japan_time(l, self.at);
        let (device, ip) = (&self.device, &self.ip);
        match l {
            Lang::Ja => format!("受付日時：{when}　端末：{device}　IPアドレス：{ip}"),
            Lang::En => format!("Requested: {when}, device: {device}, IP address: {ip}"),
        }
    }
}

#[derive(Debug, Clone)]
pub enum MailKind {
    Otp {
        code: String,
        minutes: i64,
    },
    VerifyEmail {
        link: String,
        minutes: i64,
    },
    /// A code confirming a new address (account page), sent to that address.
    AddressCode {
        code: String,
        minutes: i64,
    },
    ResetPassword {
        link: String,
        minutes: i64,
        requested: Requested,
        /// The member's only second factor is emailed codes: the mail says what that means.
        email_only: bool,
    },
    /// A reset asked for a member with only emailed codes, where the union's setting wants
    /// staff to confirm it: no link, the way to the union instead.
    ResetNeedsStaff {
        requested: Requested,
        contact: String,
    },
    UserIds {
        user_ids: Vec<String>,
    },
    PasswordChanged,
    /// A change to sign-in settings ("a passkey was added", …), already worded.
    SecurityNotice {
        what_ja: String,
        what_en: String,
    },
    /// Sent to the old address when the address changes.
    EmailChanged {
        new_address: String,
        requested: Requested,
    },
    /// Union staff changed the member's account (issue 11), already worded.
    StaffAction {
        what_ja: String,
        what_en: String,
    },
    /// An invitation to the staff console: one link to register a passkey.
    StaffInvitation {
        link: String,
        hours: i64,
    },
}

#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub lang: Lang,
    pub kind: MailKind,
}

/// What every mail needs from configuration.
#[derive(Debug, Clone)]
pub struct MailContext {
    pub from_name: String,
    pub from_address: String,
    pub service_name: String,
    pub contact_email: String,
}

impl Mail {
    pub fn subject(&self, service: &str) -> String {
        let (ja, en) = match &self.kind {
            MailKind::Otp { .. } => ("ワンタイムパスワードのお知らせ", "Your one-time password"),
            MailKind::VerifyEmail { .. } => {
                ("メールアドレスの確認", "Please confirm your email address")
            }
            MailKind::AddressCode { .. } => (
                "メールアドレス確認コードのお知らせ",
                "Your code to confirm this address",
            ),
            MailKind::ResetPassword { .. } | MailKind::ResetNeedsStaff { .. } => {
                ("パスワード再設定のご案内", "Resetting your password")
            }
            MailKind::UserIds { .. } => ("ユーザIDのお知らせ", "Your user ID"),
            MailKind::PasswordChanged => {
                ("パスワードが変更されました", "Your password was changed")
            }
            MailKind::SecurityNotice { .. } => (
                "ログイン設定が変更されました",
                "Your sign-in settings changed",
            ),
            MailKind::EmailChanged { .. } => (
                "メールアドレスが変更されました",
                "Your email address was changed",
            ),
            MailKind::StaffAction { .. } => (
                "組合の担当者がアカウントの設定を変更しました",
                "The union changed your account",
            ),
            MailKind::StaffInvitation { .. } => {
                ("管理画面へのご招待", "Your invitation to the staff console")
            }
        };
        format!("【{service}】{}", self.lang.pick(ja, en))
    }

    /// The paragraphs of the body and the one link, if any.
    fn body(&self) -> (Vec<String>, Option<String>) {
        let l = self.lang;
        match &self.kind {
            MailKind::Otp { code, minutes } => (
                vec![
                    l.pick("ログインに必要なワンタイムパスワードをお知らせします。", "Here is the one-time password to sign in.").into(),
                    format!("{}: {code}", l.pick("ワンタイムパスワード", "One-time password")),
                    match l {
                        Lang::Ja => format!("有効期限は{minutes}分です。画面に入力してください。"),
                        Lang::En => format!("It is valid for {minutes} minutes. Enter it on the sign-in page."),
                    },
                    l.pick(
                        "お心当たりがない場合は、このメールを破棄してください。第三者があなたのパスワードを知っている可能性があるため、パスワードの変更をおすすめします。",
                        "If you did not try to sign in, ignore this mail, and consider changing your password: someone may know it.",
                    )
                    .into(),
                ],
                None,
            ),
            MailKind::AddressCode { code, minutes } => (
                vec![
                    l.pick("メールアドレスの変更のため、このアドレスの確認コードをお知らせします。", "To change your email address to this one, here is your confirmation code.").into(),
                    format!("{}: {code}", l.pick("確認コード", "Confirmation code")),
                    match l {
                        Lang::Ja => format!("有効期限は{minutes}分です。アカウント設定の画面に入力してください。"),
                        Lang::En => format!("It is valid for {minutes} minutes. Enter it on your account page."),
                    },
                    l.pick("お心当たりがない場合は、このメールを破棄してください。アドレスは変更されません。", "If you did not ask for this, ignore this mail: nothing changes.").into(),
                ],
                None,
            ),
            MailKind::VerifyEmail { link, minutes } => (
                vec![
                    l.pick("メールアドレスの確認のため、次のリンクを開いてください。", "To confirm your email address, open this link.").into(),
                    match l {
                        Lang::Ja => format!("リンクの有効期限は{minutes}分です。開いたあと、元の画面に戻って「次へ」を押してください。"),
                        Lang::En => format!("The link is valid for {minutes} minutes. After opening it, return to the original page and press Next."),
                    },
                    l.pick("お心当たりがない場合は、このメールを破棄してください。", "If you did not ask for this, ignore this mail.").into(),
                ],
                Some(link.clone()),
            ),
            MailKind::ResetPassword { link, minutes, requested, email_only } => {
                let mut p = vec![
                    l.pick("パスワード再設定のご依頼を受け付けました。次のリンクから新しいパスワードを設定してください。", "We received a request to reset your password. Set a new one with this link.").into(),
                    requested.text(l),
                    match l {
                        Lang::Ja => format!("リンクの有効期限は{minutes}分で、1回だけ使えます。次回のログインでは、これまでどおり2段階目の認証が必要です。"),
                        Lang::En => format!("The link is valid for {minutes} minutes and works once. Your next sign-in still asks for your second step."),
                    },
                ];
                if *email_only {
                    p.push(l.pick(
                        "ご注意：2段階目の認証がメールでのワンタイムパスワードだけになっています。このメールアドレスを読める人は、パスワードの再設定と2段階目の認証の両方ができてしまいます。ログイン後、アカウントのページで認証アプリまたはパスキー（生体認証）を登録することをおすすめします。",
                        "Please note: your only second step is a code by email, so whoever can read this mailbox could both reset your password and pass the second step. After signing in, we recommend adding an authenticator app or a passkey on your account page.",
                    ).into());
                }
                p.push(l.pick("お心当たりがない場合は、このメールを破棄してください。パスワードは変更されません。", "If you did not ask for this, ignore this mail: your password stays as it is.").into());
                (p, Some(link.clone()))
            }
            MailKind::ResetNeedsStaff { requested, contact } => (
                vec![
                    l.pick("パスワード再設定のご依頼を受け付けました。", "We received a request to reset your password.").into(),
                    requested.text(l),
                    match l {
                        Lang::Ja => format!("2段階目の認証がメールでのワンタイムパスワードだけのため、安全のため、メールだけではパスワードを再設定できません。記号・番号とお名前を書き添えて、組合（{contact}）までメールでご連絡ください。担当者が確認のうえ再設定します。"),
                        Lang::En => format!("Because your only second step is a code by email, your password cannot be reset by mail alone, for your safety. Please write to the union ({contact}) with your 記号・番号 and name; staff will check and reset it."),
                    },
                    l.pick("お心当たりがない場合は、このメールを破棄してください。パスワードは変更されません。", "If you did not ask for this, ignore this mail: your password stays as it is.").into(),
                ],
                None,
            ),
            MailKind::UserIds { user_ids } => {
                let mut p = vec![l
                    .pick("このメールアドレスで登録されているユーザIDをお知らせします。", "These user IDs are registered with this email address.")
                    .to_string()];
                for id in user_ids {
                    p.push(format!("{}: {id}", l.pick("ユーザID", "User ID")));
                }
                p.push(l.pick("お心当たりがない場合は、このメールを破棄してください。", "If you did not ask for this, ignore this mail.").into());
                (p, None)
            }
            MailKind::PasswordChanged => (
                vec![
                    l.pick("パスワードが変更されました。", "Your password was changed.").into(),
                    l.pick(
                        "お心当たりがない場合は、すぐに「パスワードを忘れた方」からパスワードを再設定し、組合までメールでご連絡ください。",
                        "If this was not you, reset your password at once with “Forgot your password?” and write to the union.",
                    )
                    .into(),
                ],
                None,
            ),
            MailKind::SecurityNotice { what_ja, what_en } => (
                vec![
                    l.pick(what_ja, what_en).into(),
                    l.pick(
                        "お心当たりがない場合は、すぐにパスワードを変更し、組合までメールでご連絡ください。",
                        "If this was not you, change your password at once and write to the union.",
                    )
                    .into(),
                ],
                None,
            ),
            MailKind::StaffAction { what_ja, what_en } => (
                vec![
                    l.pick(what_ja, what_en).into(),
                    l.pick(
                        "組合にご依頼いただいた手続きであれば、対応は不要です。お心当たりがない場合は、組合までメールでご連絡ください。",
                        "If you asked the union for this, there is nothing to do. If not, please write to the union.",
                    )
                    .into(),
                ],
                None,
            ),
            MailKind::StaffInvitation { link, hours } => (
                vec![
                    l.pick(
                        "健康保険組合の管理画面（職員用）へ招待されました。下のリンクを開き、パスキー（顔認証・指紋認証・PIN）を登録してください。登録後は、パスキーだけでログインできます。",
                        "You have been invited to the union's staff console. Open the link below and register a passkey (face, fingerprint or PIN); from then on you sign in with the passkey alone.",
                    )
                    .into(),
                    match l {
                        Lang::Ja => format!("このリンクは{hours}時間有効で、一度だけ使えます。"),
                        Lang::En => format!("The link works once, for {hours} hours."),
                    },
                    l.pick(
                        "お心当たりがない場合は、このメールを破棄してください。",
                        "If you were not expecting this, ignore this mail.",
                    )
                    .into(),
                ],
                Some(link.clone()),
            ),
            MailKind::EmailChanged { new_address, requested } => (
                vec![
                    match l {
                        Lang::Ja => format!("ご登録のメールアドレスが {new_address} に変更されました。今後のお知らせは新しいアドレスに送られます。"),
                        Lang::En => format!("Your email address was changed to {new_address}. Future mail goes to the new address."),
                    },
                    requested.text(l),
                    l.pick(
                        "お心当たりがない場合は、すぐに組合までメールでご連絡ください。",
                        "If this was not you, write to the union at once.",
                    )
                    .into(),
                ],
                None,
            ),
        }
    }

    fn footer(&self, ctx: &MailContext) -> String {
        match self.lang {
            Lang::Ja => format!(
                "このメールは送信専用です。ご不明な点は {} までメールでお問い合わせください。\n{}",
                ctx.contact_email, ctx.service_name
            ),
            Lang::En => format!(
                "This address does not receive replies. Questions: write to {}.\n{}",
                ctx.contact_email, ctx.service_name
            ),
        }
    }

    /// The plain-text body (also what the embedded mode logs).
    pub fn text(&self, ctx: &MailContext) -> String {
        let (paragraphs, link) = self.body();
        let mut text = String::new();
        for p in &paragraphs {
            text.push_str(p);
            text.push_str("\n\n");
        }
        if let Some(link) = &link {
            text.push_str(link);
            text.push_str("\n\n");
        }
        text.push_str("--\n");
        text.push_str(&self.footer(ctx));
        text
    }

    pub fn build(&self, ctx: &MailContext) -> Result<Message, MailError> {
        let from: Mailbox = format!("{} <{}>", ctx.from_name, ctx.from_address)
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::Build(e.to_string()))?;
        let to: Mailbox = self
            .to
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::Build(e.to_string()))?;
        let (paragraphs, link) = self.body();
        let l = self.lang;
        let footer = self.footer(ctx);
        let text = self.text(ctx);
        let html = html! {
            html lang=(l.code()) {
                body style="font-family: sans-serif; line-height: 1.7; color: #1a1a1a;" {
                    @for p in &paragraphs { p { (p) } }
                    @if let Some(link) = &link {
                        p { a href=(link) { (l.pick("こちらを開く", "Open this link")) } }
                    }
                    hr;
                    @for line in footer.lines() { p style="color: #4a4a4a; font-size: 0.9em;" { (line) } }
                }
            }
        };
        Message::builder()
            .from(from)
            .to(to)
            .subject(self.subject(&ctx.service_name))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(html.into_string()),
                    ),
            )
            .map_err(|e| MailError::Build(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> MailContext {
        MailContext {
            from_name: "けんぽWeb".into(),
            from_address: "no-reply@example.jp".into(),
            service_name: "けんぽWeb".into(),
            contact_email: "help@example.jp".into(),
        }
    }

    #[test]
    fn otp_mail_has_the_subject_and_one_six_digit_number() {
        let mail = Mail {
            to: "taro@example.jp".into(),
            lang: Lang::Ja,
            kind: MailKind::Otp {
                code: "012345".into(),
                minutes: 10,
            },
        };
        assert_eq!(
            mail.subject("けんぽWeb"),
            "【けんぽWeb】ワンタイムパスワードのお知らせ"
        );
        let (paras, link) = mail.body();
        let text = paras.join("\n");
        let sixes: Vec<&str> = text
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| s.len() == 6)
            .collect();
        assert_eq!(sixes, vec!["012345"]);
        assert!(link.is_none());
        mail.build(&ctx()).unwrap();
    }

    #[test]
    fn bad_recipient_is_an_error_not_a_panic() {
        let mail = Mail {
            to: "not an address".into(),
            lang: Lang::Ja,
            kind: MailKind::PasswordChanged,
        };
        assert!(mail.build(&ctx()).is_err());
    }
}
