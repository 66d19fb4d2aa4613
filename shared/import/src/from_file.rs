//! Importing a file on this machine, as the command-line tool does: the
//! same path as an upload through the API (an import is made, the file
//! goes to the upload store, the run checks and writes it), so a file the
//! tool takes is a file the API takes, and the import is listed like any
//! other. The run happens here; if the stack's import function claimed
//! it first (its bucket notification), this waits for that run instead.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::domain::{Caller, CreateImportRequest, ImportFormat, ImportJob, PeriodRequest};
use crate::ports::FileStore;
use crate::run::{ImportContext, Ran, run_import};
use crate::service::ImportService;

/// How long to wait for an import another process runs.
const WAIT_FOR_OTHER_RUN: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, thiserror::Error)]
pub enum FromFileError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Storage(String),
}

/// The format a file's name says it is in.
pub fn format_of(path: &Path) -> Option<ImportFormat> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "jsonl" | "ndjson" => Some(ImportFormat::Jsonl),
        "csv" | "txt" => Some(ImportFormat::Csv),
        "xlsx" => Some(ImportFormat::Xlsx),
        _ => None,
    }
}

/// Imports `path` for `org_id`; returns the import as it ended (completed
/// or failed, with its errors).
pub async fn import_file(
    service: &ImportService,
    uploads: &dyn FileStore,
    ctx: &ImportContext,
    org_id: &str,
    format: ImportFormat,
    replace: Option<(String, String)>,
    path: &Path,
) -> Result<ImportJob, FromFileError> {
    let request = CreateImportRequest {
        org_id: Some(org_id.to_string()),
        format: Some(format.as_str().to_string()),
        replace_period: replace.map(|(from, to)| PeriodRequest { from: Some(from), to: Some(to) }),
    };
    let caller = Caller::operator();
    let view = service.create(&caller, &request, None).await.map_err(|e| match e {
        crate::service::ServiceError::Validation(errors) => FromFileError::Refused(
            errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "),
        ),
        other => FromFileError::Storage(other.to_string()),
    })?;
    let id = view.job.import_id;
    uploads
        .put(&view.job.upload_key, path, "application/octet-stream")
        .await
        .map_err(|e| FromFileError::Storage(format!("storing {}: {e}", path.display())))?;
    let started = Instant::now();
    loop {
        match run_import(ctx, &id).await.map_err(|e| FromFileError::Storage(e.to_string()))? {
            Ran::Finished(job) => return Ok(*job),
            Ran::Nothing => {
                let job = service.get(&caller, &id).await.map_err(|e| FromFileError::Storage(e.to_string()))?.job;
                if job.status.is_final() {
                    return Ok(job);
                }
                if started.elapsed() > WAIT_FOR_OTHER_RUN {
                    return Err(FromFileError::Storage(format!("import {id} is still {} elsewhere", job.status)));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
