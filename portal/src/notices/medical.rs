//! 医療費のお知らせ: a year of a household's medical costs by month, and the January–December
//! statement for the medical-expense deduction (医療費控除) with the six items the National Tax
//! Agency requires of a 医療費通知, exportable as CSV.

use super::Month;
use super::household::{Person, Selection, persons_in};
use super::kinds::{BenefitKind, MedicalCategory};
use super::money::Totals;
use crate::store::medical::MedicalRow;
use crate::store::{self, Db, StoreError, StoreResult};
use kenpo_shared::Lang;
use time::Date;

/// One row as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MedicalLine {
    pub month: Month,
    pub branch: String,
    pub patient_name: String,
    pub category: MedicalCategory,
    pub institution: String,
    pub days: i32,
    pub total_cost: i64,
    pub insurer_paid: i64,
    pub public_subsidy: i64,
    pub own_share: i64,
}

impl MedicalLine {
    pub(crate) fn from_row(r: MedicalRow) -> StoreResult<MedicalLine> {
        Ok(MedicalLine {
            month: Month::from_yyyymm(r.treatment_month).ok_or_else(|| {
                StoreError::corrupt(format!("treatment_month {}", r.treatment_month))
            })?,
            category: MedicalCategory::from_code(&r.category)
                .ok_or_else(|| StoreError::corrupt(format!("medical category {}", r.category)))?,
            branch: r.branch,
            patient_name: r.patient_name,
            institution: r.institution,
            days: r.days,
            total_cost: r.total_cost,
            insurer_paid: r.insurer_paid,
            public_subsidy: r.public_subsidy,
            own_share: r.own_share,
        })
    }
}

pub fn totals<'a>(lines: impl IntoIterator<Item = &'a MedicalLine>) -> Totals {
    let mut t = Totals::default();
    for l in lines {
        t.add(
            i64::from(l.days),
            l.total_cost,
            l.insurer_paid,
            l.public_subsidy,
            l.own_share,
        );
    }
    t
}

/// One treatment month of the year view.
#[derive(Debug, Clone)]
pub struct MonthBlock {
    pub month: Month,
    pub lines: Vec<MedicalLine>,
    pub totals: Totals,
}

/// A calendar year of medical costs, newest month first.
#[derive(Debug, Clone)]
pub struct YearView {
    pub year: i32,
    /// Years with any data, newest first (for the year switch).
    pub years: Vec<i32>,
    pub persons: Vec<Person>,
    pub months: Vec<MonthBlock>,
    pub totals: Totals,
}

fn lines_between(
    c: &mut crate::store::DbConn,
    sel: &Selection,
    from: Month,
    to: Month,
) -> StoreResult<Vec<MedicalLine>> {
    store::medical::between(c, &sel.key, from.yyyymm(), to.yyyymm(), sel.branch_str())?
        .into_iter()
        .map(MedicalLine::from_row)
        .collect()
}

fn year_bounds(year: i32) -> StoreResult<(Month, Month)> {
    match (Month::new(year, 1), Month::new(year, 12)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(StoreError::corrupt(format!("year {year}"))),
    }
}

/// Years a household has data for, newest first.
pub async fn years(db: &Db, sel: &Selection) -> StoreResult<Vec<i32>> {
    let key = sel.key.clone();
    db.run(move |c| {
        let mut years: Vec<i32> = store::medical::months(c, &key)?
            .into_iter()
            .map(|m| m / 100)
            .collect();
        years.dedup();
        Ok(years)
    })
    .await
}

pub async fn year_view(db: &Db, sel: &Selection, year: i32) -> StoreResult<YearView> {
    let sel = sel.clone();
    db.run(move |c| {
        let (from, to) = year_bounds(year)?;
        let lines = lines_between(c, &sel, from, to)?;
        let mut years: Vec<i32> = store::medical::months(c, &sel.key)?
            .into_iter()
            .map(|m| m / 100)
            .collect();
        years.dedup();
        let persons = persons_in(c, &sel.key)?;
        let totals = totals(&lines);
        let mut months: Vec<MonthBlock> = Vec::new();
        for line in lines {
            match months.last_mut() {
                Some(b) if b.month == line.month => b.lines.push(line),
                _ => months.push(MonthBlock {
                    month: line.month,
                    lines: vec![line],
                    totals: Totals::default(),
                }),
            }
        }
        for b in &mut months {
            b.totals = self::totals(&b.lines);
        }
        months.reverse();
        Ok(YearView {
            year,
            years,
            persons,
            months,
            totals,
        })
    })
    .await
}

/// A payment that reimbursed part of the year's medical costs (補填される金額, for reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offset {
    pub kind: BenefitKind,
    pub covered: super::benefits::Covered,
    pub person_name: String,
    pub amount: i64,
}

/// The statement for the medical-expense deduction: treatment months January–December of one
/// year, with the six items of a 医療費通知.
#[derive(Debug, Clone)]
pub struct Deduction {
    pub year: i32,
    /// 被保険者等の氏名: the insured person.
    pub insured_name: String,
    /// 保険者等の名称.
    pub insurer_name: String,
    pub lines: Vec<MedicalLine>,
    /// 被保険者等が支払った医療費の額, summed.
    pub own_share_total: i64,
    pub totals: Totals,
    /// Months of the year recent enough that their data may not have arrived yet.
    pub pending_months: Vec<Month>,
    pub offsets: Vec<Offset>,
    pub persons: Vec<Person>,
    pub made_on: Date,
}

/// Treatment data arrives about three months after the month of care: months after this one
/// may still be incomplete on `today`.
pub fn last_complete_month(today: Date) -> Month {
    Month::of(today).minus(3)
}

pub async fn deduction(
    db: &Db,
    sel: &Selection,
    year: i32,
    insurer_name: &str,
    today: Date,
) -> StoreResult<Deduction> {
    let sel = sel.clone();
    let insurer_name = insurer_name.to_string();
    db.run(move |c| {
        let (from, to) = year_bounds(year)?;
        let lines = lines_between(c, &sel, from, to)?;
        let persons = persons_in(c, &sel.key)?;
        let insured_name = persons
            .iter()
            .find(|p| p.is_insured())
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let complete = last_complete_month(today);
        let pending_months = (1..=12)
            .filter_map(|m| Month::new(year, m))
            .filter(|m| *m > complete)
            .collect();
        let mut offsets = Vec::new();
        for b in store::benefits::list(c, &sel.key, sel.branch_str())? {
            let Some(kind) = BenefitKind::from_code(&b.kind) else {
                continue;
            };
            let Some(covered) = super::benefits::Covered::parse(&b.covered_from, &b.covered_to)
            else {
                continue;
            };
            if kind.offsets_medical_costs() && b.covered_from.starts_with(&format!("{year:04}-")) {
                offsets.push(Offset {
                    kind,
                    covered,
                    person_name: b.person_name,
                    amount: b.amount,
                });
            }
        }
        offsets.sort_by_key(|o| o.covered.start());
        let totals = totals(&lines);
        Ok(Deduction {
            year,
            insured_name,
            insurer_name,
            own_share_total: totals.own_share,
            totals,
            lines,
            pending_months,
            offsets,
            persons,
            made_on: today,
        })
    })
    .await
}

/// The CSV columns, in order: the six items of a 医療費通知, the NTA form's 区分, and the days.
pub const CSV_COLUMNS: [&str; 8] = [
    "被保険者等の氏名",
    "療養を受けた年月",
    "療養を受けた者",
    "療養を受けた病院・診療所・薬局等の名称",
    "医療費の区分",
    "日数",
    "被保険者等が支払った医療費の額",
    "保険者等の名称",
];

/// A text cell as a spreadsheet may safely read it (OWASP "CSV Injection"): a value starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return (or their full-width forms, which
/// Japanese spreadsheets may take as the same) would be read as a formula, so it gets a leading
/// `'`, which spreadsheets show as text and do not display. Other values are left exactly as
/// they are. Amounts are not text cells: they are written from integers, so a negative amount
/// stays the number `-1200` (and sums), never text.
pub fn csv_text(v: &str) -> std::borrow::Cow<'_, str> {
    const FORMULA: [char; 10] = ['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠'];
    match v.chars().next() {
        Some(c) if FORMULA.contains(&c) => std::borrow::Cow::Owned(format!("'{v}")),
        _ => std::borrow::Cow::Borrowed(v),
    }
}

/// The statement as CSV: UTF-8 with a byte-order mark (so Excel opens it as UTF-8), CRLF line
/// ends, a header row, one row per line and a final 合計 row. Amounts are plain integers; text
/// cells go through [`csv_text`].
pub fn deduction_csv(d: &Deduction) -> Vec<u8> {
    let mut out = Vec::from(&b"\xEF\xBB\xBF"[..]);
    {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        // Writing to a Vec cannot fail; a failure would only lose the row, never panic.
        let _ = w.write_record(CSV_COLUMNS);
        for l in &d.lines {
            let _ = w.write_record([
                csv_text(&d.insured_name).as_ref(),
                &csv_text(&l.month.label(Lang::Ja)),
                &csv_text(&l.patient_name),
                &csv_text(&l.institution),
                &csv_text(l.category.nta_class(Lang::Ja)),
                &l.days.to_string(),
                &l.own_share.to_string(),
                &csv_text(&d.insurer_name),
            ]);
        }
        let _ = w.write_record([
            "合計",
            "",
            "",
            "",
            "",
            &d.totals.days.to_string(),
            &d.own_share_total.to_string(),
            "",
        ]);
        let _ = w.flush();
    }
    out
}

/// File name of the CSV download.
pub fn csv_file_name(year: i32) -> String {
    format!("iryouhi-{year}.csv")
}

#[cfg(test)]
mod csv_tests {
    use super::csv_text;

    #[test]
    fn formula_prefixes_get_a_quote_and_nothing_else_changes() {
        for (v, want) in [
            ("=1+2", "'=1+2"),
            ("+81", "'+81"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("＝式", "'＝式"),
            ("健保 花子", "健保 花子"),
            ("A=B", "A=B"),
            ("", ""),
            ("'quoted", "'quoted"),
        ] {
            assert_eq!(csv_text(v), want, "{v:?}");
        }
    }
}
