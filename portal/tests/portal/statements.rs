//! Yearly totals, the deduction statement and its CSV, checked against figures computed by
//! hand from `import::MEDICAL` (household 34/1234567, year 2025):
//!
//! | month | person | place | days | total | insurer | public | own |
//! |---|---|---|---|---|---|---|---|
//! | 2025-01 | 00 | けんぽ内科クリニック | 2 | 12,340 | 8,640 | 0 | 3,700 |
//! | 2025-01 | 00 | さくら調剤薬局 | 1 | 5,600 | 3,920 | 0 | 1,680 |
//! | 2025-03 | 01 | 市立総合病院 | 9 | 852,300 | 596,610 | 0 | 255,690 |
//! | 2025-03 | 02 | あおば歯科医院 | 3 | 21,000 | 14,700 | 0 | 6,300 |
//! | 2025-09 | 02 | みなと小児科 | 2 | 9,800 | 5,880 | 2,000 | 1,920 |
//! | **2025** | | | **17** | **901,040** | **629,750** | **2,000** | **269,290** |
//!
//! (2024-12's row and household 12's row are outside.) Person 02 alone: 5 days, own 8,220.

use crate::import::{BENEFITS, MEDICAL};
use crate::support::*;
use kenpo_portal::import::Kind;
use kenpo_portal::notices::{self, Month, Selection};

fn household_34() -> kenpo_shared::MemberKey {
    kenpo_shared::MemberKey {
        symbol: kenpo_shared::MemberSymbol::parse("34").unwrap(),
        number: kenpo_shared::MemberNumber::parse("1234567").unwrap(),
    }
}

async fn portal_with_data() -> TestPortal {
    let p = TestPortal::start().await;
    p.import(Kind::Medical, MEDICAL).await.unwrap();
    p.import(Kind::Benefits, BENEFITS).await.unwrap();
    p
}

#[tokio::test]
async fn year_totals_match_the_hand_computed_figures() {
    let p = portal_with_data().await;
    let sel = Selection {
        key: household_34(),
        branch: None,
    };
    let v = notices::medical::year_view(&p.state.db, &sel, 2025)
        .await
        .unwrap();
    let t = v.totals;
    assert_eq!(
        (
            t.rows,
            t.days,
            t.total_cost,
            t.insurer_paid,
            t.public_subsidy,
            t.own_share
        ),
        (5, 17, 901_040, 629_750, 2_000, 269_290)
    );
    let months: Vec<(Month, i64, i64)> = v
        .months
        .iter()
        .map(|b| (b.month, b.totals.total_cost, b.totals.own_share))
        .collect();
    assert_eq!(
        months,
        vec![
            (Month::new(2025, 9).unwrap(), 9_800, 1_920),
            (Month::new(2025, 3).unwrap(), 873_300, 261_990),
            (Month::new(2025, 1).unwrap(), 17_940, 5_380),
        ],
        "newest month first, each with its own totals"
    );
    assert_eq!(v.years, vec![2025, 2024]);
    let v24 = notices::medical::year_view(&p.state.db, &sel, 2024)
        .await
        .unwrap();
    assert_eq!(
        (v24.totals.total_cost, v24.totals.own_share),
        (4_000, 1_200)
    );

    // The page shows the same figures.
    let cookie = p.session("34", "1234567").await;
    let page = p.get("/medical?year=2025", &cookie).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.step(), Some("portal-medical"));
    for figure in [
        "901,040円",
        "629,750円",
        "2,000円",
        "269,290円",
        "873,300",
        "261,990",
        "17,940",
        "5,380",
    ] {
        assert!(page.body.contains(figure), "{figure} on the page");
    }
    assert!(!page.body.contains("やまだ秘密クリニック"));

    // One person: 02 only.
    let page = p.get("/medical?year=2025&branch=02", &cookie).await;
    assert!(page.body.contains("8,220円") && page.body.contains("あおば歯科医院"));
    assert!(
        !page.body.contains("市立総合病院"),
        "another person's rows are filtered out"
    );
}

#[tokio::test]
async fn the_deduction_csv_is_exactly_the_hand_computed_statement() {
    let p = portal_with_data().await;
    let cookie = p.session("34", "1234567").await;
    let csv = p.get("/medical/deduction.csv?year=2025", &cookie).await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        csv.headers["content-disposition"],
        "attachment; filename=\"iryouhi-2025.csv\""
    );
    assert_eq!(csv.headers["cache-control"], "no-store");
    let expected = "\u{feff}被保険者等の氏名,療養を受けた年月,療養を受けた者,療養を受けた病院・診療所・薬局等の名称,医療費の区分,日数,被保険者等が支払った医療費の額,保険者等の名称\r\n\
健保 花子,2025年1月,健保 花子,けんぽ内科クリニック,診療・治療,2,3700,けんぽ健康保険組合\r\n\
健保 花子,2025年1月,健保 花子,さくら調剤薬局,医薬品購入,1,1680,けんぽ健康保険組合\r\n\
健保 花子,2025年3月,健保 一郎,市立総合病院,診療・治療,9,255690,けんぽ健康保険組合\r\n\
健保 花子,2025年3月,健保 さくら,あおば歯科医院,診療・治療,3,6300,けんぽ健康保険組合\r\n\
健保 花子,2025年9月,健保 さくら,みなと小児科,診療・治療,2,1920,けんぽ健康保険組合\r\n\
合計,,,,,17,269290,\r\n";
    assert_eq!(String::from_utf8(csv.bytes.clone()).unwrap(), expected);
    assert!(
        csv.bytes.starts_with(b"\xEF\xBB\xBF"),
        "UTF-8 byte-order mark for Excel"
    );

    let one = p
        .get("/medical/deduction.csv?year=2025&branch=02", &cookie)
        .await;
    let text = String::from_utf8(one.bytes).unwrap();
    assert_eq!(text.lines().count(), 4, "header, two rows, total: {text}");
    assert!(text.ends_with("合計,,,,,5,8220,\r\n"), "{text}");

    // A year without data: header and a zero total.
    let empty = p.get("/medical/deduction.csv?year=2023", &cookie).await;
    assert!(
        String::from_utf8(empty.bytes)
            .unwrap()
            .ends_with("合計,,,,,0,0,\r\n")
    );
}

#[tokio::test]
async fn the_deduction_page_shows_the_six_items_pending_months_and_offsets() {
    let p = portal_with_data().await;
    let cookie = p.session("34", "1234567").await;
    let page = p.get("/medical/deduction?year=2025", &cookie).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.step(), Some("portal-deduction"));
    for item in [
        "被保険者等の氏名",
        "療養を受けた年月",
        "受診者",
        "医療機関・薬局等",
        "自己負担額",
        "保険者等の名称",
        "けんぽ健康保険組合",
        "269,290円",
    ] {
        assert!(page.body.contains(item), "{item}");
    }
    // Today is 2025-12-01: October to December may not have arrived yet.
    assert!(
        page.body.contains("2025年10月、2025年11月、2025年12月"),
        "pending months"
    );
    // The high-cost benefit for March reimburses costs; the sick pay does not.
    assert!(page.body.contains("高額療養費") && page.body.contains("167,122円"));
    assert!(
        !page.body.contains("186,660"),
        "sick pay is not a reimbursement"
    );
    assert!(page.body.contains("/medical/deduction.csv?year=2025"));

    let print = p.get("/medical/deduction/print?year=2025", &cookie).await;
    assert_eq!(print.step(), Some("portal-deduction-print"));
    assert!(print.body.contains("269,290円") && print.body.contains("作成日"));
    assert!(print.body.contains("/static/print.js"));

    let english = p.get("/medical/deduction?year=2025&lang=en", &cookie).await;
    assert!(
        english.body.contains("Kenpo Health Insurance Union") && english.body.contains("¥269,290")
    );
}

#[tokio::test]
async fn the_home_page_digest_follows_the_last_visit() {
    let p = portal_with_data().await;
    p.import(Kind::Eligibility, crate::import::ELIGIBILITY)
        .await
        .unwrap();
    let cookie = p.session("34", "1234567").await;
    let home = p.get("/", &cookie).await;
    assert_eq!(home.step(), Some("portal-home"));
    assert!(home.body.contains("はじめてのご利用です"));
    assert!(
        home.body.contains("269,290円"),
        "this year's own share: {}",
        home.body
    );
    assert!(home.body.contains("3人分"));
    // The December tax season hint is not shown; January–15 March it is.
    assert!(!home.body.contains("確定申告の時期です"));

    let d = notices::home::digest(
        &p.state.db,
        &household_34(),
        Some(p.state.now() - 10),
        p.state.today(),
    )
    .await
    .unwrap();
    assert_eq!(
        d.new_medical.len(),
        4,
        "four months arrived since: {:?}",
        d.new_medical
    );
    assert_eq!(d.new_payments.len(), 2);
    let later = notices::home::digest(
        &p.state.db,
        &household_34(),
        Some(p.state.now() + 10),
        time::macros::date!(2026 - 02 - 10),
    )
    .await
    .unwrap();
    assert!(later.new_medical.is_empty() && later.new_payments.is_empty());
    assert_eq!(later.deduction_year, Some(2025));
}

/// Item of issue 10 (OWASP CSV injection): names and institutions that a spreadsheet would run
/// as formulas get a leading `'`; everything else, amounts included, is written as it is.
#[tokio::test]
async fn the_deduction_csv_neutralises_formulas_and_keeps_numbers() {
    let p = TestPortal::start().await;
    let hostile = "記号,番号,枝番,受診者氏名,診療年月,区分,医療機関名,日数,医療費総額,保険者負担額,公費負担額,自己負担額
56,7654321,00,=HYPERLINK(\"https://evil.example\";\"x\"),2025-01,医科外来,+81 クリニック,1,1000,700,0,300
56,7654321,00,@SUM(1+1),2025-02,医科外来,-2+3 薬局,1,2000,1400,0,600
56,7654321,00,＝全角 太郎,2025-03,医科外来,普通の医院 =1,1,3000,2100,0,900
";
    p.import(Kind::Medical, hostile).await.unwrap();
    let cookie = p.session("56", "7654321").await;
    let csv = p.get("/medical/deduction.csv?year=2025", &cookie).await;
    assert_eq!(csv.status, 200);
    let text = String::from_utf8(csv.bytes).unwrap();
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let rows: Vec<Vec<String>> = rows
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    let cells = |i: usize| (rows[i][2].clone(), rows[i][3].clone(), rows[i][6].clone());
    assert_eq!(
        cells(0),
        (
            "'=HYPERLINK(\"https://evil.example\";\"x\")".into(),
            "'+81 クリニック".into(),
            "300".into()
        )
    );
    assert_eq!(
        cells(1),
        ("'@SUM(1+1)".into(), "'-2+3 薬局".into(), "600".into())
    );
    assert_eq!(
        cells(2),
        ("'＝全角 太郎".into(), "普通の医院 =1".into(), "900".into()),
        "only a leading formula character matters"
    );
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "no cell starts a formula: {row:?}"
            );
        }
    }
    assert_eq!(rows.last().unwrap()[6], "1800", "the total is a number");
}
