//! The sign-in sequence: after the password, the steps a member still owes, decided from
//! durable facts (the member's onboarding state and enrolled factors) and the session. Because
//! the decision is recomputed on every request, a member resumes at the right step from any
//! device, and whatever URL they open, a pending step is what they get.
//!
//! Order for a first login (SPEC steps 1–8): birthdate → terms → email (→ sent) → method →
//! new password → enrol → done. For a returning member: second factor → new terms (if the
//! version changed) → done. After a staff factor reset: method → enrol. After a staff
//! password reset: birthdate → second factor → new password.

use crate::mfa::{Factor, Factors};
use crate::oidc::request::{AuthRequest, Prompt};
use crate::signin::session::IdpSession;
use crate::store::members::Member;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Login,
    Birthdate,
    Terms,
    Email,
    EmailSent,
    Method,
    NewPassword,
    Enroll(Factor),
    Mfa(Factor),
    Done,
}

impl Step {
    /// The page of this step (`data-step` names of the SPEC).
    pub fn path(self) -> &'static str {
        match self {
            Step::Login => "/login",
            Step::Birthdate => "/signin/birthdate",
            Step::Terms => "/signin/terms",
            Step::Email => "/signin/email",
            Step::EmailSent => "/signin/email-sent",
            Step::Method => "/signin/method",
            Step::NewPassword => "/signin/new-password",
            Step::Enroll(Factor::Passkey) => "/signin/enroll-passkey",
            Step::Enroll(Factor::Totp) => "/signin/enroll-totp",
            Step::Enroll(Factor::Email) => "/signin/enroll-email",
            Step::Mfa(Factor::Passkey) => "/signin/mfa-passkey",
            Step::Mfa(Factor::Totp) => "/signin/mfa-totp",
            Step::Mfa(Factor::Email) => "/signin/mfa-email",
            Step::Done => "/signin/done",
        }
    }

    /// The `data-step` name of the step's page (SPEC contract).
    pub fn name(self) -> &'static str {
        match self {
            Step::Login => "login",
            Step::Birthdate => "birthdate",
            Step::Terms => "terms",
            Step::Email => "email",
            Step::EmailSent => "email-sent",
            Step::Method => "method",
            Step::NewPassword => "new-password",
            Step::Enroll(Factor::Passkey) => "enroll-passkey",
            Step::Enroll(Factor::Totp) => "enroll-totp",
            Step::Enroll(Factor::Email) => "enroll-email",
            Step::Mfa(Factor::Passkey) => "mfa-passkey",
            Step::Mfa(Factor::Totp) => "mfa-totp",
            Step::Mfa(Factor::Email) => "mfa-email",
            Step::Done => "done",
        }
    }

    /// Position in the first-login journey, shown as "ステップ n / 7".
    pub fn onboarding_progress(self) -> Option<(u8, u8)> {
        let n = match self {
            Step::Login => 1,
            Step::Birthdate => 2,
            Step::Terms => 3,
            Step::Email | Step::EmailSent => 4,
            Step::Method => 5,
            Step::NewPassword => 6,
            Step::Enroll(_) => 7,
            _ => return None,
        };
        Some((n, 7))
    }
}

/// Everything the decision needs, gathered by the caller.
pub struct Facts<'a> {
    pub member: &'a Member,
    pub session: &'a IdpSession,
    pub factors: &'a Factors,
    pub flow: Option<&'a AuthRequest>,
    pub terms_version: &'a str,
    /// A verification mail for the member's address is out and not yet opened.
    pub email_pending: bool,
    pub now: i64,
}

/// Whether the relying party's request needs a fresh primary sign-in.
pub fn login_needed(
    session: &IdpSession,
    member: &Member,
    flow: Option<&AuthRequest>,
    now: i64,
) -> bool {
    let Some(f) = flow else { return false };
    // Only a sign-in made for this very request satisfies prompt=login and max_age=0 (however
    // long the member then took over the second factor): the session names the flow it was
    // made for. Comparing times cannot tell a sign-in in the same second from an older one.
    let fresh = session.auth_flow.as_deref() == Some(f.id.as_str());
    // select_account: one account per browser here, so the member confirms (or changes) it at
    // the login page, like prompt=login.
    if (f.has_prompt(Prompt::Login) || f.has_prompt(Prompt::SelectAccount)) && !fresh {
        return true;
    }
    // max_age=0 is prompt=login (OIDC Core 3.1.2.1); otherwise the last sign-in may be that
    // many seconds old.
    if f.max_age
        .is_some_and(|max_age| !fresh && (max_age == 0 || now - session.auth_time > max_age))
    {
        return true;
    }
    f.hint_subject
        .as_ref()
        .is_some_and(|s| *s != member.subject)
}

pub fn next_step(f: &Facts<'_>) -> Step {
    let m = f.member;
    let s = f.session;
    if login_needed(s, m, f.flow, f.now) {
        return Step::Login;
    }
    let initial = m.uses_initial_password();
    if initial
        && m.birthdate_confirmed_at
            .is_none_or(|at| Some(at) < m.initial_password_since)
    {
        return Step::Birthdate;
    }
    let enrolled = f.factors.any();
    // The relying party asked for urn:kenpo:loa:2 (acr_values or an essential acr claim), or
    // the password was reset by mail since the last sign-in and the member has a factor the
    // mailbox does not give (their strongest is required once).
    let wants_aal2 = f.flow.is_some_and(AuthRequest::wants_mfa)
        || (m.strong_factor_due.is_some() && f.factors.strong(m).is_some());
    if enrolled && !s.has_mfa() {
        let strong = f.factors.strong(m).filter(|_| wants_aal2);
        return Step::Mfa(strong.unwrap_or_else(|| f.factors.preferred(m)));
    }
    if m.terms_version.as_deref() != Some(f.terms_version) {
        return Step::Terms;
    }
    if !m.email_verified || m.email.is_none() {
        return if f.email_pending {
            Step::EmailSent
        } else {
            Step::Email
        };
    }
    let chosen = m.chosen_factor.as_deref().and_then(Factor::parse);
    if !enrolled && chosen.is_none() {
        return Step::Method;
    }
    if initial {
        return Step::NewPassword;
    }
    if let (false, Some(c)) = (enrolled, chosen) {
        return Step::Enroll(c);
    }
    if wants_aal2 && !s.has_aal2() {
        // A member with only emailed codes sets up an app or a passkey first (the method page
        // then offers only those); one who has one confirms it.
        return match (f.factors.strong(m), chosen) {
            (Some(strong), _) => Step::Mfa(strong),
            (None, Some(c)) if c.is_aal2() => Step::Enroll(c),
            (None, _) => Step::Method,
        };
    }
    Step::Done
}

#[cfg(test)]
pub(crate) mod tests_support {
    use crate::store::members::Member;

    /// A freshly imported member (initial password, nothing confirmed).
    pub(crate) fn member() -> Member {
        Member {
            id: "m1".into(),
            user_id: "taro".into(),
            user_id_key: "taro".into(),
            subject: "sub1".into(),
            symbol: "12".into(),
            number: "3456789".into(),
            birthdate: "1980-12-01".into(),
            name: "山田太郎".into(),
            name_kana: "ヤマダタロウ".into(),
            email: Some("taro@example.jp".into()),
            initial_password_since: Some(100),
            created_at: 100,
            updated_at: 100,
            ..Member::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::member;
    use super::*;

    /// The member's factors: passkeys, authenticator app, email codes.
    fn factors(passkeys: usize, totp: bool, email: bool) -> Factors {
        Factors {
            passkeys,
            totp,
            email,
        }
    }

    fn session() -> IdpSession {
        IdpSession {
            sid: "sid".into(),
            member_id: "m1".into(),
            created_at: 200,
            auth_time: 200,
            amr: vec!["pwd".into()],
            mfa_time: None,
            remember: false,
            expires_at: 10_000,
            last_seen: 200,
            user_agent: String::new(),
            ip: String::new(),
            clients: vec![],
            auth_flow: None,
            aal2_time: None,
            lapsed_at: None,
            browser: None,
        }
    }

    fn step(m: &Member, s: &IdpSession, factors: &Factors, pending: bool) -> Step {
        next_step(&Facts {
            member: m,
            session: s,
            factors,
            flow: None,
            terms_version: "v2",
            email_pending: pending,
            now: 300,
        })
    }

    #[test]
    fn first_login_walks_the_spec_order() {
        let mut m = member();
        let s = session();
        let none = Factors::default();
        assert_eq!(step(&m, &s, &none, false), Step::Birthdate);
        m.birthdate_confirmed_at = Some(210);
        assert_eq!(step(&m, &s, &none, false), Step::Terms);
        m.terms_version = Some("v2".into());
        assert_eq!(step(&m, &s, &none, false), Step::Email);
        assert_eq!(step(&m, &s, &none, true), Step::EmailSent);
        m.email_verified = true;
        assert_eq!(step(&m, &s, &none, false), Step::Method);
        m.chosen_factor = Some("totp".into());
        assert_eq!(step(&m, &s, &none, false), Step::NewPassword);
        m.password_hash = Some("$argon2id$…".into());
        m.initial_password_since = None;
        assert_eq!(step(&m, &s, &none, false), Step::Enroll(Factor::Totp));
        let mut s2 = s.clone();
        s2.mfa_time = Some(250);
        let totp = factors(0, true, false);
        assert_eq!(step(&m, &s2, &totp, false), Step::Done);
    }

    #[test]
    fn returning_member_needs_the_second_factor_first() {
        let mut m = onboarded();
        m.terms_version = Some("v1".into());
        m.preferred_factor = Some("email".into());
        let f = factors(1, false, true);
        let mut s = session();
        assert_eq!(step(&m, &s, &f, false), Step::Mfa(Factor::Email));
        s.mfa_time = Some(260);
        assert_eq!(
            step(&m, &s, &f, false),
            Step::Terms,
            "a new terms version asks again"
        );
        m.terms_version = Some("v2".into());
        assert_eq!(step(&m, &s, &f, false), Step::Done);
    }

    fn onboarded() -> Member {
        let mut m = member();
        m.password_hash = Some("h".into());
        m.initial_password_since = None;
        m.birthdate_confirmed_at = Some(1);
        m.terms_version = Some("v2".into());
        m.email_verified = true;
        m
    }

    fn flow() -> AuthRequest {
        AuthRequest {
            id: "f".into(),
            client_id: "c".into(),
            redirect_uri: "https://rp/cb".into(),
            scopes: vec!["openid".into()],
            state: None,
            nonce: None,
            code_challenge: None,
            prompt: vec![],
            max_age: None,
            acr_values: vec![],
            claims: None,
            ui_locales: None,
            login_hint: None,
            hint_subject: None,
            created_at: 250,
            dpop_jkt: None,
        }
    }

    fn aal2_flow() -> AuthRequest {
        AuthRequest {
            acr_values: vec![crate::oidc::request::ACR_MFA.into()],
            ..flow()
        }
    }

    fn step_for(m: &Member, s: &IdpSession, factors: &Factors, flow: &AuthRequest) -> Step {
        next_step(&Facts {
            member: m,
            session: s,
            factors,
            flow: Some(flow),
            terms_version: "v2",
            email_pending: false,
            now: 300,
        })
    }

    #[test]
    fn loa2_makes_an_email_only_member_set_up_a_stronger_factor() {
        let mut m = onboarded();
        m.chosen_factor = Some("email".into());
        let email = factors(0, false, true);
        let flow = aal2_flow();
        let mut s = session();
        // The emailed code first (it is what they have), then a stronger factor.
        assert_eq!(step_for(&m, &s, &email, &flow), Step::Mfa(Factor::Email));
        s.mfa_time = Some(260);
        assert_eq!(
            step(&m, &s, &email, false),
            Step::Done,
            "loa:1 is enough without the request"
        );
        assert_eq!(step_for(&m, &s, &email, &flow), Step::Method);
        m.chosen_factor = Some("totp".into());
        assert_eq!(step_for(&m, &s, &email, &flow), Step::Enroll(Factor::Totp));
        let both = Factors {
            totp: true,
            ..email
        };
        s.aal2_time = Some(270);
        assert_eq!(step_for(&m, &s, &both, &flow), Step::Done);
    }

    #[test]
    fn loa2_asks_the_strong_factor_of_a_member_who_has_one() {
        let mut m = onboarded();
        m.preferred_factor = Some("email".into());
        let f = factors(0, true, true);
        let flow = aal2_flow();
        let mut s = session();
        assert_eq!(
            step(&m, &s, &f, false),
            Step::Mfa(Factor::Email),
            "preferred without loa:2"
        );
        assert_eq!(step_for(&m, &s, &f, &flow), Step::Mfa(Factor::Totp));
        // An emailed code done earlier in the session does not make loa:2.
        s.mfa_time = Some(260);
        assert_eq!(step_for(&m, &s, &f, &flow), Step::Mfa(Factor::Totp));
        s.aal2_time = Some(280);
        assert_eq!(step_for(&m, &s, &f, &flow), Step::Done);
    }

    #[test]
    fn stale_second_factors_stop_counting() {
        let mut s = session();
        s.mfa_time = Some(1_000);
        s.aal2_time = Some(1_000);
        let mut fresh = s.clone();
        fresh.forget_stale_factors(1_000 + 43_199, 43_200);
        assert!(fresh.has_mfa() && fresh.has_aal2());
        let mut old = s.clone();
        old.forget_stale_factors(1_000 + 43_200, 43_200);
        assert!(!old.has_mfa() && !old.has_aal2(), "12 hours of use");
        let mut lapsed = s.clone();
        lapsed.lapsed_at = Some(1_500);
        lapsed.forget_stale_factors(1_600, 43_200);
        assert!(!lapsed.has_mfa(), "completed before the idle lapse");
        lapsed.mfa_time = Some(1_550);
        lapsed.forget_stale_factors(1_600, 43_200);
        assert!(lapsed.has_mfa(), "completed again after it");
    }

    #[test]
    fn staff_resets() {
        let mut m = onboarded();
        let s = session();
        // Factor reset: choose and enrol again.
        assert_eq!(step(&m, &s, &Factors::default(), false), Step::Method);
        // Password reset with a factor kept: birthdate, factor, new password.
        m.password_hash = None;
        m.initial_password_since = Some(150);
        let f = factors(0, true, false);
        assert_eq!(
            step(&m, &s, &f, false),
            Step::Birthdate,
            "confirmed before the reset"
        );
        m.birthdate_confirmed_at = Some(220);
        assert_eq!(step(&m, &s, &f, false), Step::Mfa(Factor::Totp));
        let mut s2 = s.clone();
        s2.mfa_time = Some(230);
        assert_eq!(step(&m, &s2, &f, false), Step::NewPassword);
    }

    #[test]
    fn prompt_login_and_max_age_ask_for_the_password_again() {
        let m = member();
        let s = session();
        let mut flow = AuthRequest {
            prompt: vec![Prompt::Login],
            ..flow()
        };
        assert!(login_needed(&s, &m, Some(&flow), 300));
        // A sign-in in the very second the request was made is not one made for it.
        let mut same_second = s.clone();
        same_second.auth_time = flow.created_at;
        assert!(login_needed(&same_second, &m, Some(&flow), flow.created_at));
        flow.max_age = Some(0);
        flow.prompt.clear();
        assert!(login_needed(&same_second, &m, Some(&flow), flow.created_at));
        // The sign-in made for this flow satisfies both, however long the second factor took.
        let mut fresh = s.clone();
        fresh.auth_flow = Some("f".into());
        assert!(!login_needed(&fresh, &m, Some(&flow), 5_000));
        flow.prompt = vec![Prompt::Login];
        assert!(!login_needed(&fresh, &m, Some(&flow), 5_000));
        let mut other_flow = fresh.clone();
        other_flow.auth_flow = Some("g".into());
        assert!(login_needed(&other_flow, &m, Some(&flow), 300));
        flow.prompt.clear();
        flow.max_age = None;
        assert!(!login_needed(&s, &m, Some(&flow), 300));
        flow.max_age = Some(50);
        assert!(login_needed(&s, &m, Some(&flow), 300));
        flow.max_age = Some(150);
        assert!(!login_needed(&s, &m, Some(&flow), 300));
        flow.hint_subject = Some("someone else".into());
        assert!(login_needed(&s, &m, Some(&flow), 300));
        flow.hint_subject = Some(m.subject.clone());
        assert!(!login_needed(&s, &m, Some(&flow), 300));
    }
}
