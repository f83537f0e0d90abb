//! Import throughput: 100,000 medical-cost rows (about 30,000 households over three months),
//! checked and written in one transaction, then imported again (every row replaced). Prints
//! figures; asserts nothing about time.
//!
//! `cargo bench -p kenpo-portal --bench import` (SQLite in a temporary folder). With
//! `KENPO_TEST_DATABASE_URL=postgres://…/db` set, the same runs against a fresh PostgreSQL
//! database on that server too. `KENPO_BENCH_ROWS` changes the row count.

use kenpo_portal::import::{self, EncodingChoice, Kind, Options};
use kenpo_portal::store::{Db, MIGRATIONS};
use std::fmt::Write;
use std::time::Instant;

const CATEGORIES: [&str; 5] = ["医科外来", "調剤", "歯科外来", "医科入院", "柔整"];
const PLACES: [&str; 6] = [
    "けんぽ内科クリニック",
    "さくら調剤薬局",
    "あおば歯科医院",
    "市立総合病院",
    "まちなか整骨院",
    "みなと小児科",
];

/// A medical file of `rows` rows with distinct keys.
fn medical_csv(rows: usize) -> String {
    let mut s = String::with_capacity(rows * 110);
    s.push_str("記号,番号,枝番,受診者氏名,診療年月,区分,医療機関名,日数,医療費総額,保険者負担額,公費負担額,自己負担額\n");
    for i in 0..rows {
        // Per household and month: up to 10 rows (persons × categories × places).
        let household = i / 10;
        let within = i % 10;
        let month = 202501 + (household % 3) as i32;
        let symbol = 10 + household % 90;
        let number = 1_000_000 + household;
        let branch = within / 5;
        let cat = CATEGORIES[within % 5];
        let place = PLACES[(within + household) % 6];
        let total = 1_000 + (i % 97) as i64 * 130;
        let own = total * 3 / 10;
        let _ = writeln!(
            s,
            "{symbol},{number},0{branch},健保 太郎{branch},{month},{cat},{place},{},{total},{},0,{own}",
            1 + i % 5,
            total - own
        );
    }
    s
}

fn fresh_postgres(base: &str) -> Option<String> {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let name = format!("kenpo_bench_{}", uuid::Uuid::new_v4().simple());
    let mut c = diesel::PgConnection::establish(base).ok()?;
    c.batch_execute(&format!("CREATE DATABASE {name}")).ok()?;
    let (prefix, _) = base.rsplit_once('/')?;
    Some(format!("{prefix}/{name}"))
}

async fn bench(label: &str, url: &str, csv: &[u8], rows: usize) {
    let db = Db::connect(url, 4).expect("database");
    db.migrate(&MIGRATIONS).expect("migrations");
    let today = time::macros::date!(2025 - 12 - 01);
    let now = 1_764_547_200;
    let mut opts = Options {
        encoding: EncodingChoice::Auto,
        dry_run: true,
        file_name: "bench.csv".into(),
    };
    let t = Instant::now();
    let report = import::run(&db, Kind::Medical, csv, &opts, now, today)
        .await
        .expect("valid file");
    let check = t.elapsed();
    assert_eq!(report.rows, rows);
    opts.dry_run = false;
    let t = Instant::now();
    let first = import::run(&db, Kind::Medical, csv, &opts, now, today)
        .await
        .expect("import");
    let write = t.elapsed();
    let t = Instant::now();
    let again = import::run(&db, Kind::Medical, csv, &opts, now + 1, today)
        .await
        .expect("re-import");
    let rewrite = t.elapsed();
    assert_eq!(again.replaced, rows);
    let per_sec = |d: std::time::Duration| rows as f64 / d.as_secs_f64();
    println!(
        "{label:<11} {rows} rows, {} households: check only {:>6.2} s ({:>7.0} rows/s) | import {:>6.2} s ({:>7.0} rows/s) | re-import replacing all {:>6.2} s ({:>7.0} rows/s)",
        first.households,
        check.as_secs_f64(),
        per_sec(check),
        write.as_secs_f64(),
        per_sec(write),
        rewrite.as_secs_f64(),
        per_sec(rewrite),
    );
}

#[tokio::main]
async fn main() {
    let rows: usize = std::env::var("KENPO_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let csv = medical_csv(rows);
    let sjis = encoding_rs::SHIFT_JIS.encode(&csv).0.into_owned();
    println!(
        "medical import benchmark ({} MB UTF-8)",
        csv.len() / 1_000_000
    );
    let dir = std::env::temp_dir().join(format!("kenpo-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    bench(
        "SQLite",
        &format!("sqlite://{}", dir.join("a.sqlite3").display()),
        csv.as_bytes(),
        rows,
    )
    .await;
    bench(
        "SQLite/SJIS",
        &format!("sqlite://{}", dir.join("b.sqlite3").display()),
        &sjis,
        rows,
    )
    .await;
    if let Ok(base) = std::env::var("KENPO_TEST_DATABASE_URL") {
        match fresh_postgres(&base) {
            Some(url) => bench("PostgreSQL", &url, csv.as_bytes(), rows).await,
            None => println!("PostgreSQL: cannot create a database at {base}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
