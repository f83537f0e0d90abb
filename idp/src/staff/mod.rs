//! The staff console under `/staff` (issue 11): union staff help members, import them, print
//! invitation letters and, as administrators, manage relying parties, signing keys and staff.
//!
//! Staff are not members: their accounts, passkeys and sessions live apart (`store::staff`,
//! `staff::session`, a cookie of their own), so a member's session never opens a staff page and
//! a staff session is never a member's. Every handler takes a [`StaffUser`] of the role it
//! needs (the extractor rejects with a `PageError`), forms go through [`CsrfForm`], and member
//! actions go through `actions`, the same functions the command line calls.

pub mod accounts;
pub mod actions;
pub mod audit;
pub mod clients;
pub mod enroll;
pub mod import;
pub mod keys;
pub mod layout;
pub mod letters;
pub mod login;
pub mod member;
pub mod members;
pub mod oidc;
pub mod passkey;
pub mod session;
pub mod staff_page;

use crate::error::PageError;
use crate::pages::Ctx;
use crate::pages::i18n::Text;
use crate::security::csrf::CsrfToken;
use crate::state::AppState;
use crate::store::staff::StaffRow;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use kenpo_shared::web::negotiate_lang;

/// What a staff account may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Search and view members, their audit trail and import history.
    Viewer,
    /// + unlock, reset factors and passwords, letters, email changes, disable / enable, imports.
    Operator,
    /// + staff accounts, relying parties, signing keys.
    Administrator,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Administrator];

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "administrator" => Some(Role::Administrator),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Administrator => "administrator",
        }
    }

    pub fn label(self) -> crate::pages::i18n::Text {
        match self {
            Role::Viewer => Text("閲覧担当", "Viewer"),
            Role::Operator => Text("運用担当", "Operator"),
            Role::Administrator => Text("管理者", "Administrator"),
        }
    }
}

/// A signed-in, enabled staff member, read afresh on every request (a role change or a
/// disabled account takes effect at once).
#[derive(Debug, Clone)]
pub struct StaffUser {
    pub account: StaffRow,
    pub role: Role,
    pub session: session::Current,
}

impl StaffUser {
    pub fn may(&self, role: Role) -> bool {
        self.role >= role
    }

    /// The audit reference of an action by this staff member.
    pub fn by(&self, reason: &str) -> crate::store::audit::StaffRef {
        crate::store::audit::StaffRef {
            staff_id: Some(self.account.id.clone()),
            reason: reason.to_string(),
        }
    }
}

/// A console page's request: "a signed-in staff member with role ≥ R" (R = 0 viewer,
/// 1 operator, 2 administrator), with the state and page context every console handler needs.
/// Without a staff session: to the staff sign-in page, then back. With a lower role: 403.
pub struct StaffPage<const R: u8> {
    pub state: AppState,
    pub ctx: Ctx,
    pub me: StaffUser,
}

pub type Viewer = StaffPage<0>;
pub type Operator = StaffPage<1>;
pub type Administrator = StaffPage<2>;

impl<const R: u8> FromRequestParts<AppState> for StaffPage<R> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let lang = negotiate_lang(parts);
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map(|u| u.0.clone())
            .unwrap_or_else(|| parts.uri.clone());
        let back = path
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/staff");
        let now = state.now();
        let Some(user) = session::signed_in(state, &parts.headers, now).await? else {
            let next = if parts.method == axum::http::Method::GET {
                back
            } else {
                "/staff"
            };
            let q = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
            return Err(PageError::Redirect(format!("/staff/login?{q}")));
        };
        let want = Role::ALL[usize::from(R).min(2)];
        if !user.may(want) {
            tracing::info!(staff = %crate::mail::masked(&user.account.email), role = user.role.as_str(), path = back, "staff page refused: role too low");
            return Err(PageError::NotAllowed(lang));
        }
        let Ok(ctx) = Ctx::from_request_parts(parts, state).await;
        Ok(StaffPage {
            state: state.clone(),
            ctx,
            me: user,
        })
    }
}

pub use crate::pages::forms::CsrfForm;

/// The CSRF check of a form whose body is not URL-encoded (the import upload).
pub fn check_csrf(
    token: &CsrfToken,
    submitted: &str,
    lang: kenpo_shared::Lang,
) -> Result<(), PageError> {
    if token.verify(submitted) {
        Ok(())
    } else {
        Err(PageError::Forbidden(lang))
    }
}
