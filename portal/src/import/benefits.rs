//! The benefit-payments file: one row per payment.

use super::fields::Line;
use super::{Column, Parsed, RowError, read_rows};
use crate::notices::{BenefitKind, Month, PaymentRoute, iso_date};
use crate::store::benefits::BenefitRow;
use time::{Date, Duration};

pub const COLUMNS: &[Column] = &[
    Column::required("symbol", "記号", &["被保険者記号"]),
    Column::required("number", "番号", &["被保険者番号"]),
    Column::required("branch", "枝番", &[]),
    Column::required("person_name", "氏名", &["対象者氏名", "受診者氏名"]),
    Column::required("kind", "給付の種類", &["種類", "給付種別", "給付名"]),
    Column::required(
        "covered_from",
        "対象開始",
        &["対象期間開始", "診療年月", "対象年月", "対象年月日"],
    ),
    Column::optional("covered_to", "対象終了", &["対象期間終了"]),
    Column::required("decision_date", "決定日", &["決定年月日", "支給決定日"]),
    Column::required(
        "payment_date",
        "支払日",
        &["支払年月日", "支給日", "振込日"],
    ),
    Column::required("amount", "支給額", &["金額", "支払額", "支給金額"]),
    Column::required("route", "支払方法", &["支払先", "支給方法"]),
];

pub(crate) fn parse(
    text: &str,
    today: Date,
    import_id: &str,
    now: i64,
) -> Result<Parsed<BenefitRow>, Vec<RowError>> {
    let rows = read_rows(
        text,
        COLUMNS,
        today,
        "記号, 番号, 枝番, kind, coverage and payment month",
        |l| row(l, import_id, now),
        |r| {
            format!(
                "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
                r.symbol, r.number, r.branch, r.kind, r.covered_from, r.payment_month
            )
        },
    )?;
    Ok(Parsed::summarise(
        rows,
        |r| (&r.symbol, &r.number),
        |r| Month::from_yyyymm(r.payment_month),
    ))
}

/// `covered_from`/`covered_to`: a month (`YYYY-MM` or any month form) or a day (any date form).
enum Cover {
    Month(Month),
    Day(Date),
}

fn cover(l: &mut Line<'_>, column: &'static str, latest: Date) -> Option<Cover> {
    let raw = l.raw(column).to_string();
    if let Some(m) = super::fields::parse_month(&raw) {
        return (m <= Month::of(latest))
            .then_some(Cover::Month(m))
            .or_else(|| {
                l.bad(column, format!("is in the future: {raw:?}"));
                None
            });
    }
    l.date(column, latest).map(Cover::Day)
}

fn cover_text(c: &Cover) -> String {
    match c {
        Cover::Month(m) => m.iso(),
        Cover::Day(d) => iso_date(*d),
    }
}

fn row(l: &mut Line<'_>, import_id: &str, now: i64) -> Option<BenefitRow> {
    let today = l.today;
    // A payment may be announced before its day; a year ahead is surely a typing error.
    let horizon = today + Duration::days(366);
    let symbol = l.symbol("symbol");
    let number = l.number("number");
    let branch = l.branch("branch");
    let person_name = l.text("person_name", 100);
    let kind = l.choice("kind", BenefitKind::parse, "kind", &BenefitKind::names());
    let from = cover(l, "covered_from", today);
    let to = if l.raw("covered_to").trim().is_empty() {
        None
    } else {
        cover(l, "covered_to", horizon)
    };
    let decision = l.date("decision_date", horizon);
    let payment = l.date("payment_date", horizon);
    let amount = l.amount("amount");
    let route = l.choice(
        "route",
        PaymentRoute::parse,
        "payment route",
        &format!("{}, or employer / direct", PaymentRoute::names()),
    );
    let from = from?;
    let to_text = match (&from, &to) {
        (_, None) => cover_text(&from),
        (Cover::Month(a), Some(Cover::Month(b))) if b >= a => b.iso(),
        (Cover::Day(a), Some(Cover::Day(b))) if b >= a => iso_date(*b),
        _ => {
            l.bad(
                "covered_to",
                "must be of the same form as covered_from (month or day) and not before it",
            );
            return None;
        }
    };
    if let (Some(d), Some(p)) = (decision, payment)
        && p < d
    {
        l.bad("payment_date", "is before the decision date");
        return None;
    }
    let payment = payment?;
    Some(BenefitRow {
        symbol: symbol?,
        number: number?,
        payment_month: Month::of(payment).yyyymm(),
        branch: branch?,
        kind: kind?.code().into(),
        covered_from: cover_text(&from),
        covered_to: to_text,
        person_name: person_name?,
        decision_date: iso_date(decision?),
        payment_date: iso_date(payment),
        amount: amount?,
        route: route?.code().into(),
        import_id: import_id.into(),
        imported_at: now,
    })
}
