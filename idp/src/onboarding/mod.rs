//! First-login onboarding (SPEC steps 2–6): `birthdate`, `terms`, `email` / `email-sent`
//! (with the mailed verification link), `method` and `new-password`, plus the public terms of
//! use and privacy policy pages.
//!
//! Every step page enters through `signin::visit` and states the step it serves
//! (`Visit::owing`): the member must have an IdP session and owe exactly this step (the
//! decision is `signin::steps::next_step`, recomputed from durable state on every request),
//! otherwise they are sent to the step they owe. That is what makes back buttons, reloads,
//! stale tabs and double submissions harmless, and lets a member who stopped resume at the
//! same step from any device. After a step succeeds, the handler updates the loaded member and
//! answers with `Visit::advance`: the next step, or back to the relying party.

pub mod birthdate;
pub mod email;
pub mod email_sent;
pub mod method;
pub mod new_password;
pub mod terms;
pub mod texts;
pub mod verify_email;

use crate::pages::forms::{FieldSpec, hidden};
use crate::pages::i18n::Text;
use crate::signin::steps::Step;
use crate::signin::visit::Visit;
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::Response;

/// The page of a step that asks for one value: heading, the error if any, the lead and a form
/// with the field (birthdate, email).
pub(crate) struct OneField {
    pub step: Step,
    pub action: &'static str,
    pub title: Text,
    pub lead: Text,
    pub submit: Text,
    pub field: FieldSpec,
}

impl OneField {
    pub fn render(
        &self,
        state: &AppState,
        v: &Visit,
        value: &str,
        error: Option<&str>,
        status: StatusCode,
    ) -> Response {
        let ctx = &v.ctx;
        let field = self.field.field(ctx.lang, value, error);
        let body = maud::html! {
            h1 { (ctx.t(self.title)) }
            @if let Some(e) = field.error { (kenpo_shared::web::alert(e)) }
            p { (ctx.t(self.lead)) }
            form method="post" action=(self.action) novalidate {
                (hidden(&ctx.csrf, v.flow_id()))
                (field.render())
                button.primary type="submit" { (ctx.t(self.submit)) }
            }
        };
        v.render(state, status, self.step, ctx.t(self.title), vec![], body)
    }
}
