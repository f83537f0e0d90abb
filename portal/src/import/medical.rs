//! The medical-costs file: one row per person, treatment month, category and institution.

use super::fields::Line;
use super::{Column, Parsed, RowError, read_rows};
use crate::notices::{MedicalCategory, Month};
use crate::store::medical::MedicalRow;
use time::Date;

pub const COLUMNS: &[Column] = &[
    Column::required("symbol", "記号", &["被保険者記号"]),
    Column::required("number", "番号", &["被保険者番号"]),
    Column::required("branch", "枝番", &[]),
    Column::required(
        "patient_name",
        "受診者氏名",
        &["氏名", "受診者名", "療養を受けた者"],
    ),
    Column::required("treatment_month", "診療年月", &["療養年月", "診療月"]),
    Column::required("category", "区分", &["診療区分", "レセプト種別"]),
    Column::required(
        "institution",
        "医療機関名",
        &["医療機関等名称", "医療機関等名", "医療機関名称"],
    ),
    Column::required("days", "日数", &["診療日数", "実日数"]),
    Column::required("total_cost", "医療費総額", &["医療費", "総医療費"]),
    Column::required(
        "insurer_paid",
        "保険者負担額",
        &["組合負担額", "健保負担額"],
    ),
    Column::required("public_subsidy", "公費負担額", &["公費"]),
    Column::required("own_share", "自己負担額", &["窓口負担額", "本人負担額"]),
];

/// Checks a whole file.
pub(crate) fn parse(
    text: &str,
    today: Date,
    import_id: &str,
    now: i64,
) -> Result<Parsed<MedicalRow>, Vec<RowError>> {
    let rows = read_rows(
        text,
        COLUMNS,
        today,
        "記号, 番号, 枝番, treatment month, category and institution",
        |l| row(l, import_id, now),
        |r| {
            format!(
                "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
                r.symbol, r.number, r.branch, r.treatment_month, r.category, r.institution
            )
        },
    )?;
    Ok(Parsed::summarise(
        rows,
        |r| (&r.symbol, &r.number),
        |r| Month::from_yyyymm(r.treatment_month),
    ))
}

fn row(l: &mut Line<'_>, import_id: &str, now: i64) -> Option<MedicalRow> {
    let symbol = l.symbol("symbol");
    let number = l.number("number");
    let branch = l.branch("branch");
    let patient_name = l.text("patient_name", 100);
    let month = l.month("treatment_month");
    let category = l.choice(
        "category",
        MedicalCategory::parse,
        "category",
        &MedicalCategory::names(),
    );
    let institution = l.text("institution", 200);
    let days = l.int("days", 0..=31);
    let total = l.amount("total_cost");
    let insurer = l.amount("insurer_paid");
    let public = l.amount("public_subsidy");
    let own = l.amount("own_share");
    if let (Some(t), Some(i), Some(p), Some(o)) = (total, insurer, public, own)
        && i + p + o != t
    {
        l.bad(
            "total_cost",
            format!(
                "{t} is not the sum of insurer_paid, public_subsidy and own_share ({i} + {p} + {o} = {})",
                i + p + o
            ),
        );
        return None;
    }
    Some(MedicalRow {
        symbol: symbol?,
        number: number?,
        treatment_month: month?.yyyymm(),
        branch: branch?,
        category: category?.code().into(),
        institution: institution?,
        patient_name: patient_name?,
        days: days?,
        total_cost: total?,
        insurer_paid: insurer?,
        public_subsidy: public?,
        own_share: own?,
        import_id: import_id.into(),
        imported_at: now,
    })
}
