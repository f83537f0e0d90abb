//! `/medical`: 医療費のお知らせ for one year, month by month, optionally one person.

use super::i18n::{self, Text};
use super::parts::{chooser, empty, figure, medical_explanation};
use super::{Ctx, Frame, MemberPage, PageQuery, PageResult, parse_year};
use crate::error::PageResultExt;
use crate::notices::household::Asked;
use crate::notices::medical::{MedicalLine, year_view};
use crate::notices::money::{Totals, grouped};
pub use crate::texts::pages::medical::*;
use maud::{Markup, html};
use serde::Deserialize;

/// `9月` / `Sep`.
fn month_short(m: crate::notices::Month, ctx: &Ctx) -> String {
    match ctx.lang {
        kenpo_shared::Lang::Ja => format!("{}月", m.month()),
        kenpo_shared::Lang::En => m.label(ctx.lang).chars().take(3).collect(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct MedicalQuery {
    year: Option<String>,
    #[serde(flatten)]
    asked: Asked,
}

pub async fn get(page: MemberPage, PageQuery(q): PageQuery<MedicalQuery>) -> PageResult {
    let (_, sel) = super::household_of(&page, &q.asked).await?;
    let MemberPage { state, ctx, me } = page;
    let asked_year = parse_year(q.year.as_deref(), ctx.lang)?;
    let years = crate::notices::medical::years(&state.db, &sel)
        .await
        .page(ctx.lang)?;
    let year = asked_year
        .or_else(|| years.first().copied())
        .unwrap_or_else(|| state.today().year());
    let view = year_view(&state.db, &sel, year).await.page(ctx.lang)?;
    let mut years = view.years.clone();
    if !years.contains(&year) {
        years.insert(0, year);
    }
    let title = i18n::with_year(ctx.t(i18n::MEDICAL_TITLE), year, ctx.lang);
    let body = html! {
            h1 { (title) }
            (chooser(&ctx, "/medical", &view.persons, sel.branch_str(), &years, Some(year)))
            (medical_explanation(&ctx))
            @if view.months.is_empty() {
                (empty(&ctx, NONE_YET))
            } @else {
                section.card aria-labelledby="year-total" {
                    h2 id="year-total" { (ctx.t(YEAR_TOTAL)) }
                    div.figures {
                        (figure(ctx.t(TOTAL_COST), view.totals.total_cost, &ctx))
                        (figure(ctx.t(INSURER_PAID), view.totals.insurer_paid, &ctx))
                        (figure(ctx.t(PUBLIC), view.totals.public_subsidy, &ctx))
                        (figure(ctx.t(OWN_SHARE), view.totals.own_share, &ctx))
                    }
                    p.no-print {
                        a href=(deduction_href(year, sel.branch_str())) { (ctx.t(TO_DEDUCTION)) }
                    }
                }
    nav.months.no-print aria-label=(ctx.t(MONTHS)) {
                    @for block in &view.months {
                        a href={"#m" (block.month.yyyymm())} { (month_short(block.month, &ctx)) }
                    }
                }
                p.small.muted { (ctx.lang.pick("表の金額の単位は円です。", "Amounts in the tables are in yen.")) }
                @for block in &view.months {
                    section.month {
                        h2 id={"m" (block.month.yyyymm())} { (block.month.label(ctx.lang)) (ctx.t(CARE_OF)) }
    (table(&ctx, &block.lines, &block.totals, &format!("m{}", block.month.yyyymm())))
                    }
                }
            }
        };
    Ok(ctx.render(
        &state,
        Frame {
            title: &title,
            step: "portal-medical",
            member: Some(&me),
            ..Frame::default()
        },
        body,
    ))
}

fn deduction_href(year: i32, branch: Option<&str>) -> String {
    match branch {
        Some(b) => format!("/medical/deduction?year={year}&branch={b}"),
        None => format!("/medical/deduction?year={year}"),
    }
}

/// One month's rows with its totals; on narrow screens each row becomes a labelled block.
fn table(ctx: &Ctx, lines: &[MedicalLine], totals: &Totals, heading: &str) -> Markup {
    let h = |t: Text| ctx.t(t);
    html! {
        // Focusable, so a table wider than the screen can be scrolled with the keyboard.
        div.table-wrap tabindex="0" role="region" aria-labelledby=(heading) {
            table.stack {
                thead {
                    tr {
                        th scope="col" { (h(PATIENT)) }
                        th scope="col" { (h(CATEGORY)) }
                        th scope="col" { (h(INSTITUTION)) }
                        th.num scope="col" { (h(DAYS)) }
                        th.num scope="col" { (h(TOTAL_COST)) }
                        th.num scope="col" { (h(INSURER_PAID)) }
                        th.num scope="col" { (h(PUBLIC)) }
                        th.num scope="col" { (h(OWN_SHARE)) }
                    }
                }
                tbody {
                    @for l in lines {
                        tr {
                            td data-label=(h(PATIENT)) { (l.patient_name) }
                            td data-label=(h(CATEGORY)) { (l.category.label(ctx.lang)) }
                            td.wide data-label=(h(INSTITUTION)) { (l.institution) }
                            td.num.c-days data-label=(h(DAYS)) { (l.days) }
                            td.num.c-total data-label=(h(TOTAL_COST)) { (grouped(l.total_cost)) }
                            td.num.c-insurer data-label=(h(INSURER_PAID)) { (grouped(l.insurer_paid)) }
                            td.num.c-public data-label=(h(PUBLIC)) { (grouped(l.public_subsidy)) }
                            td.num.c-own data-label=(h(OWN_SHARE)) { (grouped(l.own_share)) }
                        }
                    }
                }
                tfoot {
                    tr {
                        th scope="row" colspan="3" { (h(MONTH_TOTAL)) }
                        td.num.c-days data-label=(h(DAYS)) { (totals.days) }
                        td.num.c-total data-label=(h(TOTAL_COST)) { (grouped(totals.total_cost)) }
                        td.num.c-insurer data-label=(h(INSURER_PAID)) { (grouped(totals.insurer_paid)) }
                        td.num.c-public data-label=(h(PUBLIC)) { (grouped(totals.public_subsidy)) }
                        td.num.c-own data-label=(h(OWN_SHARE)) { (grouped(totals.own_share)) }
                    }
                }
            }
        }
    }
}
