//! The eligibility file: one row per household member, the household's current state.

use super::fields::Line;
use super::{Column, Parsed, RowError, read_rows};
use crate::notices::iso_date;
use crate::store::eligibility::EligibilityRow;
use kenpo_shared::ids::normalize;
use time::{Date, Duration};

pub const COLUMNS: &[Column] = &[
    Column::required("insurer_number", "保険者番号", &[]),
    Column::required("symbol", "記号", &["被保険者記号"]),
    Column::required("number", "番号", &["被保険者番号"]),
    Column::required("branch", "枝番", &[]),
    Column::required("name", "氏名", &[]),
    Column::required("name_kana", "カナ氏名", &["フリガナ", "氏名カナ", "カナ"]),
    Column::required("birthdate", "生年月日", &[]),
    Column::required(
        "eligible_since",
        "資格取得年月日",
        &["資格取得日", "資格認定年月日"],
    ),
    Column::required(
        "cost_share",
        "負担割合",
        &["一部負担金の割合", "自己負担割合"],
    ),
    Column::required("issued_on", "交付年月日", &["交付日", "発行日"]),
];

pub(crate) fn parse(
    text: &str,
    today: Date,
    import_id: &str,
    now: i64,
) -> Result<Parsed<EligibilityRow>, Vec<RowError>> {
    let rows = read_rows(
        text,
        COLUMNS,
        today,
        "記号, 番号 and 枝番",
        |l| row(l, import_id, now),
        |r| format!("{}\u{1f}{}\u{1f}{}", r.symbol, r.number, r.branch),
    )?;
    Ok(Parsed::summarise(
        rows,
        |r| (&r.symbol, &r.number),
        |_| None,
    ))
}

fn row(l: &mut Line<'_>, import_id: &str, now: i64) -> Option<EligibilityRow> {
    let today = l.today;
    let insurer_number = {
        let v = normalize(l.raw("insurer_number"));
        if v.len() == 8 && v.chars().all(|c| c.is_ascii_digit()) {
            Some(v)
        } else {
            l.bad(
                "insurer_number",
                format!("not a 保険者番号 (eight digits): {v:?}"),
            );
            None
        }
    };
    let symbol = l.symbol("symbol");
    let number = l.number("number");
    let branch = l.branch("branch");
    let name = l.text("name", 100);
    let name_kana = l.kana("name_kana", 100);
    let birthdate = l.date("birthdate", today);
    let since = l.date("eligible_since", today + Duration::days(366));
    let cost_share = {
        let raw = l.raw("cost_share").to_string();
        let v = normalize(&raw);
        match v.trim_end_matches('割') {
            "1" => Some(1),
            "2" => Some(2),
            "3" => Some(3),
            _ => {
                l.bad("cost_share", format!("not 1, 2 or 3 (割): {raw:?}"));
                None
            }
        }
    };
    let issued = l.date("issued_on", today + Duration::days(366));
    if let (Some(b), Some(s)) = (birthdate, since)
        && s < b
    {
        l.bad("eligible_since", "is before the birthdate");
        return None;
    }
    Some(EligibilityRow {
        symbol: symbol?,
        number: number?,
        branch: branch?,
        insurer_number: insurer_number?,
        name: name?,
        name_kana: name_kana?,
        birthdate: iso_date(birthdate?),
        eligible_since: iso_date(since?),
        cost_share: cost_share?,
        issued_on: iso_date(issued?),
        import_id: import_id.into(),
        imported_at: now,
    })
}
