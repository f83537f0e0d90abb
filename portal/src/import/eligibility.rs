//! The eligibility file: one row per household member, the household's current state.

use super::fields::Line;
use super::{Column, Parsed, RowError, read_rows};
use crate::notices::iso_date;
use crate::store::eligibility::{self as store, EligibilityRow};
use crate::store::imports::{self, ImportRecord};
use crate::store::{Db, StoreResult};
use kenpo_shared::ids::normalize;
use std::collections::{BTreeSet, HashSet};
use time::{Date, Duration};

const fn col(name: &'static str, ja: &'static str, aliases: &'static [&'static str]) -> Column {
    Column {
        name,
        ja,
        aliases,
        required: true,
    }
}

pub const COLUMNS: &[Column] = &[
    col("insurer_number", "保険者番号", &[]),
    col("symbol", "記号", &["被保険者記号"]),
    col("number", "番号", &["被保険者番号"]),
    col("branch", "枝番", &[]),
    col("name", "氏名", &[]),
    col("name_kana", "カナ氏名", &["フリガナ", "氏名カナ", "カナ"]),
    col("birthdate", "生年月日", &[]),
    col(
        "eligible_since",
        "資格取得年月日",
        &["資格取得日", "資格認定年月日"],
    ),
    col(
        "cost_share",
        "負担割合",
        &["一部負担金の割合", "自己負担割合"],
    ),
    col("issued_on", "交付年月日", &["交付日", "発行日"]),
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
    let households: HashSet<(&str, &str)> = rows
        .iter()
        .map(|r| (r.symbol.as_str(), r.number.as_str()))
        .collect();
    Ok(Parsed {
        households: households.len(),
        months: BTreeSet::new(),
        rows,
    })
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

pub(crate) async fn write(
    db: &Db,
    rows: Vec<EligibilityRow>,
    mut record: ImportRecord,
) -> StoreResult<usize> {
    db.tx(move |c| {
        let replaced = store::replace_households(c, &rows)?;
        record.rows_replaced = replaced as i64;
        imports::record(c, &record)?;
        Ok(replaced)
    })
    .await
}
