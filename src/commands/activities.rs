use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use shared::adapters::embedded::{DataDir, SqliteActivities};
use shared::demo::{generate, import_file, ImportError};

use super::DataDirArg;

#[derive(clap::Subcommand)]
pub enum ActivitiesCommand {
    /// Import activities from a JSON Lines file; a file with any bad line stores nothing.
    Import {
        #[arg(long)]
        org: String,
        file: PathBuf,
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Generate realistic, deterministic activities.
    Seed {
        #[arg(long)]
        org: String,
        #[arg(long)]
        count: u64,
        /// Year the activities fall in.
        #[arg(long, default_value_t = 2025)]
        year: i32,
        /// Same seed, same activities.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        data: DataDirArg,
    },
}

fn open(data: &DataDirArg) -> anyhow::Result<Arc<SqliteActivities>> {
    let dir = DataDir::open(&data.data_dir).with_context(|| format!("opening data directory {}", data.data_dir.display()))?;
    Ok(Arc::new(SqliteActivities::open(&dir.activities_db_path())?))
}

fn check_org(org: &str) -> anyhow::Result<()> {
    let ok = (1..=100).contains(&org.len()) && org.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        bail!("--org must be 1..100 letters, digits, '-' or '_', got {org:?}");
    }
    Ok(())
}

pub async fn run(cmd: ActivitiesCommand) -> anyhow::Result<()> {
    match cmd {
        ActivitiesCommand::Import { org, file, data } => {
            check_org(&org)?;
            let store = open(&data)?;
            match import_file(&store, &org, &file).await {
                Ok(n) => {
                    println!("imported {n} activities for {org} from {}", file.display());
                    Ok(())
                }
                Err(ImportError::BadLines { lines, more }) => {
                    for l in &lines {
                        eprintln!("{}:{}: {}", file.display(), l.line, l.message);
                    }
                    let more = if more { " (and more)" } else { "" };
                    bail!("{} bad line(s){more} in {}; nothing was imported", lines.len(), file.display())
                }
                Err(e) => Err(e).with_context(|| format!("importing {}", file.display())),
            }
        }
        ActivitiesCommand::Seed { org, count, year, seed, data } => {
            check_org(&org)?;
            anyhow::ensure!((2000..=2100).contains(&year), "--year must be from 2000 to 2100");
            anyhow::ensure!((1..=50_000_000).contains(&count), "--count must be from 1 to 50000000");
            let store = open(&data)?;
            let n = store.insert_all(generate(&org, count, year..=year, seed)).await?;
            println!("seeded {n} activities for {org} in {year} (seed {seed})");
            Ok(())
        }
    }
}
