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
use std::collections::{BTreeSet, HashMap};
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
    let mut errors = Vec::new();
    let index = header_index(&header, columns)?;
    let mut rows = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                errors.push(RowError {
                    line,
                    column: None,
                    message: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, csv::Position::line);
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
        ($module:ident) => {{
            let p = $module::parse(&text, today, &id, now).map_err(ImportError::Invalid)?;
            let (n, h) = (p.rows.len(), p.households);
            let replaced = if opts.dry_run {
                0
            } else {
                $module::write(db, p.rows, record(n, h)).await?
            };
            (n, h, p.months, replaced)
        }};
    }
    let (rows, households, months, replaced) = match kind {
        Kind::Medical => import!(medical),
        Kind::Benefits => import!(benefits),
        Kind::Eligibility => import!(eligibility),
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
