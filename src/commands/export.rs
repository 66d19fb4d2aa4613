use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use shared::domain::{Caller, CreateExportRequest, ExportStatus, Progress, Stage};
use shared::service::ServiceError;

use super::DataDirArg;
use shared::adapters::embedded::EmbeddedApp;

#[derive(clap::Args)]
pub struct ExportArgs {
    #[arg(long)]
    org: String,
    /// First day, YYYY-MM-DD.
    #[arg(long)]
    from: String,
    /// Last day, YYYY-MM-DD.
    #[arg(long)]
    to: String,
    #[arg(long, default_value = "excel", value_parser = ["excel", "csv", "json"])]
    format: String,
    /// Activity types, comma separated; all when left out.
    #[arg(long, value_delimiter = ',')]
    types: Vec<String>,
    /// Report profile (counting rules); default "standard".
    #[arg(long)]
    profile: Option<String>,
    /// Bundle the report with the activities' attachment files (from the
    /// data directory's attachments/ folder) and a manifest, in one ZIP.
    #[arg(long)]
    include_attachments: bool,
    /// Where to write the file (default: its own name in the current folder).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    data: DataDirArg,
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let app = EmbeddedApp::open(&args.data.data_dir, "http://localhost", 1)?;
    let caller = Caller::operator();
    let request = CreateExportRequest {
        org_id: Some(args.org.clone()),
        format: Some(args.format.clone()),
        period_from: Some(args.from.clone()),
        period_to: Some(args.to.clone()),
        activity_types: (!args.types.is_empty()).then(|| args.types.clone()),
        include_attachments: Some(args.include_attachments),
        submit_to_bufdir_api: Some(false),
        report_profile: args.profile.clone(),
    };
    let started = Instant::now();
    let job = match app.service.create(&caller, &request).await {
        Ok(job) => job,
        Err(ServiceError::Validation(errors)) => {
            let list: Vec<String> = errors.iter().map(|e| format!("{} {}", e.field, e.message)).collect();
            bail!("invalid export: {}", list.join("; "))
        }
        Err(e) => return Err(e.into()),
    };
    let id = job.export_id.clone();
    eprintln!("export {id}: queued, estimated {} s", job.estimated_duration_seconds);

    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    let mut line = ProgressLine::new();
    let view = loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::signal::ctrl_c() => {
                app.service.cancel(&caller, &id, Some("interrupted on the command line".into())).await?;
                app.runner.wait_idle().await;
                bail!("export {id} cancelled");
            }
        }
        let view = app.service.get(&caller, &id).await?;
        line.show(view.job.status, &view.job.progress, started.elapsed());
        if !view.job.status.is_active() {
            break view;
        }
    };
    app.runner.wait_idle().await;
    let job = view.job;
    match (job.status, &job.file) {
        (ExportStatus::Completed, Some(file)) => {
            let out = args.out.unwrap_or_else(|| PathBuf::from(&file.filename));
            shared::ports::FileStore::fetch(&*app.files, &file.key, &out)
                .await
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{} ({} activities, {} bytes) in {:.1} s",
                out.display(),
                job.progress.rows_total,
                file.size_bytes,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        _ => bail!("export {id} {}: {}", job.status, job.error_message.unwrap_or_default()),
    }
}

/// The export's progress on stderr: on a terminal one line redrawn in
/// place; in a log or a pipe, where a carriage return would run the
/// updates together, one line each time the status or stage changes.
struct ProgressLine {
    live: bool,
    last: Option<(ExportStatus, Stage)>,
}

impl ProgressLine {
    fn new() -> Self {
        ProgressLine { live: std::io::stderr().is_terminal(), last: None }
    }

    fn show(&mut self, status: ExportStatus, progress: &Progress, elapsed: Duration) {
        let stage = serde_json::to_value(progress.stage).ok().and_then(|v| v.as_str().map(str::to_string));
        let text = format!(
            "{:<10} {:<11} {:>9}/{:<9} rows  {:>6.1} s",
            status.to_string(),
            stage.unwrap_or_default(),
            progress.rows_done,
            progress.rows_total,
            elapsed.as_secs_f64()
        );
        if self.live {
            eprint!("\r{text}");
            if !status.is_active() {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        } else if self.last != Some((status, progress.stage)) {
            eprintln!("{text}");
            self.last = Some((status, progress.stage));
        }
    }
}
