//! The January–December statement for the medical-expense deduction (医療費控除):
//! `/medical/deduction` (page), `/medical/deduction.csv` (download) and
//! `/medical/deduction/print` (print page). All three show the six items the National Tax Agency
//! requires of a 医療費通知 used in place of receipts.

use super::i18n::{self, Text};
use super::medical::{DAYS, INSTITUTION, OWN_SHARE, PATIENT};
use super::parts::{chooser, empty, medical_explanation, print_button};
use super::{Ctx, Frame, MemberPage, PageQuery, PageResult, parse_year};
use crate::error::{PageError, PageResultExt, no_store};
use crate::notices::household::{Asked, Selection};
use crate::notices::medical::{Deduction, csv_file_name, deduction, deduction_csv};
use crate::notices::money::{grouped, yen};
use crate::notices::{date_label, iso_date};
pub use crate::texts::pages::deduction::*;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use maud::{Markup, html};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct DeductionQuery {
    year: Option<String>,
    #[serde(flatten)]
    asked: Asked,
}

/// The checks every view of the statement shares: own household, an existing person, a year.
async fn load(
    page: &MemberPage,
    q: &DeductionQuery,
) -> Result<(Selection, Deduction, Vec<i32>), PageError> {
    let (state, ctx) = (&page.state, &page.ctx);
    let (_, sel) = super::household_of(page, &q.asked).await?;
    let years = crate::notices::medical::years(&state.db, &sel)
        .await
        .page(ctx.lang)?;
    // Default: last year, the one a tax return is filed for.
    let year = parse_year(q.year.as_deref(), ctx.lang)?.unwrap_or(state.today().year() - 1);
    let insurer = match ctx.lang {
        kenpo_shared::Lang::Ja => &state.config.union.insurer_name,
        kenpo_shared::Lang::En => &state.config.union.insurer_name_en,
    };
    let d = deduction(&state.db, &sel, year, insurer, state.today())
        .await
        .page(ctx.lang)?;
    Ok((sel, d, years))
}

fn query_of(year: i32, sel: &Selection) -> String {
    match sel.branch_str() {
        Some(b) => format!("year={year}&branch={b}"),
        None => format!("year={year}"),
    }
}

pub async fn page(page: MemberPage, PageQuery(q): PageQuery<DeductionQuery>) -> PageResult {
    let (sel, d, mut years) = load(&page, &q).await?;
    let MemberPage { state, ctx, me } = page;
    if !years.contains(&d.year) {
        years.push(d.year);
        years.sort_unstable_by(|a, b| b.cmp(a));
    }
    let title = i18n::with_year(ctx.t(i18n::DEDUCTION_TITLE), d.year, ctx.lang);
    let q = query_of(d.year, &sel);
    let body = html! {
        h1 { (title) }
        (chooser(&ctx, "/medical/deduction", &d.persons, sel.branch_str(), &years, Some(d.year)))
        p { (ctx.t(HOW_TO)) }
        (medical_explanation(&ctx))
        (statement(&ctx, &d))
        @if !d.lines.is_empty() {
            div.actions.no-print {
                a.button href={"/medical/deduction.csv?" (q)} download=(csv_file_name(d.year)) { (ctx.t(DOWNLOAD)) }
                a.button.secondary href={"/medical/deduction/print?" (q)} { (ctx.t(PRINT_PAGE)) }
            }
            p.small.muted.no-print { (ctx.t(CSV_HINT)) }
        }
    };
    Ok(ctx.render(
        &state,
        Frame {
            title: &title,
            step: "portal-deduction",
            member: Some(&me),
            ..Frame::default()
        },
        body,
    ))
}

pub async fn print(page: MemberPage, PageQuery(q): PageQuery<DeductionQuery>) -> PageResult {
    let (_, d, _) = load(&page, &q).await?;
    let MemberPage { state, ctx, me } = page;
    let title = format!(
        "{}（{}{}）",
        ctx.t(i18n::MEDICAL_TITLE),
        i18n::year_label(d.year, ctx.lang),
        ctx.lang.pick("1月〜12月診療分", " January–December")
    );
    let body = html! {
        div.print-sheet {
            h1 { (title) }
            p.small { (ctx.t(MADE_ON)) ": " (date_label(&iso_date(d.made_on), ctx.lang)) }
            (statement(&ctx, &d))
            p.small { (ctx.t(HOW_TO)) }
            p.no-print { (print_button(&ctx)) " " a href={"/medical/deduction?year=" (d.year)} { (ctx.t(i18n::BACK_HOME)) } }
        }
    };
    Ok(ctx.render(
        &state,
        Frame {
            title: &title,
            step: "portal-deduction-print",
            member: Some(&me),
            scripts: vec!["/static/print.js"],
        },
        body,
    ))
}

pub async fn csv(page: MemberPage, PageQuery(q): PageQuery<DeductionQuery>) -> PageResult {
    let (_, d, _) = load(&page, &q).await?;
    let body = deduction_csv(&d);
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        csv_file_name(d.year)
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    no_store(&mut res);
    Ok(res)
}

/// The statement itself: the fixed items, the rows and the total.
fn statement(ctx: &Ctx, d: &Deduction) -> Markup {
    let h = |t: Text| ctx.t(t);
    html! {
            dl.kv {
                dt { (h(INSURED)) } dd { (d.insured_name) }
                dt { (h(INSURER)) } dd { (d.insurer_name) }
            }
            @if d.lines.is_empty() {
                (empty(ctx, NONE))
            } @else {
    div.table-wrap tabindex="0" role="region" aria-label=(h(STATEMENT)) {
                    table.stack {
                        thead {
                            tr {
                                th scope="col" { (h(MONTH)) }
                                th scope="col" { (h(PATIENT)) }
                                th scope="col" { (h(INSTITUTION)) }
                                th scope="col" { (h(NTA_CLASS)) }
                                th.num scope="col" { (h(DAYS)) }
                                th.num scope="col" { (h(OWN_SHARE)) }
                            }
                        }
                        tbody {
                            @for l in &d.lines {
                                tr {
                                    td data-label=(h(MONTH)) { (l.month.label(ctx.lang)) }
                                    td data-label=(h(PATIENT)) { (l.patient_name) }
                                    td.wide data-label=(h(INSTITUTION)) { (l.institution) }
                                    td data-label=(h(NTA_CLASS)) { (l.category.nta_class(ctx.lang)) }
                                    td.num data-label=(h(DAYS)) { (l.days) }
                                    td.num data-label=(h(OWN_SHARE)) { (grouped(l.own_share)) }
                                }
                            }
                        }
                        tfoot {
                            tr {
                                th scope="row" colspan="4" { (h(TOTAL)) }
                                td.num data-label=(h(DAYS)) { (d.totals.days) }
                                td.num data-label=(h(OWN_SHARE)) { strong data-total { (yen(d.own_share_total, ctx.lang)) } }
                            }
                        }
                    }
                }
            }
            @if !d.pending_months.is_empty() {
                p.small {
                    (ctx.t(PENDING)) ": "
                    (d.pending_months.iter().map(|m| m.label(ctx.lang)).collect::<Vec<_>>().join(ctx.lang.pick("、", ", ")))
                    (ctx.lang.pick("。", "."))
                }
            }
            @if !d.offsets.is_empty() {
                section.offsets aria-labelledby="offsets" {
                    h2 id="offsets" { (ctx.t(OFFSETS_TITLE)) }
                    p.small { (ctx.t(OFFSETS_BODY)) }
                    ul {
                        @for o in &d.offsets {
                            li { (o.kind.label(ctx.lang)) " · " (o.person_name) " · " (o.covered.label(ctx.lang)) " · " (yen(o.amount, ctx.lang)) }
                        }
                    }
                }
            }
        }
}
