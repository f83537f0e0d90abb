//! `/eligibility`: 資格情報のお知らせ, one card per household member, and
//! `/eligibility/print` to print them (with `masked=1`, the 記号・番号 hidden: for copies
//! handed to anyone for other purposes).

use super::i18n::{self};
use super::parts::{chooser, empty, print_button};
use super::{Ctx, Frame, MemberPage, PageQuery, PageResult};
use crate::error::{PageError, PageResultExt};
use crate::notices::date_label;
use crate::notices::eligibility::{Card, cards};
use crate::notices::household::Asked;
pub use crate::texts::pages::eligibility::*;
use maud::{Markup, html};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct EligibilityQuery {
    masked: Option<String>,
    #[serde(flatten)]
    asked: Asked,
}

pub async fn get(page: MemberPage, PageQuery(q): PageQuery<EligibilityQuery>) -> PageResult {
    render(page, q, false).await
}

pub async fn print(page: MemberPage, PageQuery(q): PageQuery<EligibilityQuery>) -> PageResult {
    render(page, q, true).await
}

async fn render(page: MemberPage, q: EligibilityQuery, for_print: bool) -> PageResult {
    let lang = page.ctx.lang;
    let masked = match q.masked.as_deref() {
        None | Some("" | "0") => false,
        Some("1") => for_print,
        Some(_) => return Err(PageError::NotFound(lang)),
    };
    let (persons, sel) = super::household_of(&page, &q.asked).await?;
    let MemberPage { state, ctx, me } = page;
    let list: Vec<Card> = cards(&state.db, &sel)
        .await
        .page(ctx.lang)?
        .into_iter()
        .map(|c| if masked { c.masked() } else { c })
        .collect();
    let insurer = match ctx.lang {
        kenpo_shared::Lang::Ja => &state.config.union.insurer_name,
        kenpo_shared::Lang::En => &state.config.union.insurer_name_en,
    };
    let title = ctx.t(i18n::ELIGIBILITY_TITLE);
    let branch_q = sel
        .branch_str()
        .map(|b| format!("&branch={b}"))
        .unwrap_or_default();
    let body = html! {
        h1 { (title) }
        @if !for_print {
            p { (ctx.t(INTRO)) }
            (chooser(&ctx, "/eligibility", &persons, sel.branch_str(), &[], None))
        }
        @if masked {
            p.notice role="status" { (ctx.t(MASKED_NOTE)) }
        }
        @if list.is_empty() {
            (empty(&ctx, NONE))
        } @else {
            div.cards {
                @for c in &list { (card(&ctx, c, insurer)) }
            }
            @if for_print {
                p.no-print { (print_button(&ctx)) " " a href="/eligibility" { (ctx.t(i18n::ELIGIBILITY_TITLE)) } }
            } @else {
                div.actions.no-print {
                    a.button.secondary href={"/eligibility/print?masked=0" (branch_q)} { (ctx.t(PRINT_ALL)) }
                    a.button.secondary href={"/eligibility/print?masked=1" (branch_q)} { (ctx.t(PRINT_MASKED)) }
                }
            }
        }
    };
    Ok(ctx.render(
        &state,
        Frame {
            title,
            step: if for_print {
                "portal-eligibility-print"
            } else {
                "portal-eligibility"
            },
            member: Some(&me),
            scripts: if for_print {
                vec!["/static/print.js"]
            } else {
                Vec::new()
            },
        },
        body,
    ))
}

fn card(ctx: &Ctx, c: &Card, insurer: &str) -> Markup {
    let relation = if c.is_insured() {
        ctx.t(i18n::INSURED)
    } else {
        ctx.t(i18n::DEPENDANT)
    };
    html! {
        section.card.eligibility-card aria-label=(c.name) {
            h2 { (c.name) " " span.small.muted { "（" (relation) "）" } }
            dl.kv {
                dt { (ctx.t(INSURER_NAME)) } dd { (insurer) }
                dt { (ctx.t(INSURER_NUMBER)) } dd.id { (c.insurer_number) }
                dt { (ctx.t(SYMBOL)) } dd.id data-field="symbol" { (c.symbol) }
                dt { (ctx.t(NUMBER)) } dd.id data-field="number" { (c.number) }
                dt { (ctx.t(BRANCH)) } dd.id data-field="branch" { (c.branch) }
                dt { (ctx.t(RELATION)) } dd { (relation) }
                dt { (ctx.t(NAME)) } dd { (c.name) }
                dt { (ctx.t(KANA)) } dd { (c.name_kana) }
                dt { (ctx.t(BIRTHDATE)) } dd { (date_label(&c.birthdate, ctx.lang)) }
                dt { (ctx.t(SINCE)) } dd { (date_label(&c.eligible_since, ctx.lang)) }
                dt { (ctx.t(SHARE)) } dd { (c.cost_share) (ctx.lang.pick("割", "0%")) }
                dt { (ctx.t(ISSUED)) } dd { (date_label(&c.issued_on, ctx.lang)) }
            }
        }
    }
}
