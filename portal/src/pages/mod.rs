//! The portal's pages: each file is one page (or a family of them) with its handler, which
//! parses the request, asks `notices` for the data and renders it through the shared layout
//! with this request's CSP nonce and language. Pages show personal data and are never cached.

pub mod benefits;
pub mod deduction;
pub mod eligibility;
pub mod home;
pub mod i18n;
pub mod medical;
pub mod parts;

use crate::auth::SignedIn;
use crate::error::{PageError, PageResultExt, no_store};
use crate::notices::household::{self, Asked, Person, Selection};
use crate::state::AppState;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use kenpo_shared::Lang;
use kenpo_shared::web::{CspNonce, FormActionOrigins, Page, negotiate_lang};
use maud::{Markup, html};
use serde::de::DeserializeOwned;

/// What a page needs from its request.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub lang: Lang,
    pub nonce: String,
    pub path_and_query: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let nonce = CspNonce::from_request_parts(parts, state).await?.0;
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |u| u.0.clone());
        Ok(Ctx {
            lang: negotiate_lang(parts),
            nonce,
            path_and_query: uri
                .path_and_query()
                .map_or_else(|| "/".into(), std::string::ToString::to_string),
        })
    }
}

/// What a page of a signed-in member's notices starts from: the state, the request's page
/// context and the member. Without a session it rejects as [`SignedIn`] does (to the sign-in).
pub struct MemberPage {
    pub state: AppState,
    pub ctx: Ctx,
    pub me: SignedIn,
}

impl FromRequestParts<AppState> for MemberPage {
    type Rejection = PageError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let Ok(ctx) = Ctx::from_request_parts(parts, state).await;
        let me = SignedIn::from_request_parts(parts, state).await?;
        Ok(MemberPage {
            state: state.clone(),
            ctx,
            me,
        })
    }
}

/// The query string as `T` (see [`query`]: anything malformed is "not found").
pub struct PageQuery<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequestParts<S> for PageQuery<T> {
    type Rejection = PageError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, PageError> {
        query(parts.uri.query(), negotiate_lang(parts)).map(PageQuery)
    }
}

/// What a page handler answers.
pub type PageResult = Result<Response, PageError>;

/// How a page is framed.
#[derive(Default)]
pub struct Frame<'a> {
    pub title: &'a str,
    /// `data-step` of `<main>`; portal pages use `portal-…` names.
    pub step: &'a str,
    /// The signed-in member: navigation, their name and the sign-out button.
    pub member: Option<&'a SignedIn>,
    pub scripts: Vec<&'a str>,
}

impl Ctx {
    pub fn t(&self, text: i18n::Text) -> &'static str {
        text.get(self.lang)
    }

    pub fn render(&self, state: &AppState, frame: Frame<'_>, body: Markup) -> Response {
        let l = self.lang;
        let service = match l {
            Lang::Ja => state.config.union.service_name.as_str(),
            Lang::En => state.config.union.service_name_en.as_str(),
        };
        let nav = match frame.member {
            Some(_) => vec![
                (self.t(i18n::HOME).to_string(), "/".to_string()),
                (self.t(i18n::MEDICAL).to_string(), "/medical".to_string()),
                (self.t(i18n::BENEFITS).to_string(), "/benefits".to_string()),
                (
                    self.t(i18n::ELIGIBILITY).to_string(),
                    "/eligibility".to_string(),
                ),
            ],
            None => Vec::new(),
        };
        let page = Page {
            lang: l,
            title: frame.title,
            service_name: service,
            nonce: &self.nonce,
            step: Some(frame.step),
            progress: None,
            nav,
            lang_switch: Some(kenpo_shared::web::lang_switch_href(&self.path_and_query, l)),
            scripts: frame.scripts,
        };
        let body = html! {
            @if let Some(me) = frame.member {
                (parts::member_bar(self, state, me))
            }
            (body)
        };
        let mut res = (StatusCode::OK, page.render(body)).into_response();
        no_store(&mut res);
        // The sign-out form's POST ends in a redirect to the IdP, which CSP `form-action`
        // governs too: pages with that form allow the IdP's origin.
        if frame.member.is_some() || frame.step == "portal-logout" {
            res.extensions_mut()
                .insert(FormActionOrigins(vec![state.config.issuer_origin()]));
        }
        res
    }
}

/// Parses a query string; anything malformed is "not found", like an unknown page.
pub fn query<T: DeserializeOwned + Default>(raw: Option<&str>, lang: Lang) -> Result<T, PageError> {
    match raw {
        None | Some("") => Ok(T::default()),
        Some(q) => serde_urlencoded::from_str(q).map_err(|_| PageError::NotFound(lang)),
    }
}

/// The signed-in member's household and the person (or whole household) the query asks for.
/// Someone outside the household is "not found", as an unknown page would be.
pub async fn household_of(
    page: &MemberPage,
    asked: &Asked,
) -> Result<(Vec<Person>, Selection), PageError> {
    let (lang, key) = (page.ctx.lang, &page.me.key);
    let persons = household::persons(&page.state.db, key).await.page(lang)?;
    let sel = household::select(key, asked, &persons).map_err(|_| PageError::NotFound(lang))?;
    Ok((persons, sel))
}

/// A `year` parameter: absent, or a plausible year.
pub fn parse_year(value: Option<&str>, lang: Lang) -> Result<Option<i32>, PageError> {
    match value.map(kenpo_shared::normalize).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => match v.parse::<i32>() {
            Ok(y) if (1990..=2999).contains(&y) => Ok(Some(y)),
            _ => Err(PageError::NotFound(lang)),
        },
    }
}
