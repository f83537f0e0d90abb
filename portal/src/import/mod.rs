//! Staff import of notices from the union's CSV exports: `portal import medical|benefits|
//! eligibility FILE.csv`. Formats: docs/import-formats.md ("Portal notices").
//!
//! An import is all or nothing: the whole file is decoded and checked first, and every problem
//! is reported with its line and column; only a clean file is written, in one transaction that
//! replaces, for each household in the file, the months (or, for eligibility, the household)
//! the file covers.

pub mod benefits;
pub mod decode;
pub mod eligibility;
pub mod fields;
pub mod medical;

pub use decode::{Encoding, EncodingChoice};

use crate::store::imports::ImportRecord;
use crate::store::{Db, StoreError};
use fields::Line;
use kenpo_shared::ids::normalize;
use std::collections::{BTreeSet, HashMap, HashSet};
use time::Date;

/// The three kinds of notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Medical,
    Benefits,
    Eligibility,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Medical => "medical",
            Kind::Benefits => "benefits",
            Kind::Eligibility => "eligibility",
        }
    }
}

/// A column of an import file: its canonical (English) header and the Japanese headers union
/// systems use for it.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ja: &'static str,
    pub aliases: &'static [&'static str],
    pub required: bool,
}

impl Column {
    /// A column every row must fill.
    pub const fn required(
        name: &'static str,
        ja: &'static str,
        aliases: &'static [&'static str],
    ) -> Column {
        Column {
            name,
            ja,
            aliases,
            required: true,
        }
    }

    /// A column that may be left out of the file or empty in a row.
    pub const fn optional(
        name: &'static str,
        ja: &'static str,
        aliases: &'static [&'static str],
    ) -> Column {
        Column {
            required: false,
            ..Column::required(name, ja, aliases)
        }
    }
}

/// One problem of an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line of the file (the header is line 1).
    pub line: u64,
    /// `name (日本語名)` of the column, when the problem is in one.
    pub column: Option<String>,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(f, "line {}, column {c}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file has {} problem(s); nothing was imported", .0.len())]
    Invalid(Vec<RowError>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a successful import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub kind: Kind,
    pub id: String,
    pub encoding: Encoding,
    pub rows: usize,
    pub households: usize,
    /// Rows of earlier imports that this one replaced.
    pub replaced: usize,
    /// The months covered (treatment months, payment months); empty for eligibility.
    pub months: BTreeSet<crate::notices::Month>,
    pub dry_run: bool,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry_run {
            "would import"
        } else {
            "imported"
        };
        write!(
            f,
            "{} {verb} {} rows for {} households ({}",
            self.kind.name(),
            self.rows,
            self.households,
            self.encoding.name()
        )?;
        match (self.months.first(), self.months.last()) {
            (Some(a), Some(b)) if a == b => write!(f, ", month {}", a.iso())?,
            (Some(a), Some(b)) => write!(f, ", months {} to {}", a.iso(), b.iso())?,
            _ => {}
        }
        if !self.dry_run {
            write!(
                f,
                "; replaced {} earlier rows; import {}",
                self.replaced, self.id
            )?;
        }
        write!(f, ")")
    }
}

/// The rows of a checked file, ready to write.
pub(crate) struct Parsed<R> {
    pub rows: Vec<R>,
    pub households: usize,
    pub months: BTreeSet<crate::notices::Month>,
}

impl<R> Parsed<R> {
    /// Counts the households (記号・番号) of `rows` and collects the months they fill.
    fn summarise(
        rows: Vec<R>,
        household: fn(&R) -> (&str, &str),
        month: fn(&R) -> Option<crate::notices::Month>,
    ) -> Parsed<R> {
        let households = rows.iter().map(household).collect::<HashSet<_>>().len();
        let months = rows.iter().filter_map(month).collect();
        Parsed {
            rows,
            households,
            months,
        }
    }
}

/// Replaces what the file covers (`replace`) and records the import, in one transaction.
async fn write<R: Send + 'static>(
    db: &Db,
    rows: Vec<R>,
    mut record: ImportRecord,
    replace: fn(&mut crate::store::DbConn, &[R]) -> crate::store::StoreResult<usize>,
) -> crate::store::StoreResult<usize> {
    db.tx(move |c| {
        let replaced = replace(c, &rows)?;
        record.rows_replaced = replaced as i64;
        crate::store::imports::record(c, &record)?;
        Ok(replaced)
    })
    .await
}

/// Reads the header and every record of `text`, calling `row` for each record; collects every
/// problem (missing columns, unreadable records, duplicates by `key`).
pub(crate) fn read_rows<R>(
    text: &str,
    columns: &'static [Column],
    today: Date,
    // What makes two rows the same, for the duplicate-row message.
    same: &'static str,
    mut row: impl FnMut(&mut Line<'_>) -> Option<R>,
    key: impl Fn(&R) -> String,
) -> Result<Vec<R>, Vec<RowError>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => {
            return Err(vec![RowError {
                line: 1,
                column: None,
                message: format!("unreadable header row: {e}"),
            }]);
        }
        None => {
            return Err(vec![RowError {
                line: 1,
                column: None,
                message: "the file is empty (a header row is required)".into(),
            }]);
        }
    };
    let lines = kenpo_shared::lines::LineIndex::new(text);
    let mut errors = Vec::new();
    let index = header_index(&header, columns)?;
    let mut rows = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| lines.line(p.byte())).unwrap_or(0);
                errors.push(RowError {
                    line,
                    column: None,
                    message: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map(|p| lines.line(p.byte())).unwrap_or(0);
        if record.iter().all(|f| f.trim().is_empty()) {
            continue; // blank lines (a trailing empty line, Excel's ",,,,") are not rows
        }
        if record.len() != header.len() {
            errors.push(RowError {
                line,
                column: None,
                message: format!(
                    "has {} fields, the header has {}",
                    record.len(),
                    header.len()
                ),
            });
            continue;
        }
        let before = errors.len();
        let mut l = Line {
            line,
            record: &record,
            index: &index,
            columns,
            errors: &mut errors,
            today,
        };
        let parsed = row(&mut l);
        if let Some(r) = parsed.filter(|_| errors.len() == before) {
            let k = key(&r);
            match seen.get(&k) {
                Some(first) => errors.push(RowError {
                    line,
                    column: None,
                    message: format!("duplicate row: line {first} has the same {same}"),
                }),
                None => {
                    seen.insert(k, line);
                    rows.push(r);
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// Finds each known column in the header (canonical or Japanese name; case, width and spaces
/// ignored). Missing required columns and unknown columns are errors on line 1.
fn header_index(
    header: &csv::StringRecord,
    columns: &'static [Column],
) -> Result<Vec<(&'static str, usize)>, Vec<RowError>> {
    let simplify = |s: &str| -> String {
        normalize(s)
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase()
    };
    let mut errors = Vec::new();
    let mut index = Vec::new();
    let mut used = vec![false; header.len()];
    for col in columns {
        let names: Vec<String> = std::iter::once(col.name)
            .chain(std::iter::once(col.ja))
            .chain(col.aliases.iter().copied())
            .map(simplify)
            .collect();
        match header.iter().position(|h| names.contains(&simplify(h))) {
            Some(i) => {
                used[i] = true;
                index.push((col.name, i));
            }
            None if col.required => errors.push(RowError {
                line: 1,
                column: Some(format!("{} ({})", col.name, col.ja)),
                message: "missing column in the header row".into(),
            }),
            None => {}
        }
    }
    for (i, h) in header.iter().enumerate() {
        if !used[i] {
            errors.push(RowError {
                line: 1,
                column: None,
                message: format!("unknown column {h:?} in the header row"),
            });
        }
    }
    if errors.is_empty() {
        Ok(index)
    } else {
        Err(errors)
    }
}

/// Options of one import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub encoding: EncodingChoice,
    pub dry_run: bool,
    /// Shown in the import record.
    pub file_name: String,
}

/// Decodes, checks and (unless a dry run) writes one file. `now` is UNIX seconds; `today` the
/// date in Japan, which bounds months and dates.
pub async fn run(
    db: &Db,
    kind: Kind,
    bytes: &[u8],
    opts: &Options,
    now: i64,
    today: Date,
) -> Result<Report, ImportError> {
    let (text, encoding) =
        decode::decode(bytes, opts.encoding).map_err(|e| ImportError::Invalid(vec![e]))?;
    let id = uuid::Uuid::now_v7().to_string();
    let record = |rows: usize, households: usize| ImportRecord {
        id: id.clone(),
        kind: kind.name().into(),
        file_name: opts.file_name.clone(),
        encoding: encoding.name().into(),
        rows_imported: rows as i64,
        rows_replaced: 0,
        households: households as i64,
        imported_at: now,
    };
    // Each arm: check everything, then write in one transaction (unless a dry run).
    macro_rules! import {
        ($module:ident, $replace:path) => {{
            let p = $module::parse(&text, today, &id, now).map_err(ImportError::Invalid)?;
            let (n, h) = (p.rows.len(), p.households);
            let replaced = if opts.dry_run {
                0
            } else {
                write(db, p.rows, record(n, h), $replace).await?
            };
            (n, h, p.months, replaced)
        }};
    }
    let (rows, households, months, replaced) = match kind {
        Kind::Medical => import!(medical, crate::store::medical::replace_months),
        Kind::Benefits => import!(benefits, crate::store::benefits::replace_months),
        Kind::Eligibility => import!(eligibility, crate::store::eligibility::replace_households),
    };
    Ok(Report {
        kind,
        id,
        encoding,
        rows,
        households,
        replaced,
        months,
        dry_run: opts.dry_run,
    })
}

#[cfg(test)]
mod properties {
    //! The import files are untrusted input: whatever the bytes, decoding and checking answer
    //! without panicking and name lines that exist; a generated file reads back row for row,
    //! whatever its line ends and encoding, and a bad row is reported on its own line.
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    const TODAY: Date = date!(2025 - 12 - 01);

    #[derive(Debug, Clone)]
    struct Gen {
        symbol: String,
        number: String,
        branch: u8,
        month: (i32, u8),
        category: &'static str,
        name: &'static str,
        days: u8,
        insurer: u32,
        public: u32,
        own: u32,
    }

    fn row() -> impl Strategy<Value = Gen> {
        (
            "[1-9][0-9]{0,7}",
            "[1-9][0-9]{0,9}",
            0u8..100,
            (1990i32..=2025, 1u8..=11),
            prop::sample::select(vec!["医科外来", "医科入院", "歯科外来", "調剤", "訪問看護"]),
            prop::sample::select(vec!["健保 花子", "山田 太郎", "髙橋 一郎", "ｹﾝﾎﾟ"]),
            0u8..=31,
            (0u32..10_000_000, 0u32..1_000_000, 0u32..10_000_000),
        )
            .prop_map(
                |(symbol, number, branch, month, category, name, days, (insurer, public, own))| {
                    Gen {
                        symbol,
                        number,
                        branch,
                        month,
                        category,
                        name,
                        days,
                        insurer,
                        public,
                        own,
                    }
                },
            )
    }

    fn line(g: &Gen, i: usize) -> String {
        let total = u64::from(g.insurer) + u64::from(g.public) + u64::from(g.own);
        format!(
            "{},{},{:02},{},{}-{:02},{},医院{i},{},{},{},{},{}",
            g.symbol,
            g.number,
            g.branch,
            g.name,
            g.month.0,
            g.month.1,
            g.category,
            g.days,
            total,
            g.insurer,
            g.public,
            g.own
        )
    }

    /// Joins lines with the chosen ends (0 LF, 1 CRLF) and encodes (0 UTF-8, 1 BOM, 2 SJIS).
    fn file(lines: &[String], ends: &[u8], encoding: u8) -> Vec<u8> {
        let mut text = String::new();
        for (i, l) in lines.iter().enumerate() {
            text.push_str(l);
            text.push_str(if ends[i % ends.len()] == 1 {
                "\r\n"
            } else {
                "\n"
            });
        }
        match encoding {
            0 => text.into_bytes(),
            1 => [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
            _ => encoding_rs::SHIFT_JIS.encode(&text).0.into_owned(),
        }
    }

    const HEADER: &str = "記号,番号,枝番,受診者氏名,診療年月,区分,医療機関名,日数,医療費総額,保険者負担額,公費負担額,自己負担額";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_bytes_are_answered_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let lines = bytes.iter().filter(|b| **b == b'\n').count() as u64 + 1;
            if let Ok((text, _)) = decode::decode(&bytes, EncodingChoice::Auto) {
                let results = [
                    medical::parse(&text, TODAY, "i", 0).err(),
                    benefits::parse(&text, TODAY, "i", 0).err(),
                    eligibility::parse(&text, TODAY, "i", 0).err(),
                ];
                for errors in results.into_iter().flatten() {
                    for e in errors {
                        prop_assert!((1..=lines).contains(&e.line), "{e} of {lines} lines");
                    }
                }
            }
        }

        #[test]
        fn csv_like_text_is_answered_without_panic(
            cells in prop::collection::vec("[0-9a-z,\"\r\n 記号番号枝番-]{0,12}", 0..30)
        ) {
            let text = format!("{HEADER}\n{}", cells.join(","));
            let _ = medical::parse(&text, TODAY, "i", 0);
        }

        #[test]
        fn a_generated_file_reads_back_row_for_row(
            rows in prop::collection::vec(row(), 1..12),
            ends in prop::collection::vec(0u8..2, 1..4),
            encoding in 0u8..3,
        ) {
            let mut lines = vec![HEADER.to_string()];
            lines.extend(rows.iter().enumerate().map(|(i, g)| line(g, i)));
            let bytes = file(&lines, &ends, encoding);
            let (text, _) = decode::decode(&bytes, EncodingChoice::Auto).unwrap();
            let parsed = medical::parse(&text, TODAY, "i", 0).unwrap();
            prop_assert_eq!(parsed.rows.len(), rows.len());
            for (got, want) in parsed.rows.iter().zip(&rows) {
                prop_assert_eq!(&got.symbol, &want.symbol);
                prop_assert_eq!(&got.number, &want.number);
                prop_assert_eq!(got.branch.clone(), format!("{:02}", want.branch));
                prop_assert_eq!(got.treatment_month, want.month.0 * 100 + i32::from(want.month.1));
                prop_assert_eq!(got.own_share, i64::from(want.own));
                prop_assert_eq!(got.days, i32::from(want.days));
                prop_assert_eq!(got.patient_name.as_str(), want.name);
            }
        }

        #[test]
        fn a_bad_row_is_reported_on_its_own_line(
            rows in prop::collection::vec(row(), 1..12),
            bad in any::<prop::sample::Index>(),
            ends in prop::collection::vec(0u8..2, 1..4),
            encoding in 0u8..3,
        ) {
            let k = bad.index(rows.len());
            let mut lines = vec![HEADER.to_string()];
            lines.extend(rows.iter().enumerate().map(|(i, g)| {
                let l = line(g, i);
                // A 番号 with a letter in it.
                if i == k { l.replacen(&format!(",{},", g.number), ",12X4,", 1) } else { l }
            }));
            let bytes = file(&lines, &ends, encoding);
            let (text, _) = decode::decode(&bytes, EncodingChoice::Auto).unwrap();
            let errors = medical::parse(&text, TODAY, "i", 0).err().unwrap_or_default();
            let on: Vec<u64> = errors.iter().map(|e| e.line).collect();
            prop_assert_eq!(on, vec![k as u64 + 2], "{:?}", errors);
        }
    }
}
