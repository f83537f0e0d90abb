//! `/`: for a signed-in member, the digest (new since the last visit, this year's medical
//! total, the newest notices); otherwise a welcome page with the sign-in button, and "you are
//! signed out" when the IdP has just sent the member back from signing out.

use super::i18n::{self};
use super::parts::{contact, figure};
use super::{Ctx, Frame};
use crate::auth::{SignedIn, logout::signed_out_key};
use crate::error::{PageError, PageResultExt};
use crate::notices::home::{Digest, digest};
use crate::notices::money::yen;
use crate::notices::{JST, date_label};
use crate::state::AppState;
pub use crate::texts::pages::home::*;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct HomeQuery {
    state: Option<String>,
}

pub async fn get(
    State(state): State<AppState>,
    ctx: Ctx,
    me: Option<SignedIn>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let Some(me) = me else {
        let q: HomeQuery = super::query(raw.as_deref(), ctx.lang).unwrap_or_default();
        let signed_out = match q.state.filter(|s| !s.is_empty()) {
            Some(s) => state
                .eph
                .take(&signed_out_key(&s))
                .await
                .page(ctx.lang)?
                .is_some(),
            None => false,
        };
        return Ok(welcome(&state, &ctx, signed_out));
    };
    let d = digest(&state.db, &me.key, me.session.previous_visit, state.today())
        .await
        .page(ctx.lang)?;
    let body = html! {
            h1 { (ctx.t(HOME_TITLE)) }
            (news(&ctx, &d))
            @if let Some(year) = d.deduction_year {
                div.notice role="status" {
                    (ctx.t(DEDUCTION_SEASON)) " "
    a href={"/medical/deduction?year=" (year)} { (i18n::with_year(ctx.t(i18n::DEDUCTION_TITLE), year, ctx.lang)) }
                }
            }
            section.card aria-labelledby="this-year" {
    h2 id="this-year" { (i18n::with_year(ctx.t(THIS_YEAR), d.this_year, ctx.lang)) }
                @if d.this_year_totals.rows == 0 {
                    p { (ctx.t(THIS_YEAR_EMPTY)) }
                } @else {
                    div.figures {
                        (figure(ctx.t(TOTAL_COST), d.this_year_totals.total_cost, &ctx))
                        (figure(ctx.t(OWN_SHARE), d.this_year_totals.own_share, &ctx))
                    }
                }
                p { a href={"/medical?year=" (d.this_year)} { (ctx.t(i18n::MEDICAL_TITLE)) } }
            }
            section aria-labelledby="latest" {
                h2 id="latest" { (ctx.t(LATEST)) }
                ul.tiles {
                    li.card {
                        h3 { (ctx.t(LATEST_MEDICAL)) }
                        @match &d.latest_month {
                            Some((m, t)) => {
    p { (m.label(ctx.lang)) (ctx.lang.pick("診療分", "")) }
                                p { (ctx.t(OWN_SHARE)) " " strong { (yen(t.own_share, ctx.lang)) } }
                                a href={"/medical?year=" (m.year())} { (ctx.t(SEE)) }
                            }
                            None => p { (ctx.t(NO_MEDICAL)) }
                        }
                    }
                    li.card {
                        h3 { (ctx.t(LATEST_BENEFIT)) }
                        @match &d.latest_payment {
                            Some(pay) => {
                                p { (pay.kind.label(ctx.lang)) " " strong { (yen(pay.amount, ctx.lang)) } (aside(&ctx, &date_label(&pay.payment_date, ctx.lang))) }
                                a href="/benefits" { (ctx.t(SEE)) }
                            }
                            None => p { (ctx.t(NO_BENEFITS)) }
                        }
                    }
                    li.card {
                        h3 { (ctx.t(CARDS)) }
                        p { (d.cards) (ctx.lang.pick("人分", if d.cards == 1 { " person" } else { " people" })) }
                        a href="/eligibility" { (ctx.t(SEE)) }
                    }
                }
            }
            (contact(&ctx, &state))
        };
    Ok(ctx.render(
        &state,
        Frame {
            title: ctx.t(HOME_TITLE),
            step: "portal-home",
            member: Some(&me),
            ..Frame::default()
        },
        body,
    ))
}

fn news(ctx: &Ctx, d: &Digest) -> Markup {
    let nothing = d.new_medical.is_empty() && d.new_payments.is_empty() && !d.eligibility_updated;
    html! {
            section.card.news aria-labelledby="news" {
                h2 id="news" { (ctx.t(NEW_TITLE)) }
                @if let Some(at) = d.previous_visit {
                    p.small.muted { (ctx.t(LAST_VISIT)) ": " (visit_label(at, ctx)) }
                }
                @if d.previous_visit.is_none() {
                    p { (ctx.t(FIRST_VISIT)) }
                } @else if nothing {
                    p { (ctx.t(NOTHING_NEW)) }
                } @else {
                    ul {
    @for (m, n) in d.new_medical.iter().take(NEWS_MONTHS) {
                            li { a href={"/medical?year=" (m.year()) "#m" (m.yyyymm())} { (ctx.t(NEW_MEDICAL)) ": " (m.label(ctx.lang)) (ctx.lang.pick("診療分", "")) } (aside(ctx, &format!("{n}{}", ctx.lang.pick("件", if *n == 1 { " row" } else { " rows" })))) }
                        }
                        @if d.new_medical.len() > NEWS_MONTHS {
                            li { a href="/medical" { (more_months(ctx, d.new_medical.len() - NEWS_MONTHS)) } }
                        }
                        @for pay in &d.new_payments {
                            li { a href="/benefits" { (pay.kind.label(ctx.lang)) ": " (yen(pay.amount, ctx.lang)) } (aside(ctx, &date_label(&pay.payment_date, ctx.lang))) }
                        }
                        @if d.eligibility_updated {
                            li { a href="/eligibility" { (ctx.t(NEW_ELIGIBILITY)) } }
                        }
                    }
                }
            }
        }
}

/// A remark after a link: `（3件）` / ` (3 rows)`.
fn aside(ctx: &Ctx, text: &str) -> String {
    match ctx.lang {
        kenpo_shared::Lang::Ja => format!("（{text}）"),
        kenpo_shared::Lang::En => format!(" ({text})"),
    }
}

/// Medical months listed one by one under "new"; more are summed up in one line.
const NEWS_MONTHS: usize = 3;

fn more_months(ctx: &Ctx, n: usize) -> String {
    match ctx.lang {
        kenpo_shared::Lang::Ja => format!("ほか{n}か月分の医療費のお知らせ"),
        kenpo_shared::Lang::En => format!("Medical costs of {n} more months"),
    }
}

fn visit_label(unix: i64, ctx: &Ctx) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => {
            let t = t.to_offset(JST);
            format!(
                "{} {:02}:{:02}",
                date_label(&crate::notices::iso_date(t.date()), ctx.lang),
                t.hour(),
                t.minute()
            )
        }
        Err(_) => String::new(),
    }
}

fn welcome(state: &AppState, ctx: &Ctx, signed_out: bool) -> Response {
    let body = html! {
        @if signed_out {
            (kenpo_shared::web::notice(ctx.t(SIGNED_OUT)))
        }
        h1 { (ctx.t(WELCOME_TITLE)) }
        p { (ctx.t(WELCOME_BODY)) }
        p.hint { (ctx.t(SIGN_IN_HINT)) }
        p { a.button href="/auth/login" data-action="login" { (ctx.t(i18n::SIGN_IN)) } }
    };
    ctx.render(
        state,
        Frame {
            title: ctx.t(WELCOME_TITLE),
            step: if signed_out {
                "portal-signed-out"
            } else {
                "portal-welcome"
            },
            ..Frame::default()
        },
        body,
    )
}
