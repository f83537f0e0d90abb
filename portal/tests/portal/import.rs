//! Staff import: every validation failure is reported by line and column; a failed import
//! changes nothing; re-importing replaces exactly the months (or households) in the file.

use crate::support::*;
use kenpo_portal::import::{EncodingChoice, ImportError, Kind, RowError};
use kenpo_portal::notices::Month;
use kenpo_portal::store;

pub const MEDICAL_HEADER: &str = "記号,番号,枝番,受診者氏名,診療年月,区分,医療機関名,日数,医療費総額,保険者負担額,公費負担額,自己負担額";

/// The medical file the statement tests compute by hand (household 34/1234567 and one row of
/// household 12/3456789).
pub const MEDICAL: &str = "記号,番号,枝番,受診者氏名,診療年月,区分,医療機関名,日数,医療費総額,保険者負担額,公費負担額,自己負担額
34,1234567,00,健保 花子,2025-01,医科外来,けんぽ内科クリニック,2,12340,8640,0,3700
34,1234567,00,健保 花子,2025-01,調剤,さくら調剤薬局,1,5600,3920,0,1680
34,1234567,01,健保 一郎,2025-03,医科入院,市立総合病院,9,852300,596610,0,255690
34,1234567,02,健保 さくら,2025-03,歯科外来,あおば歯科医院,3,21000,14700,0,6300
34,1234567,00,健保 花子,2024-12,医科外来,けんぽ内科クリニック,1,4000,2800,0,1200
34,1234567,02,健保 さくら,2025-09,医科外来,みなと小児科,2,9800,5880,2000,1920
12,3456789,00,山田 太郎,2025-01,医科外来,やまだ秘密クリニック,1,7770,5439,0,2331
";

pub const BENEFITS: &str = "symbol,number,branch,person_name,kind,covered_from,covered_to,decision_date,payment_date,amount,route
34,1234567,01,健保 一郎,高額療養費,2025-03,,2025-06-10,2025-06-30,167122,事業主経由
34,1234567,00,健保 花子,傷病手当金,2025-04-01,2025-04-30,2025-05-20,2025-05-30,186660,直接
12,3456789,00,山田 太郎,出産育児一時金,2025-02-14,,2025-03-10,2025-03-25,500000,direct
";

pub const ELIGIBILITY: &str =
    "保険者番号,記号,番号,枝番,氏名,カナ氏名,生年月日,資格取得年月日,負担割合,交付年月日
06139999,34,1234567,00,健保 花子,ｹﾝﾎﾟ ﾊﾅｺ,1975-04-15,2015-04-01,3,2025-11-01
06139999,34,1234567,01,健保 一郎,ケンポ イチロウ,1973/9/2,2015-04-01,3割,2025-11-01
06139999,34,1234567,02,健保 さくら,ケンポ サクラ,H24.6.20,2012-06-20,3,2025-11-01
06139999,12,3456789,00,山田 太郎,ヤマダ タロウ,1980-12-01,2010-04-01,3,2025-11-01
06139999,12,3456789,03,山田 秘密子,ヤマダ ヒミツコ,2020-01-01,2020-01-01,2,2025-11-01
";

fn invalid(r: Result<kenpo_portal::import::Report, ImportError>) -> Vec<RowError> {
    match r {
        Err(ImportError::Invalid(errors)) => errors,
        Err(e) => panic!("expected validation errors, got {e}"),
        Ok(report) => panic!("expected validation errors, got a report: {report}"),
    }
}

/// Whether some error is on `line` in a column whose name contains `column`.
fn has(errors: &[RowError], line: u64, column: Option<&str>, text: &str) -> bool {
    errors.iter().any(|e| {
        e.line == line
            && match column {
                Some(c) => e.column.as_deref().is_some_and(|col| col.contains(c)),
                None => e.column.is_none(),
            }
            && e.message.contains(text)
    })
}

async fn counts(p: &TestPortal) -> (i64, i64, i64) {
    p.state
        .db
        .run(|c| {
            Ok((
                store::medical::count(c)?,
                store::benefits::count(c)?,
                store::eligibility::count(c)?,
            ))
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_clean_file_of_each_kind_imports() {
    let p = TestPortal::start().await;
    let r = p.import(Kind::Medical, MEDICAL).await.unwrap();
    assert_eq!((r.rows, r.households, r.replaced), (7, 2, 0));
    assert_eq!(r.months.first().copied(), Month::new(2024, 12));
    assert_eq!(r.months.last().copied(), Month::new(2025, 9));
    let r = p.import(Kind::Benefits, BENEFITS).await.unwrap();
    assert_eq!((r.rows, r.households), (3, 2));
    let r = p.import(Kind::Eligibility, ELIGIBILITY).await.unwrap();
    assert_eq!((r.rows, r.households), (5, 2));
    assert_eq!(counts(&p).await, (7, 3, 5));
    // Normalised on the way in: half-width kana, era and slash dates, 3割.
    let key = kenpo_shared::MemberKey {
        symbol: kenpo_shared::MemberSymbol::parse("34").unwrap(),
        number: kenpo_shared::MemberNumber::parse("1234567").unwrap(),
    };
    let cards = p
        .state
        .db
        .run(move |c| store::eligibility::list(c, &key))
        .await
        .unwrap();
    assert_eq!(cards[0].name_kana, "ケンポ ハナコ");
    assert_eq!(cards[1].birthdate, "1973-09-02");
    assert_eq!(cards[1].cost_share, 3);
    assert_eq!(cards[2].birthdate, "2012-06-20");
}

#[tokio::test]
async fn every_bad_row_is_reported_by_line_and_column_and_nothing_changes() {
    let p = TestPortal::start().await;
    p.import(Kind::Medical, MEDICAL).await.unwrap();
    let before = counts(&p).await;
    let file = format!(
        "{MEDICAL_HEADER}
34,1234567,00,健保 花子,2025-01,医科外来,けんぽ内科クリニック,2,12340,8640,0,3700
34,1234567,00,健保 花子,2025-13,医科外来,別のクリニック,1,1000,700,0,300
34,1234567,00,健保 花子,2025-02,眼科,めぐろ眼科,1,1000,700,0,300
34,1234567,00,健保 花子,2025-02,医科外来,ABCクリニック,1,1000,700,0,12a
34,1234567,00,健保 花子,2025-02,医科外来,けんぽ内科クリニック,1,1000,700,0,-300
34,1234567,00,健保 花子,2025-01,医科外来,けんぽ内科クリニック,5,5000,3500,0,1500
34,1234567,0A,健保 花子,2025-02,調剤,さくら調剤薬局,1,1000,700,0,300
34,1234567,00,健保 花子,2025-02,歯科外来,あおば歯科医院,1,1000,600,0,300
34,1234567,00,健保 花子,2025-02,歯科外来
34,1234567,00,,2025-02,調剤,ひまわり薬局,40,1000,700,0,300
"
    );
    let errors = invalid(p.import(Kind::Medical, &file).await);
    for e in &errors {
        println!("{e}");
    }
    assert!(
        has(
            &errors,
            3,
            Some("treatment_month (診療年月)"),
            "not a month"
        ),
        "bad month"
    );
    assert!(
        has(
            &errors,
            4,
            Some("category (区分)"),
            "unknown category \"眼科\""
        ),
        "unknown category"
    );
    assert!(
        has(&errors, 5, Some("own_share (自己負担額)"), "not an amount"),
        "bad amount"
    );
    assert!(
        has(&errors, 6, Some("own_share"), "negative"),
        "negative amount"
    );
    assert!(
        has(&errors, 7, None, "duplicate row: line 2"),
        "duplicate row"
    );
    assert!(
        has(&errors, 8, Some("branch (枝番)"), "not a 枝番"),
        "bad branch"
    );
    assert!(has(&errors, 9, Some("total_cost"), "not the sum"), "sum");
    assert!(has(&errors, 10, None, "has 6 fields"), "short row");
    assert!(
        has(&errors, 11, Some("patient_name"), "is empty"),
        "empty name"
    );
    assert!(has(&errors, 11, Some("days (日数)"), "0 to 31"), "days");
    assert_eq!(errors.len(), 10, "exactly the problems above, each once");
    assert_eq!(counts(&p).await, before, "a failed import changes nothing");
}

#[tokio::test]
async fn a_missing_column_is_reported_on_the_header_line() {
    let p = TestPortal::start().await;
    let file = "記号,番号,枝番,受診者氏名,区分,医療機関名,日数,医療費総額,保険者負担額,公費負担額,自己負担額,備考\n34,1234567,00,a,調剤,b,1,10,7,0,3,x\n";
    let errors = invalid(p.import(Kind::Medical, file).await);
    assert!(
        has(
            &errors,
            1,
            Some("treatment_month (診療年月)"),
            "missing column"
        ),
        "{errors:?}"
    );
    assert!(
        has(&errors, 1, None, "unknown column \"備考\""),
        "{errors:?}"
    );
    let errors = invalid(p.import(Kind::Medical, "").await);
    assert!(has(&errors, 1, None, "empty"), "{errors:?}");
}

#[tokio::test]
async fn bad_dates_in_benefits_and_eligibility_are_reported() {
    let p = TestPortal::start().await;
    let file = "symbol,number,branch,person_name,kind,covered_from,covered_to,decision_date,payment_date,amount,route
34,1234567,00,健保 花子,高額療養費,2025-03,,2025-06-31,2025-06-30,1000,employer
34,1234567,00,健保 花子,高額療養費,2025-04,,2025-06-10,yesterday,1000,employer
34,1234567,00,健保 花子,付加金,2025-04,,2025-06-10,2025-06-30,1000,by pigeon
34,1234567,00,健保 花子,傷病手当金,2025-04-30,2025-04-01,2025-05-20,2025-05-30,1000,direct
34,1234567,00,健保 花子,高額療養費,2025-05,,2025-07-10,2025-07-01,1000,direct
";
    let errors = invalid(p.import(Kind::Benefits, file).await);
    assert!(
        has(&errors, 2, Some("decision_date (決定日)"), "not a date"),
        "{errors:?}"
    );
    assert!(
        has(&errors, 3, Some("payment_date (支払日)"), "not a date"),
        "{errors:?}"
    );
    assert!(has(&errors, 4, Some("kind"), "unknown kind"), "{errors:?}");
    assert!(
        has(&errors, 4, Some("route"), "unknown payment route"),
        "{errors:?}"
    );
    assert!(
        has(&errors, 5, Some("covered_to"), "not before it"),
        "{errors:?}"
    );
    assert!(
        has(&errors, 6, Some("payment_date"), "before the decision date"),
        "{errors:?}"
    );
    let file = "保険者番号,記号,番号,枝番,氏名,カナ氏名,生年月日,資格取得年月日,負担割合,交付年月日
0613999,34,1234567,00,健保 花子,ケンポ ハナコ,1975-02-30,2015-04-01,3,2025-11-01
06139999,34,1234567,01,健保 一郎,ケンポ イチロウ,1973-09-02,1970-01-01,4,2025-11-01
06139999,34,1234567,01,健保 一郎,ケンポ イチロウ,1973-09-02,2015-04-01,3,2025-11-01
06139999,34,1234567,01,健保 一郎,ケンポ イチロウ,1973-09-02,2015-04-01,3,2025-11-01
";
    let errors = invalid(p.import(Kind::Eligibility, file).await);
    assert!(
        has(&errors, 2, Some("insurer_number"), "eight digits"),
        "{errors:?}"
    );
    assert!(
        has(&errors, 2, Some("birthdate (生年月日)"), "not a date"),
        "{errors:?}"
    );
    assert!(
        has(&errors, 3, Some("cost_share"), "not 1, 2 or 3"),
        "{errors:?}"
    );
    assert!(has(&errors, 5, None, "duplicate row: line 4"), "{errors:?}");
    assert_eq!(counts(&p).await, (0, 0, 0));
}

#[tokio::test]
async fn shift_jis_files_import_and_a_wrong_encoding_is_refused_by_line() {
    let p = TestPortal::start().await;
    let sjis = encoding_rs::SHIFT_JIS.encode(MEDICAL).0.into_owned();
    let r = p
        .import_bytes(Kind::Medical, &sjis, EncodingChoice::Auto)
        .await
        .unwrap();
    assert_eq!(r.encoding.name(), "Shift_JIS");
    assert_eq!(r.rows, 7);
    // Declared UTF-8 but Shift_JIS: refused at the first line with a non-ASCII character.
    let errors = invalid(
        p.import_bytes(Kind::Medical, &sjis, EncodingChoice::Utf8)
            .await,
    );
    assert!(has(&errors, 1, None, "not UTF-8"), "{errors:?}");
    // Neither encoding: a truncated multi-byte character on line 3.
    let mut broken =
        format!("{MEDICAL_HEADER}\n34,1234567,00,a,2025-01,調剤,b,1,10,7,0,3\n").into_bytes();
    broken.extend_from_slice(b"34,1234567,00,\x82\n");
    let errors = invalid(
        p.import_bytes(Kind::Medical, &broken, EncodingChoice::Auto)
            .await,
    );
    assert!(
        has(&errors, 3, None, "neither UTF-8 nor Shift_JIS"),
        "{errors:?}"
    );
    // UTF-16 (Excel's "Unicode text").
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(MEDICAL.encode_utf16().flat_map(u16::to_le_bytes));
    let errors = invalid(
        p.import_bytes(Kind::Medical, &utf16, EncodingChoice::Auto)
            .await,
    );
    assert!(has(&errors, 1, None, "UTF-16"), "{errors:?}");
    // The names came through intact from Shift_JIS.
    let html = p
        .get("/medical?year=2025", &p.session("34", "1234567").await)
        .await
        .body;
    assert!(html.contains("けんぽ内科クリニック") && html.contains("健保 一郎"));
}

#[tokio::test]
async fn re_importing_a_month_replaces_it_for_the_households_in_the_file_only() {
    let p = TestPortal::start().await;
    p.import(Kind::Medical, MEDICAL).await.unwrap();
    // A neighbour with the same 記号 and another 番号.
    let neighbour =
        format!("{MEDICAL_HEADER}\n34,7654321,00,隣 人,2025-01,調剤,となり薬局,1,1000,700,0,300\n");
    p.import(Kind::Medical, &neighbour).await.unwrap();
    // January again for household 34/1234567 only: its two January rows become one.
    let again = format!(
        "{MEDICAL_HEADER}\n34,1234567,00,健保 花子,202501,医科外来,けんぽ内科クリニック,3,20000,14000,0,6000\n"
    );
    let r = p.import(Kind::Medical, &again).await.unwrap();
    assert_eq!((r.rows, r.replaced), (1, 2));
    assert_eq!(counts(&p).await.0, 7);
    let key = |s: &str, n: &str| kenpo_shared::MemberKey {
        symbol: kenpo_shared::MemberSymbol::parse(s).unwrap(),
        number: kenpo_shared::MemberNumber::parse(n).unwrap(),
    };
    let (a, b, n) = (
        key("34", "1234567"),
        key("12", "3456789"),
        key("34", "7654321"),
    );
    let (jan_a, jan_b, mar_a, jan_n) = p
        .state
        .db
        .run(move |c| {
            Ok((
                store::medical::between(c, &a, 202501, 202501, None)?,
                store::medical::between(c, &b, 202501, 202501, None)?,
                store::medical::between(c, &a, 202503, 202503, None)?,
                store::medical::between(c, &n, 202501, 202501, None)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(jan_a.len(), 1);
    assert_eq!(jan_a[0].own_share, 6000);
    assert_eq!(jan_b.len(), 1, "another household's January is untouched");
    assert_eq!(mar_a.len(), 2, "another month is untouched");
    assert_eq!(
        jan_n.len(),
        1,
        "another 番号 under the same 記号 is untouched"
    );

    // Eligibility: the household's file without dependant 02 removes that card.
    p.import(Kind::Eligibility, ELIGIBILITY).await.unwrap();
    let fewer: String = ELIGIBILITY
        .lines()
        .filter(|l| !l.contains(",02,"))
        .collect::<Vec<_>>()
        .join("\n");
    let r = p.import(Kind::Eligibility, &fewer).await.unwrap();
    assert_eq!(r.replaced, 5);
    assert_eq!(counts(&p).await.2, 4);

    // Benefits: by payment month.
    p.import(Kind::Benefits, BENEFITS).await.unwrap();
    let june =
        "symbol,number,branch,person_name,kind,covered_from,decision_date,payment_date,amount,route
34,1234567,01,健保 一郎,高額療養費,2025-03,2025-06-10,2025-06-30,170000,employer
";
    let r = p.import(Kind::Benefits, june).await.unwrap();
    assert_eq!((r.rows, r.replaced), (1, 1));
    assert_eq!(counts(&p).await.1, 3);
}

#[tokio::test]
async fn a_dry_run_checks_without_writing() {
    let p = TestPortal::start().await;
    let opts = kenpo_portal::import::Options {
        encoding: EncodingChoice::Auto,
        dry_run: true,
        file_name: "x.csv".into(),
    };
    let r = kenpo_portal::import::run(
        &p.state.db,
        Kind::Medical,
        MEDICAL.as_bytes(),
        &opts,
        p.state.now(),
        p.state.today(),
    )
    .await
    .unwrap();
    assert_eq!(r.rows, 7);
    assert!(r.to_string().contains("would import 7 rows"));
    assert_eq!(counts(&p).await, (0, 0, 0));
}

#[tokio::test]
async fn months_in_the_future_are_refused() {
    let p = TestPortal::start().await; // today is 2025-12-01 in Japan
    let file = format!(
        "{MEDICAL_HEADER}\n34,1234567,00,a,2026-01,調剤,b,1,10,7,0,3\n34,1234567,00,a,R7.12,調剤,b,1,10,7,0,3\n"
    );
    let errors = invalid(p.import(Kind::Medical, &file).await);
    assert!(
        has(&errors, 2, Some("treatment_month"), "in the future"),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 1, "令和7年12月 is this month: {errors:?}");
}
