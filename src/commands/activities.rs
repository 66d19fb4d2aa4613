use std::path::PathBuf;

use anyhow::bail;
use shared::demo::generate;
use shared::domain::{ImportFormat, ImportStatus, OrgId};
use shared::import::from_file::{format_of, import_file};

use super::DataDirArg;
use super::backend::BackendArgs;

#[derive(clap::Subcommand)]
pub enum ActivitiesCommand {
    /// Import activities from a JSON Lines, CSV or workbook file, exactly as
    /// an upload through the API is imported: a file with any bad row
    /// stores nothing, and every bad row is named.
    Import {
        #[arg(long)]
        org: String,
        file: PathBuf,
        /// jsonl, csv or xlsx; by default from the file's extension.
        #[arg(long)]
        format: Option<String>,
        /// With --replace-to: the file is the whole truth for this period
        /// (YYYY-MM-DD); activities in it that the file does not name are removed.
        #[arg(long, requires = "replace_to")]
        replace_from: Option<String>,
        #[arg(long, requires = "replace_from")]
        replace_to: Option<String>,
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
        ActivitiesCommand::Import { org, file, format, replace_from, replace_to, backend, data } => {
            check_org(&org)?;
            let format = match format.as_deref() {
                Some(f) => match ImportFormat::parse(&f.to_ascii_lowercase()) {
                    Some(f) => f,
                    None => bail!("--format is jsonl, csv or xlsx, got {f:?}"),
                },
                None => match format_of(&file) {
                    Some(f) => f,
                    None => bail!("cannot tell the format of {} from its name; give --format", file.display()),
                },
            };
            if !file.is_file() {
                bail!("{} is not a readable file", file.display());
            }
            let importer = backend.importer(&data.data_dir).await?;
            let replace = replace_from.zip(replace_to);
            let job =
                import_file(&importer.service, importer.uploads.as_ref(), &importer.ctx, &org, format, replace, &file)
                    .await?;
            if job.status == ImportStatus::Completed {
                let removed =
                    if job.rows_removed > 0 { format!(", {} removed", job.rows_removed) } else { String::new() };
                println!(
                    "imported {} activities for {org} from {} (import {}{removed})",
                    job.rows_written,
                    file.display(),
                    job.import_id
                );
                return Ok(());
            }
            for e in &job.errors {
                let field = e.field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default();
                eprintln!("{}:{}: {field}{} ({})", file.display(), e.line, e.message, e.code);
            }
            let shown = job.errors.len() as u64;
            let more = if job.error_count > shown { format!(" (the first {shown} shown)") } else { String::new() };
            match job.error_message {
                Some(message) if job.error_count == 0 => bail!("{}: {message}; nothing was imported", file.display()),
                _ => bail!("{} problem(s){more} in {}; nothing was imported", job.error_count, file.display()),
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
