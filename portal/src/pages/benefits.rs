//! `/benefits`: 給付金のお知らせ, each payment newest first with what it covers.

use super::i18n::{self};
use super::parts::{chooser, empty};
use super::{Frame, MemberPage, PageQuery, PageResult};
use crate::error::PageResultExt;
use crate::notices::benefits::payments;
use crate::notices::date_label;
use crate::notices::household::Asked;
use crate::notices::money::yen;
pub use crate::texts::pages::benefits::*;
use maud::html;

pub async fn get(page: MemberPage, PageQuery(asked): PageQuery<Asked>) -> PageResult {
    let (persons, sel) = super::household_of(&page, &asked).await?;
    let MemberPage { state, ctx, me } = page;
    let list = payments(&state.db, &sel).await.page(ctx.lang)?;
    let title = ctx.t(i18n::BENEFITS_TITLE);
    let body = html! {
        h1 { (title) }
        p { (ctx.t(INTRO)) }
        (chooser(&ctx, "/benefits", &persons, sel.branch_str(), &[], None))
        @if list.is_empty() {
            (empty(&ctx, NONE))
        } @else {
            ol.payments {
                @for p in &list {
                    li.card.payment {
                        h2 { (p.kind.label(ctx.lang)) }
                        p.amount { span.visually-hidden { (ctx.t(AMOUNT)) " " } (yen(p.amount, ctx.lang)) }
                        dl.kv {
                            dt { (ctx.t(COVERS)) } dd { (p.covered.label(ctx.lang)) }
                            dt { (ctx.t(PERSON)) } dd { (p.person_name) }
                            dt { (ctx.t(DECIDED)) } dd { (date_label(&p.decision_date, ctx.lang)) }
                            dt { (ctx.t(PAID)) } dd { (date_label(&p.payment_date, ctx.lang)) }
                            dt { (ctx.t(ROUTE)) } dd { (p.route.label(ctx.lang)) }
                        }
                        p.small.muted { (p.kind.explain(ctx.lang)) }
                    }
                }
            }
        }
    };
    Ok(ctx.render(
        &state,
        Frame {
            title,
            step: "portal-benefits",
            member: Some(&me),
            ..Frame::default()
        },
        body,
    ))
}
