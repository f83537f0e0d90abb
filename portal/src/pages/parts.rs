//! Pieces several pages share: the member bar with sign-out, the person and year choosers,
//! amounts, and the explanations members need next to their figures.

use super::Ctx;
use super::i18n::{self, Text};
use crate::auth::SignedIn;
use crate::notices::Person;
use crate::notices::money::yen;
use crate::state::AppState;
pub use crate::texts::pages::parts::*;
use maud::{Markup, html};

/// The signed-in member's name and the sign-out button (hidden when printing).
pub fn member_bar(ctx: &Ctx, state: &AppState, me: &SignedIn) -> Markup {
    html! {
        div.member-bar.no-print {
            span {
                span.visually-hidden { (ctx.t(SIGNED_IN_AS)) " " }
                @if me.session.name.is_empty() {
                    (ctx.t(SIGNED_IN_AS))
                } @else {
                    (me.session.name) " " (ctx.t(HELLO))
                }
            }
            a href=(state.config.account_url()) { (ctx.t(i18n::ACCOUNT)) }
            form method="post" action="/auth/logout" {
                input type="hidden" name="csrf" value=(me.session.csrf);
                button.link type="submit" { (ctx.t(i18n::SIGN_OUT)) }
            }
        }
    }
}

/// Name of a person with their relation: `健保 一郎（家族・01）`.
pub fn person_label(ctx: &Ctx, p: &Person) -> String {
    let relation = if p.is_insured() {
        ctx.t(i18n::INSURED)
    } else {
        ctx.t(i18n::DEPENDANT)
    };
    match ctx.lang {
        kenpo_shared::Lang::Ja => format!("{}（{}・{}）", p.name, relation, p.branch),
        kenpo_shared::Lang::En => format!("{} ({}, {})", p.name, relation, p.branch),
    }
}

/// A GET form choosing the person (and the year, when `years` is not empty).
pub fn chooser(
    ctx: &Ctx,
    action: &str,
    persons: &[Person],
    branch: Option<&str>,
    years: &[i32],
    year: Option<i32>,
) -> Markup {
    html! {
        form.chooser.no-print method="get" action=(action) {
            @if !years.is_empty() {
                div.field {
                    label for="year" { (ctx.t(i18n::YEAR)) }
                    select id="year" name="year" {
                        @for y in years {
                            option value=(y) selected[Some(*y) == year] { (i18n::year_label(*y, ctx.lang)) }
                        }
                    }
                }
            }
            @if persons.len() > 1 {
                div.field {
                    label for="branch" { (ctx.t(i18n::PERSON)) }
                    select id="branch" name="branch" {
                        option value="" selected[branch.is_none()] { (ctx.t(i18n::EVERYONE)) }
                        @for p in persons {
                            option value=(p.branch) selected[branch == Some(p.branch.as_str())] { (person_label(ctx, p)) }
                        }
                    }
                }
            }
            @if !years.is_empty() || persons.len() > 1 {
                button.secondary type="submit" { (ctx.t(i18n::SHOW)) }
            }
        }
    }
}

/// A figure with its label, for summaries.
pub fn figure(label: &str, amount: i64, ctx: &Ctx) -> Markup {
    html! {
        div.figure {
            span.figure-label { (label) }
            span.figure-value { (yen(amount, ctx.lang)) }
        }
    }
}

/// What every medical-cost page must explain next to its figures.
pub fn medical_explanation(ctx: &Ctx) -> Markup {
    html! {
        details.explain {
            summary { (ctx.lang.pick("このお知らせについて", "About these figures")) }
            ul {
                li { (ctx.t(TIMING)) }
                li { (ctx.t(ROUNDING)) }
                li { (ctx.t(MISSING)) }
            }
        }
    }
}

/// An empty state that says why and what to expect.
pub fn empty(ctx: &Ctx, text: Text) -> Markup {
    html! { p.empty { (ctx.t(text)) } }
}

/// A print button: shown only when the page script runs (it calls `window.print()`).
pub fn print_button(ctx: &Ctx) -> Markup {
    html! {
        button.secondary.no-print type="button" data-action="print" hidden { (ctx.t(i18n::PRINT)) }
    }
}

/// Where to write with questions about the notices (the union answers by email).
pub fn contact(ctx: &Ctx, state: &AppState) -> Markup {
    let email = &state.config.union.contact_email;
    html! {
        p.small.contact {
            (ctx.lang.pick("お知らせの内容についてのお問い合わせ：", "Questions about your notices: "))
            a href={"mailto:" (email)} { (email) }
        }
    }
}
