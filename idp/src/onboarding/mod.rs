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
