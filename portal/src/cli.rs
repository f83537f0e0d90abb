//! The staff and operator command line: `portal serve | migrate | import … | imports`.

use crate::config::Config;
use crate::import::{self, EncodingChoice, Kind};
use crate::startup;
use anyhow::Context;
use clap::{Parser, Subcommand};
use kenpo_shared::Clock;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "portal", about = "kenpo notice portal", version)]
pub struct Cli {
    /// Configuration file (TOML); `KENPO_PORTAL_…` environment variables override it.
    #[arg(long, short, env = "KENPO_PORTAL_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the portal.
    Serve {
        /// Write demo notices for the IdP's demo members at start.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Import notices from a CSV file (all or nothing; see docs/import-formats.md).
    Import {
        kind: Kind,
        file: PathBuf,
        /// Character encoding of the file.
        #[arg(long, value_enum, default_value_t = EncodingChoice::Auto)]
        encoding: EncodingChoice,
        /// Check the file and report, without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the latest imports.
    Imports {
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

/// Runs the staff commands (serving is in main).
pub async fn run(config: Config, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Migrate => {
            startup::open_db(&config)?;
            println!("migrations applied");
            Ok(())
        }
        Command::Import {
            kind,
            file,
            encoding,
            dry_run,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let db = startup::open_db(&config)?;
            let clock = Clock::System;
            let opts = import::Options {
                encoding,
                dry_run,
                file_name: file
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            };
            let today = crate::notices::today_jst(clock.now());
            match import::run(
                &db,
                kind,
                &bytes,
                &opts,
                clock.now().unix_timestamp(),
                today,
            )
            .await
            {
                Ok(report) => {
                    println!("{report}");
                    Ok(())
                }
                Err(import::ImportError::Invalid(errors)) => {
                    for e in &errors {
                        eprintln!("{}: {e}", file.display());
                    }
                    anyhow::bail!(
                        "{} problem(s) in {}; nothing was imported",
                        errors.len(),
                        file.display()
                    )
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Imports { limit } => {
            let db = startup::open_db(&config)?;
            let list = db.blocking(|c| crate::store::imports::latest(c, limit))?;
            for r in list {
                let at = time::OffsetDateTime::from_unix_timestamp(r.imported_at)
                    .ok()
                    .and_then(|t| {
                        t.to_offset(crate::notices::JST)
                            .format(time::macros::format_description!(
                                "[year]-[month]-[day] [hour]:[minute] JST"
                            ))
                            .ok()
                    })
                    .unwrap_or_default();
                println!(
                    "{}  {at}  {:<11} {:>7} rows  {:>6} households  replaced {:>7}  {} ({})",
                    r.id,
                    r.kind,
                    r.rows_imported,
                    r.households,
                    r.rows_replaced,
                    r.file_name,
                    r.encoding
                );
            }
            Ok(())
        }
        Command::Serve { .. } => anyhow::bail!("not a staff command"),
    }
}
