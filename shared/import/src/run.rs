//! Running one import, the same on every backend: once its file has
//! arrived, every row is read and checked, and only if all of them pass
//! does anything of it take effect. A store that writes an import
//! atomically (SQLite) is handed the rows as they are checked, in one pass,
//! and the import is dropped at the first bad row; any other (DynamoDB) is
//! written in a second pass over the file once all rows passed. Safe to run twice
//! (a redelivered queue message, a restarted server): a finished import is
//! left alone, and an unfinished one is done again from the start, which
//! writes the same activities. A run claims its import with a lease (see
//! `ImportJob::lease_until`), so two deliveries of one import never run
//! side by side.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use tracing::{info, warn};

use crate::domain::{Activity, ImportFormat, ImportId, ImportJob, ImportMove, ImportStatus, MAX_IMPORT_RUNS, RowError};
use crate::domain::{Checker, checked_again};
use crate::ports::{
    ActivityStore, AttachmentUploads, EventPublisher, FileStore, ImportEvent, ImportEventType, ImportStore,
    ImportWriter, Metrics, PortError,
};
use crate::read::{self, FileError};
use crate::service::{claim_attachments, measure};

/// Activities handed to the store at a time.
const WRITE_BATCH: usize = 1000;

/// What an import needs.
#[derive(Clone)]
pub struct ImportContext {
    pub imports: Arc<dyn ImportStore>,
    pub activities: Arc<dyn ActivityStore>,
    /// Where uploaded files are.
    pub uploads: Arc<dyn FileStore>,
    /// Scratch space for a copy of the upload, when the store cannot
    /// hand it over in place (`FileStore::local_path`).
    pub work_dir: PathBuf,
    /// How often progress is recorded (which renews the run's lease).
    pub progress_every: Duration,
    /// How long a run's claim on its import lasts unrenewed: longer than
    /// any stretch without progress (fetching the file, a batch write),
    /// and on AWS the import function's timeout, so a run that is killed
    /// is taken over only once it surely stopped.
    pub lease: Duration,
    /// Where files uploaded through the API wait for an activity to name
    /// them; the rows written claim theirs.
    pub attachments: Option<Arc<dyn AttachmentUploads>>,
    /// Where `import.completed` and `import.failed` are announced.
    pub events: Option<Arc<dyn EventPublisher>>,
    pub metrics: Arc<dyn Metrics>,
}

/// Why a run stopped without finishing the import.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Worth running again later (storage briefly unavailable); the import
    /// is left as it was.
    #[error("{0}")]
    Retryable(String),
}

impl From<PortError> for RunError {
    fn from(e: PortError) -> Self {
        RunError::Retryable(e.to_string())
    }
}

/// How the work on an import ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ran {
    /// Nothing to do: no such import, already final, or no file yet.
    Nothing,
    /// Boxed: a job is large and `Nothing` is the common answer.
    Finished(Box<ImportJob>),
}

/// Runs the import if its file is there; see the module's description.
pub async fn run_import(ctx: &ImportContext, id: &ImportId) -> Result<Ran, RunError> {
    let Some(mut job) = ctx.imports.get_import(id).await? else { return Ok(Ran::Nothing) };
    if job.status.is_final() {
        // A file that came after the import ended (too late, or a second
        // upload to a used link) is never read: it goes now rather than
        // lying in the upload store until a lifecycle rule finds it.
        if let Err(e) = ctx.uploads.delete_prefix(&upload_folder(&job.upload_key)).await {
            // best effort: the bucket's lifecycle rule removes it otherwise
            warn!(import_id = %id, error = %e, "late upload not removed");
        }
        return Ok(Ran::Nothing);
    }
    if job.is_claimed(Utc::now()) {
        return Ok(Ran::Nothing);
    }
    let Some(size) = ctx.uploads.size_of(&job.upload_key).await? else { return Ok(Ran::Nothing) };
    let lease = chrono::Duration::from_std(ctx.lease).unwrap_or(chrono::Duration::minutes(15));
    job = match change(ctx, job, |j| {
        let now = Utc::now();
        if j.status.is_final() || j.is_claimed(now) {
            return false;
        }
        if j.status == ImportStatus::AwaitingUpload && j.apply(ImportMove::Check, now).is_err() {
            return false;
        }
        j.lease_until = Some(now + lease);
        j.runs += 1;
        true
    })
    .await?
    {
        Some(j) => j,
        None => return Ok(Ran::Nothing),
    };
    if job.runs > MAX_IMPORT_RUNS {
        let message = format!(
            "the import was started {} times without finishing; nothing more is tried (make a new import)",
            job.runs - 1
        );
        return finish_failed(ctx, job, "import_stalled", message, Errors::none()).await;
    }
    if size > job.max_upload_bytes {
        let message = format!("the file is {size} bytes, more than the {} allowed", job.max_upload_bytes);
        return finish_failed(ctx, job, "upload_too_large", message, Errors::none()).await;
    }
    // Held until the import is over: a fetched copy goes with it.
    let (local, _work) = match ctx.uploads.local_path(&job.upload_key) {
        Some(path) => (path, None),
        None => {
            std::fs::create_dir_all(&ctx.work_dir)
                .map_err(|e| RunError::Retryable(format!("working directory: {e}")))?;
            let work = tempfile::Builder::new()
                .prefix(&format!("{id}-"))
                .tempdir_in(&ctx.work_dir)
                .map_err(|e| RunError::Retryable(format!("working directory: {e}")))?;
            let local = work.path().join("upload");
            ctx.uploads.fetch(&job.upload_key, &local).await?;
            (local, Some(work))
        }
    };

    info!(import_id = %id, org_id = %job.org_id, format = job.format.as_str(), "import checking rows");
    let (checked, written) = if ctx.activities.imports_atomically() {
        match check_and_write(ctx, &mut job, local.clone()).await? {
            Err(file) => (Err(file), None),
            Ok(pass) => (Ok((pass.rows, pass.errors)), Some((pass.writer, pass.attachment_keys))),
        }
    } else {
        (validate(ctx, &mut job, local.clone()).await?, None)
    };
    let (rows, errors) = match checked {
        Err(file) => return finish_failed(ctx, job, file.code, file.message, Errors::none()).await,
        Ok(v) => v,
    };
    if errors.count > 0 || rows == 0 {
        // Dropped unfinished, the writer leaves nothing behind.
        drop(written);
        if rows == 0 {
            return finish_failed(ctx, job, "empty_file", "the file has no activities".into(), Errors::none()).await;
        }
        let message = format!("{} problems in the file; nothing was imported", errors.count);
        return finish_failed(ctx, job, "invalid_rows", message, Errors { rows: Some(rows), ..errors }).await;
    }

    job = match change(ctx, job, |j| {
        j.rows_total = rows;
        j.apply(ImportMove::Write, Utc::now()).is_ok() || j.status == ImportStatus::Importing
    })
    .await?
    {
        Some(j) => j,
        None => return Ok(Ran::Nothing),
    };
    let outcome = match written {
        Some((writer, keys)) => {
            let outcome = writer.finish().await?;
            if let Some(uploads) = &ctx.attachments {
                for key in keys {
                    if let Err(e) = uploads.claim(&key).await {
                        warn!(import_id = %id, error = %e, "an uploaded attachment was not claimed");
                    }
                }
            }
            outcome
        }
        None => {
            info!(import_id = %id, rows, "import writing rows");
            write(ctx, &mut job, local).await?
        }
    };
    let folder = upload_folder(&job.upload_key);
    let done = change(ctx, job, |j| {
        j.rows_written = outcome.written;
        j.rows_removed = outcome.removed;
        j.lease_until = None;
        j.apply(ImportMove::Complete, Utc::now()).is_ok()
    })
    .await?;
    let _ = ctx.uploads.delete_prefix(&folder).await;
    info!(import_id = %id, written = outcome.written, removed = outcome.removed, "import completed");
    announce(ctx, done.as_ref(), ImportEventType::Completed).await;
    Ok(done.map_or(Ran::Nothing, |job| Ran::Finished(Box::new(job))))
}

/// The folder an import's upload is kept in (its key without the file
/// name): removed once the import is over, whichever way.
fn upload_folder(key: &str) -> String {
    match key.rsplit_once('/') {
        Some((folder, _)) => format!("{folder}/"),
        None => key.to_string(),
    }
}

struct Errors {
    count: u64,
    kept: Vec<RowError>,
    /// The rows the first pass read, when it read the whole file.
    rows: Option<u64>,
}

impl Errors {
    fn none() -> Self {
        Errors { count: 0, kept: Vec::new(), rows: None }
    }

    fn add(&mut self, problems: Vec<RowError>) {
        for p in problems {
            self.count += 1;
            if self.kept.len() < crate::domain::MAX_KEPT_ERRORS {
                self.kept.push(p);
            }
        }
    }
}

/// The first pass: every row read and checked, nothing written. Returns
/// the number of rows and their problems, or why the file is unreadable.
async fn validate(
    ctx: &ImportContext,
    job: &mut ImportJob,
    local: PathBuf,
) -> Result<Result<(u64, Errors), FileError>, RunError> {
    let read_so_far = Arc::new(AtomicU64::new(0));
    let (format, org, replace) = (job.format, job.org_id.clone(), job.replace_period);
    let counter = read_so_far.clone();
    let mut pass = tokio::task::spawn_blocking(move || -> Result<(u64, Errors), FileError> {
        let mut checker = Checker::new(&org, replace);
        let mut errors = Errors::none();
        let mut rows = 0u64;
        for row in read::open(format, &local)? {
            let row = row?;
            rows += 1;
            counter.store(rows, Ordering::Relaxed);
            let problems = match row.record {
                Ok(record) => checker.check(row.line, record).err(),
                Err(problems) => Some(problems),
            };
            errors.add(problems.unwrap_or_default());
        }
        errors.kept.sort_by_key(|e| e.line);
        Ok((rows, errors))
    });
    let mut ticker = tokio::time::interval(ctx.progress_every);
    ticker.tick().await;
    loop {
        tokio::select! {
            done = &mut pass => {
                return done.map_err(|e| RunError::Retryable(format!("checking rows stopped: {e}")));
            }
            _ = ticker.tick() => record_progress(ctx, job, |j| j.rows_total = read_so_far.load(Ordering::Relaxed)).await,
        }
    }
}

/// The one pass of an import into a store that writes it atomically.
struct Pass {
    rows: u64,
    errors: Errors,
    /// Holding every row, unfinished: finished, the import takes effect;
    /// dropped, nothing of it stays.
    writer: Box<dyn ImportWriter>,
    /// The uploaded attachments the rows name, claimed once the import took effect.
    attachment_keys: Vec<String>,
}

/// Checks every row and, while all rows so far were good, hands them to
/// the writer as it goes, on the other core: a good file is read once.
/// The first bad row stops the writing; the checking goes on, to name
/// every problem.
async fn check_and_write(
    ctx: &ImportContext,
    job: &mut ImportJob,
    local: PathBuf,
) -> Result<Result<Pass, FileError>, RunError> {
    let mut writer = ctx.activities.begin_import(&job.org_id, &job.import_id, job.replace_period).await?;
    let read_so_far = Arc::new(AtomicU64::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Activity>>(2);
    let (format, org, replace) = (job.format, job.org_id.clone(), job.replace_period);
    let counter = read_so_far.clone();
    let pass = tokio::task::spawn_blocking(move || -> Result<(u64, Errors), FileError> {
        let mut checker = Checker::new(&org, replace);
        let mut errors = Errors::none();
        let mut rows = 0u64;
        let mut batch = Vec::with_capacity(WRITE_BATCH);
        for row in read::open(format, &local)? {
            let row = row?;
            rows += 1;
            counter.store(rows, Ordering::Relaxed);
            match row.record.and_then(|record| checker.check(row.line, record)) {
                Ok(activity) if errors.count == 0 => {
                    batch.push(activity);
                    if batch.len() == WRITE_BATCH {
                        // A writer that went away has failed; the caller hears why.
                        let _ = tx.blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(WRITE_BATCH)));
                    }
                }
                Ok(_) => {}
                Err(problems) => {
                    batch.clear();
                    errors.add(problems);
                }
            }
        }
        if errors.count == 0 && !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
        errors.kept.sort_by_key(|e| e.line);
        Ok((rows, errors))
    });
    let mut attachment_keys = Vec::new();
    let mut failed = None;
    let mut ticker = tokio::time::interval(ctx.progress_every);
    ticker.tick().await;
    loop {
        tokio::select! {
            next = rx.recv() => match next {
                None => break,
                Some(batch) if failed.is_none() => {
                    if ctx.attachments.is_some() {
                        attachment_keys.extend(batch.iter().flat_map(|a| a.attachments.iter().map(|f| f.key.clone())));
                    }
                    if let Err(e) = writer.write(batch).await {
                        failed = Some(e);
                    }
                }
                Some(_) => {}
            },
            _ = ticker.tick() => record_progress(ctx, job, |j| j.rows_total = read_so_far.load(Ordering::Relaxed)).await,
        }
    }
    let checked = pass.await.map_err(|e| RunError::Retryable(format!("checking rows stopped: {e}")))?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(checked.map(|(rows, errors)| Pass { rows, errors, writer, attachment_keys }))
}

/// The second pass: the same rows, now known good, written in batches.
async fn write(
    ctx: &ImportContext,
    job: &mut ImportJob,
    local: PathBuf,
) -> Result<crate::ports::ImportOutcome, RunError> {
    let mut writer = ctx.activities.begin_import(&job.org_id, &job.import_id, job.replace_period).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<Activity>, String>>(2);
    let (format, org): (ImportFormat, String) = (job.format, job.org_id.clone());
    tokio::task::spawn_blocking(move || {
        let send = |batch| tx.blocking_send(batch).is_ok();
        let rows = match read::open(format, &local) {
            Ok(rows) => rows,
            Err(e) => return send(Err(e.message)),
        };
        let mut batch = Vec::with_capacity(WRITE_BATCH);
        for row in rows {
            // The first pass read every row good; anything else now means
            // the file changed under us, and nothing must be half-written.
            let checked = row.map_err(|e| e.message).and_then(|row| {
                let changed = || format!("row {} changed since it was checked", row.line);
                checked_again(&org, row.record.map_err(|_| changed())?).map_err(|_| changed())
            });
            match checked {
                Ok(a) => batch.push(a),
                Err(e) => return send(Err(e)),
            }
            if batch.len() == WRITE_BATCH && !send(Ok(std::mem::replace(&mut batch, Vec::with_capacity(WRITE_BATCH)))) {
                return false;
            }
        }
        batch.is_empty() || send(Ok(batch))
    });
    let mut written = 0u64;
    let mut ticker = tokio::time::interval(ctx.progress_every);
    ticker.tick().await;
    loop {
        tokio::select! {
            next = rx.recv() => match next {
                None => break,
                Some(Err(e)) => return Err(RunError::Retryable(format!("reading the file again failed: {e}"))),
                Some(Ok(batch)) => {
                    written += batch.len() as u64;
                    let named: Vec<Activity> = match &ctx.attachments {
                        Some(_) => batch.iter().filter(|a| !a.attachments.is_empty()).cloned().collect(),
                        None => Vec::new(),
                    };
                    writer.write(batch).await?;
                    if let Some(uploads) = &ctx.attachments && !named.is_empty() {
                        claim_attachments(uploads.as_ref(), &named).await;
                    }
                }
            },
            _ = ticker.tick() => record_progress(ctx, job, |j| j.rows_written = written).await,
        }
    }
    Ok(writer.finish().await?)
}

/// Records progress on the import and renews the run's lease; a lost race
/// only skips one record.
async fn record_progress(ctx: &ImportContext, job: &mut ImportJob, f: impl Fn(&mut ImportJob)) {
    let mut next = job.clone();
    f(&mut next);
    next.updated_at = Utc::now();
    next.lease_until = chrono::Duration::from_std(ctx.lease).ok().map(|lease| next.updated_at + lease);
    next.version = job.version + 1;
    match ctx.imports.update_import(&next, job.version).await {
        Ok(()) => *job = next,
        Err(PortError::Conflict) => {
            if let Ok(Some(fresh)) = ctx.imports.get_import(&job.import_id).await {
                *job = fresh;
            }
        }
        Err(e) => warn!(import_id = %job.import_id, error = %e, "import progress not recorded"),
    }
}

/// Applies `f` to the freshest copy and writes it back; `None` when `f`
/// says the import is no longer in a state this run may change.
async fn change(
    ctx: &ImportContext,
    mut job: ImportJob,
    mut f: impl FnMut(&mut ImportJob) -> bool,
) -> Result<Option<ImportJob>, RunError> {
    for _ in 0..8 {
        let mut next = job.clone();
        if !f(&mut next) {
            return Ok(None);
        }
        next.updated_at = Utc::now();
        next.version = job.version + 1;
        match ctx.imports.update_import(&next, job.version).await {
            Ok(()) => return Ok(Some(next)),
            Err(PortError::Conflict) => match ctx.imports.get_import(&job.import_id).await? {
                Some(fresh) => job = fresh,
                None => return Ok(None),
            },
            Err(e) => return Err(e.into()),
        }
    }
    Err(RunError::Retryable("the import kept changing".into()))
}

async fn finish_failed(
    ctx: &ImportContext,
    job: ImportJob,
    code: &str,
    message: String,
    errors: Errors,
) -> Result<Ran, RunError> {
    warn!(import_id = %job.import_id, code, "import failed");
    let folder = upload_folder(&job.upload_key);
    let failed = change(ctx, job, |j| {
        j.error_code = Some(code.to_string());
        j.error_message = Some(message.clone());
        j.errors = errors.kept.clone();
        j.error_count = errors.count;
        if let Some(rows) = errors.rows {
            j.rows_total = rows;
        }
        j.lease_until = None;
        j.apply(ImportMove::Fail, Utc::now()).is_ok()
    })
    .await?;
    let _ = ctx.uploads.delete_prefix(&folder).await;
    announce(ctx, failed.as_ref(), ImportEventType::Failed).await;
    Ok(failed.map_or(Ran::Nothing, |job| Ran::Finished(Box::new(job))))
}

/// Sends the outcome event of a run that ended the import; a lost event
/// is logged, never fails the import.
async fn announce(ctx: &ImportContext, job: Option<&ImportJob>, event_type: ImportEventType) {
    if let Some(job) = job {
        measure::import_ended(&*ctx.metrics, job);
    }
    let (Some(events), Some(job)) = (&ctx.events, job) else { return };
    let event = ImportEvent {
        event_type,
        import_id: job.import_id.to_string(),
        org_id: job.org_id.clone(),
        status: job.status.to_string(),
        rows_total: job.rows_total,
        rows_written: job.rows_written,
        error_count: job.error_count,
        occurred_at: job.updated_at,
    };
    if let Err(e) = events.publish(&event.into()).await {
        warn!(import_id = %job.import_id, error = %e, "import event not published");
    }
}
