//! Form building blocks. Every input has a visible label tied by `for`/`id`, an optional hint
//! and error tied by `aria-describedby`, and `aria-invalid` when it failed; the error summary
//! is a `role="alert"` region so screen readers announce it.

use crate::error::PageError;
use crate::pages::i18n;
use crate::security::csrf::CsrfToken;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use kenpo_shared::web::negotiate_lang;
use maud::{Markup, html};
use serde::de::DeserializeOwned;

/// A form of ours, parsed into `T` once its `csrf` field matched this browser's cookie. A
/// forged or stale form is refused (403) before the handler runs; a body that does not parse
/// is a plain page error in the member's language (never axum's English plain-text rejection).
pub struct CsrfForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for CsrfForm<T> {
    type Rejection = PageError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (_, value) = checked_form(req, state).await?;
        Ok(CsrfForm(value))
    }
}

/// The form pairs and `T` of a request whose CSRF token checks out.
pub async fn checked_form<S: Send + Sync, T: DeserializeOwned>(
    req: Request,
    state: &S,
) -> Result<(Vec<(String, String)>, T), PageError> {
    let (parts, body) = req.into_parts();
    let lang = negotiate_lang(&parts);
    let token = parts.extensions.get::<CsrfToken>().cloned();
    let form_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let bad = || PageError::BadRequest(lang, i18n::BAD_REQUEST);
    if !form_type {
        return Err(bad());
    }
    let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
        .await
        .map_err(|_| bad())?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|_| bad())?;
    let submitted = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map_or("", |(_, v)| v.as_str());
    if !token.is_some_and(|t| t.verify(submitted)) {
        return Err(PageError::Forbidden(lang));
    }
    let value = serde_urlencoded::from_bytes(&bytes).map_err(|_| bad())?;
    Ok((pairs, value))
}

/// The value of a form or query field.
pub fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub fn csrf(token: &CsrfToken) -> Markup {
    html! { input type="hidden" name="csrf" value=(token.value()); }
}

/// The hidden fields of a sign-in form: the CSRF token and the flow.
pub fn hidden(token: &CsrfToken, flow_id: Option<&str>) -> Markup {
    html! { (csrf(token)) (flow(flow_id)) }
}

pub fn flow(flow: Option<&str>) -> Markup {
    html! { @if let Some(f) = flow { input type="hidden" name="flow" value=(f); } }
}

/// One labelled input.
pub struct Field<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub kind: &'a str,
    pub value: &'a str,
    pub hint: Option<&'a str>,
    pub error: Option<&'a str>,
    pub autocomplete: &'a str,
    pub inputmode: Option<&'a str>,
    pub required: bool,
    pub autofocus: bool,
    pub class: Option<&'a str>,
    pub maxlength: Option<usize>,
}

/// The one fixed field of a page (birthdate, email, user ID), described once as a constant;
/// the value and the error are the request's ([`FieldSpec::field`]).
#[derive(Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub label: i18n::Text,
    pub hint: Option<i18n::Text>,
    pub kind: &'static str,
    pub autocomplete: &'static str,
    pub inputmode: Option<&'static str>,
    pub autofocus: bool,
    pub maxlength: usize,
}

impl FieldSpec {
    /// A required text input with no hint, no autocomplete and no autofocus.
    pub const fn text(name: &'static str, label: i18n::Text) -> Self {
        FieldSpec {
            name,
            label,
            hint: None,
            kind: "text",
            autocomplete: "off",
            inputmode: None,
            autofocus: false,
            maxlength: 256,
        }
    }

    /// An email address input (mobile keyboards show @).
    pub const fn email(name: &'static str, label: i18n::Text) -> Self {
        FieldSpec {
            kind: "email",
            autocomplete: "email",
            inputmode: Some("email"),
            maxlength: 254,
            ..FieldSpec::text(name, label)
        }
    }

    pub fn field<'a>(
        &self,
        lang: kenpo_shared::Lang,
        value: &'a str,
        error: Option<&'a str>,
    ) -> Field<'a> {
        Field {
            kind: self.kind,
            autocomplete: self.autocomplete,
            inputmode: self.inputmode,
            value,
            hint: self.hint.map(|h| h.get(lang)),
            error,
            autofocus: self.autofocus,
            maxlength: Some(self.maxlength),
            ..Field::new(self.name, self.label.get(lang))
        }
    }
}

impl<'a> Field<'a> {
    pub fn new(name: &'a str, label: &'a str) -> Self {
        Field {
            name,
            label,
            kind: "text",
            value: "",
            hint: None,
            error: None,
            autocomplete: "off",
            inputmode: None,
            required: true,
            autofocus: false,
            class: None,
            maxlength: Some(256),
        }
    }

    pub fn render(&self) -> Markup {
        let id = format!("f-{}", self.name);
        let hint_id = format!("{id}-hint");
        let err_id = format!("{id}-error");
        let mut described = Vec::new();
        if self.hint.is_some() {
            described.push(hint_id.clone());
        }
        if self.error.is_some() {
            described.push(err_id.clone());
        }
        let described = (!described.is_empty()).then(|| described.join(" "));
        html! {
            div.field {
                label for=(id) { (self.label) }
                @if let Some(h) = self.hint { span.hint id=(hint_id) { (h) } }
                @if let Some(e) = self.error { span.field-error id=(err_id) { (e) } }
                input id=(id) name=(self.name) type=(self.kind) value=(self.value)
                    autocomplete=(self.autocomplete)
                    inputmode=[self.inputmode]
                    class=[self.class]
                    maxlength=[self.maxlength]
                    aria-describedby=[described]
                    aria-invalid=[self.error.map(|_| "true")]
                    required[self.required]
                    autofocus[self.autofocus];
            }
        }
    }
}
