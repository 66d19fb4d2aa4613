use std::path::PathBuf;

use anyhow::{Context, bail};
use shared::demo::{ImportError, check_file, generate, import_file, read_checked};
use shared::domain::OrgId;

use super::DataDirArg;
use super::backend::{Activities, BackendArgs};

#[derive(clap::Subcommand)]
pub enum ActivitiesCommand {
    /// Import activities from a JSON Lines file; a file with any bad line stores nothing.
    Import {
        #[arg(long)]
        org: String,
        file: PathBuf,
        #[command(flatten)]
        backend: BackendArgs,
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
        backend: BackendArgs,
        #[command(flatten)]
        data: DataDirArg,
    },
}

fn check_org(org: &str) -> anyhow::Result<()> {
    match OrgId::parse(org) {
        Ok(_) => Ok(()),
        Err(e) => bail!("--org {e}, got {org:?}"),
    }
}

pub async fn run(cmd: ActivitiesCommand) -> anyhow::Result<()> {
    match cmd {
        ActivitiesCommand::Import { org, file, backend, data } => {
            check_org(&org)?;
            let imported = match backend.activities(&data.data_dir).await? {
                Activities::Sqlite(store) => import_file(&store, &org, &file).await,
                // DynamoDB has no transaction this large: the whole file is
                // checked first, so a bad line still stores nothing.
                dynamo => match check_file(&org, &file).and_then(|_| read_checked(&org, &file)) {
                    Ok(activities) => dynamo.put_all(activities).await.map_err(ImportError::from),
                    Err(e) => Err(e),
                },
            };
            match imported {
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
        ActivitiesCommand::Seed { org, count, year, seed, backend, data } => {
            check_org(&org)?;
            let years = shared::domain::YEARS;
            anyhow::ensure!(years.contains(&year), "--year must be from {} to {}", years.start(), years.end());
            anyhow::ensure!((1..=50_000_000).contains(&count), "--count must be from 1 to 50000000");
            let store = backend.activities(&data.data_dir).await?;
            let n = store.put_all(generate(&org, count, year..=year, seed)).await?;
            println!("seeded {n} activities for {org} in {year} (seed {seed})");
            Ok(())
        }
    }
}
