//! The workflow's steps. Each is idempotent for its (export, attempt):
//! run twice, it does the same thing; run after a cancel, it does nothing.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::WorkflowContext;
use super::ownership::{change_if_ours, claim};
use crate::domain::{
    AuditAction, BufdirSubmission, ExportId, ExportJob, ExportStatus, FailureCode, Organisation, Progress,
    SYSTEM_WORKFLOW, Stage, StoredFile, Transition, decode_failure, encode_failure, split_failure,
};
use crate::ports::{ActivityQuery, ExportEventType, PortError, Submission};
use crate::report::{self, ReportError, ReportMeta, ReportOutput};
use crate::service::{audit, measure, publish};

/// How a step ended when it did not succeed. The names match the error
/// types the state machine's Retry and Catch blocks match on.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{0}")]
    Retryable(String),
    #[error("{0}")]
    NonRetryable(String),
    /// The job is no longer this attempt's (cancelled, deleted or retried):
    /// the workflow ends quietly.
    #[error("the export is no longer running this attempt")]
    Stopped,
}

impl From<PortError> for StepError {
    fn from(e: PortError) -> Self {
        match e {
            PortError::Transient(m) => StepError::Retryable(m),
            PortError::Conflict => StepError::Retryable("concurrent change".into()),
            PortError::InFlightCapReached | PortError::LimitReached => {
                StepError::NonRetryable("a step may not queue an export".into())
            }
            PortError::Permanent(m) => StepError::NonRetryable(m),
        }
    }
}

/// Most activities the writer takes from the source at a time.
const PULL_BATCH: usize = 256;

/// Generates the report for `attempt` and stores it. Rows stream from the
/// activity source straight into the writer; a heartbeat records progress
/// and notices a cancel within one beat.
pub async fn generate(
    ctx: &WorkflowContext,
    id: &ExportId,
    attempt: u32,
    cancel: &CancellationToken,
) -> Result<(), StepError> {
    let job = claim(ctx, id, attempt).await?;
    // The rows are read once: a total the store cannot tell without
    // reading them is estimated as they arrive (`Progress::estimated_total`).
    let known_total = ctx.activities.known_count(&query_of(&job)).await?;
    beat(ctx, id, attempt, Stage::Generating, 0, known_total.unwrap_or(0)).await?;

    std::fs::create_dir_all(&ctx.work_dir).map_err(|e| StepError::Retryable(format!("working directory: {e}")))?;
    // Dropped (and so removed) on every path out of this function.
    let work = tempfile::Builder::new()
        .prefix(&format!("{id}-a{attempt}-"))
        .tempdir_in(&ctx.work_dir)
        .map_err(|e| StepError::Retryable(format!("working directory: {e}")))?;
    let organisation = ctx.organisations.get_organisation(&job.org_id).await?;
    let output = write_with_heartbeat(ctx, &job, organisation, work.path(), known_total, cancel).await?;
    store_report(ctx, &job, &output).await
}

fn query_of(job: &ExportJob) -> ActivityQuery {
    ActivityQuery {
        org_id: job.org_id.clone(),
        from: job.period_from,
        to: job.period_to,
        types: job.activity_types.clone(),
    }
}

/// Writes the report into `dir` while beating every `ctx.heartbeat`. A
/// cancel, or a beat that finds the attempt no longer ours, halts the
/// writer at its next row, or at once while it waits for the source (a
/// slow page must not keep the file alive).
async fn write_with_heartbeat(
    ctx: &WorkflowContext,
    job: &ExportJob,
    organisation: Option<Organisation>,
    dir: &Path,
    known_total: Option<u64>,
    cancel: &CancellationToken,
) -> Result<ReportOutput, StepError> {
    let (id, attempt) = (&job.export_id, job.attempt());
    let read = Arc::new(ReadSoFar::default());
    let halt = cancel.child_token();
    let mut writer = spawn_writer(ctx, job, organisation, dir, read.clone(), halt.clone());
    let days = (job.period_to - job.period_from).num_days() as u64 + 1;
    let mut ticker = tokio::time::interval(ctx.heartbeat);
    ticker.tick().await;
    let written = loop {
        tokio::select! {
            result = &mut writer => break result.map_err(|e| StepError::NonRetryable(format!("report writer crashed: {e}")))?,
            _ = ticker.tick() => {
                let done = read.rows.load(Ordering::Relaxed);
                let total = known_total.unwrap_or_else(|| Progress::estimated_total(done, read.days.load(Ordering::Relaxed), days));
                match beat(ctx, id, attempt, Stage::Generating, done, total).await {
                    Ok(()) => {}
                    Err(StepError::Stopped) => halt.cancel(),
                    Err(e) => warn!(export_id = %id, error = %e, "progress not recorded"),
                }
            }
        }
    };
    let output = written.map_err(step_error)?;
    // A halt while waiting for the source ends the rows early, not in error.
    if halt.is_cancelled() {
        return Err(StepError::Stopped);
    }
    Ok(output)
}

/// How far the writer has come: rows written, and the days of the period
/// (from its first, counted from 1) the rows read so far reach.
#[derive(Default)]
struct ReadSoFar {
    rows: AtomicU64,
    days: AtomicU64,
}

/// The synchronous writer, on its own blocking thread, pulling the
/// activities from the async stream; `read` follows its progress.
fn spawn_writer(
    ctx: &WorkflowContext,
    job: &ExportJob,
    organisation: Option<Organisation>,
    dir: &Path,
    read: Arc<ReadSoFar>,
    halt: CancellationToken,
) -> tokio::task::JoinHandle<Result<ReportOutput, ReportError>> {
    let meta = ReportMeta {
        export_id: job.export_id.to_string(),
        org_id: job.org_id.clone(),
        organisation_name: organisation.as_ref().map(|o| o.name.clone()),
        organisation_number: organisation.and_then(|o| o.organisation_number),
        format: job.format,
        period_from: job.period_from,
        period_to: job.period_to,
        activity_types: job.activity_types.clone(),
        report_profile: job.report_profile.clone(),
        generated_at: Utc::now(),
    };
    // Whatever has arrived is taken at once, up to a batch: entering the
    // runtime for every row cost more than judging the row.
    let mut stream = ctx.activities.stream(query_of(job)).ready_chunks(PULL_BATCH);
    let dir = dir.to_path_buf();
    let runtime = tokio::runtime::Handle::current();
    let attachments = job.include_attachments.then(|| ctx.attachments.clone());
    let first_day = job.period_from;
    tokio::task::spawn_blocking(move || {
        let mut pulled = Vec::new().into_iter();
        let rows = std::iter::from_fn(|| {
            loop {
                if let Some(row) = pulled.next() {
                    return Some(row);
                }
                let chunk = runtime.block_on(async {
                    tokio::select! {
                        biased;
                        _ = halt.cancelled() => None,
                        next = stream.next() => next,
                    }
                })?;
                if let Some(Ok(last)) = chunk.last() {
                    read.days.store((last.date - first_day).num_days().max(0) as u64 + 1, Ordering::Relaxed);
                }
                pulled = chunk.into_iter();
            }
        });
        let on_row = |n| {
            read.rows.store(n, Ordering::Relaxed);
            !halt.is_cancelled()
        };
        match attachments {
            None => report::write_report(&meta, &dir, rows, on_row),
            Some(store) => {
                // Another organisation's key is as good as missing: checked
                // on the way in too, but a report never relies on that alone.
                let org = meta.org_id.clone();
                let mut fetch = |key: &str, local: &Path| {
                    if !crate::domain::attachment_key_of(&org, key) {
                        return Ok(false);
                    }
                    runtime.block_on(store.fetch(key, local))
                };
                report::write_bundle(&meta, &dir, rows, on_row, &mut fetch)
            }
        }
    })
}

/// What a writer's failure means for the step: the source's and the
/// attachments' own errors keep whether a retry can help.
fn step_error(e: ReportError) -> StepError {
    let from_port = |what: &str, e: PortError| match StepError::from(e) {
        StepError::Retryable(m) => StepError::Retryable(format!("{what} failed: {m}")),
        other => StepError::NonRetryable(format!("{what} failed: {other}")),
    };
    match e {
        ReportError::Cancelled => StepError::Stopped,
        ReportError::Source(e) => from_port("reading activities", e),
        ReportError::Attachment(e) => from_port("reading an attachment", e),
        e @ ReportError::MissingAttachment { .. } => {
            StepError::NonRetryable(encode_failure(FailureCode::AttachmentMissing, &e.to_string()))
        }
        e @ (ReportError::Write(_) | ReportError::UnknownProfile(_)) => StepError::NonRetryable(e.to_string()),
    }
}

/// Stores the written report under the attempt's prefix and records it on
/// the job, unless the attempt was cancelled meanwhile (then the file goes).
async fn store_report(ctx: &WorkflowContext, job: &ExportJob, output: &ReportOutput) -> Result<(), StepError> {
    let (id, attempt) = (&job.export_id, job.attempt());
    beat(ctx, id, attempt, Stage::Storing, output.rows, output.rows).await?;
    let sha256 = sha256_file(&output.path).await?;
    let key = format!("{}{}", job.attempt_prefix(), output.filename);
    let size_bytes = ctx.files.put(&key, &output.path, &output.content_type).await?;
    let file = StoredFile {
        key,
        filename: output.filename.clone(),
        content_type: output.content_type.clone(),
        size_bytes,
        sha256,
    };
    let rows = output.rows;
    let recorded = change_if_ours(ctx, id, attempt, |j| {
        j.file = Some(file.clone());
        j.progress = Progress { stage: Stage::Storing, rows_done: rows, rows_total: rows };
        Ok(())
    })
    .await;
    if recorded.is_err() {
        // Cancelled or deleted while the file was being stored: take it back.
        remove_attempt_files(ctx, job).await;
    }
    recorded?;
    info!(export_id = %id, attempt, rows, size_bytes, "report generated");
    Ok(())
}

/// Hands the stored report to Bufdir's receiver, when the caller asked for it.
pub async fn submit(ctx: &WorkflowContext, id: &ExportId, attempt: u32) -> Result<(), StepError> {
    let job = claim(ctx, id, attempt).await?;
    if !job.submit_to_bufdir_api || job.bufdir_submission.as_ref().is_some_and(BufdirSubmission::is_submitted) {
        return Ok(());
    }
    let file = job.file.clone().ok_or_else(|| StepError::NonRetryable("no report to submit".into()))?;
    let rows = job.progress.rows_total;
    beat(ctx, id, attempt, Stage::Submitting, rows, rows).await?;

    let work = tempfile::Builder::new()
        .prefix(&format!("{id}-submit-"))
        .tempdir_in(&ctx.work_dir)
        .map_err(|e| StepError::Retryable(format!("working directory: {e}")))?;
    let local = work.path().join(&file.filename);
    ctx.files.fetch(&file.key, &local).await?;
    let organisation = ctx.organisations.get_organisation(&job.org_id).await?;
    let submission = Submission {
        export_id: id.to_string(),
        attempt,
        org_id: job.org_id.clone(),
        organisation_name: organisation.as_ref().map(|o| o.name.clone()),
        organisation_number: organisation.and_then(|o| o.organisation_number),
        period_from: job.period_from,
        period_to: job.period_to,
        report_profile: job.report_profile.clone(),
        filename: file.filename.clone(),
        content_type: file.content_type.clone(),
        sha256: file.sha256.clone(),
        idempotency_key: job.submission_key(attempt),
    };
    change_if_ours(ctx, id, attempt, |j| {
        j.bufdir_submission.get_or_insert_with(BufdirSubmission::pending).started();
        Ok(())
    })
    .await?;
    let receipt = match ctx.submitter.submit(&submission, &local).await {
        Ok(receipt) => receipt,
        Err(e) => {
            // A receiver that keeps failing is unavailable; one that answers
            // no refused the report, unless the submitter said otherwise.
            let (default_code, final_try, said) = match StepError::from(e) {
                StepError::Retryable(m) => (FailureCode::ReceiverUnavailable, false, m),
                StepError::NonRetryable(m) => (FailureCode::ReceiverRefused, true, m),
                StepError::Stopped => return Err(StepError::Stopped),
            };
            let (code, said) = split_failure(&said).unwrap_or((default_code, &said));
            measure::submission_tried(&*ctx.metrics, Some(code));
            let message = format!("submission to Bufdir failed: {said}");
            let coded = encode_failure(code, &message);
            let error = if final_try { StepError::NonRetryable(coded) } else { StepError::Retryable(coded) };
            change_if_ours(ctx, id, attempt, |j| {
                j.bufdir_submission.get_or_insert_with(BufdirSubmission::pending).failed(message.clone(), final_try);
                Ok(())
            })
            .await?;
            return Err(error);
        }
    };
    measure::submission_tried(&*ctx.metrics, None);
    let submitted = change_if_ours(ctx, id, attempt, |j| {
        j.bufdir_submission
            .get_or_insert_with(BufdirSubmission::pending)
            .succeeded(receipt.reference.clone(), Utc::now());
        Ok(())
    })
    .await?;
    info!(export_id = %id, attempt, "report submitted to Bufdir");
    let running = Some(ExportStatus::Running);
    audit::record(&*ctx.audit, &submitted, SYSTEM_WORKFLOW, AuditAction::Submitted, running, running).await;
    publish(&*ctx.events, &*ctx.metrics, &submitted, ExportEventType::Submitted).await;
    Ok(())
}

/// Marks the export completed and announces it.
pub async fn complete(ctx: &WorkflowContext, id: &ExportId, attempt: u32) -> Result<(), StepError> {
    let retention = ctx.file_retention;
    let done = change_if_ours(ctx, id, attempt, |j| {
        if j.file.is_none() {
            return Err(StepError::NonRetryable("no report was stored".into()));
        }
        let now = Utc::now();
        j.apply(Transition::Complete, now).map_err(|e| StepError::NonRetryable(e.to_string()))?;
        j.file_expires_at = Some(now + retention);
        Ok(())
    })
    .await?;
    info!(export_id = %id, attempt, "export completed");
    let running = Some(ExportStatus::Running);
    audit::record(&*ctx.audit, &done, SYSTEM_WORKFLOW, AuditAction::Completed, running, Some(done.status)).await;
    publish(&*ctx.events, &*ctx.metrics, &done, ExportEventType::Completed).await;
    Ok(())
}

/// Marks the export failed with `failure` (a step's error text, with its
/// code when the step knew one: see `encode_failure`), removing whatever
/// the attempt stored, so a failed export never leaves a half-made file behind.
pub async fn mark_failed(ctx: &WorkflowContext, id: &ExportId, attempt: u32, failure: &str) -> Result<(), StepError> {
    let (code, message) = decode_failure(failure);
    let Some(job) = ctx.jobs.get(id).await? else { return Ok(()) };
    if job.attempt() != attempt || !job.status.is_active() {
        return Ok(());
    }
    remove_attempt_files(ctx, &job).await;
    let mut next = job.clone();
    next.fail(code, &message, Utc::now()).map_err(|e| StepError::NonRetryable(e.to_string()))?;
    next.file = None;
    if let Some(submission) = &mut next.bufdir_submission {
        submission.abandoned(&message);
    }
    next.version = job.version + 1;
    match ctx.jobs.update(&next, job.version).await {
        Ok(()) => {}
        // Someone else changed it (a cancel, a delete): their outcome stands.
        Err(PortError::Conflict) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    warn!(export_id = %id, attempt, "export failed");
    audit::record(&*ctx.audit, &next, SYSTEM_WORKFLOW, AuditAction::Failed, Some(job.status), Some(next.status)).await;
    publish(&*ctx.events, &*ctx.metrics, &next, ExportEventType::Failed).await;
    Ok(())
}

/// Runs the whole workflow for one attempt, retrying transient step
/// failures with backoff; what cannot be retried marks the export failed.
pub async fn run_export(ctx: &WorkflowContext, id: &ExportId, attempt: u32, cancel: &CancellationToken) {
    let outcome = async {
        with_retry(ctx, "generate", || generate(ctx, id, attempt, cancel)).await?;
        with_retry(ctx, "submit", || submit(ctx, id, attempt)).await?;
        with_retry(ctx, "complete", || complete(ctx, id, attempt)).await
    }
    .await;
    match outcome {
        Ok(()) | Err(StepError::Stopped) => {}
        Err(StepError::Retryable(m)) | Err(StepError::NonRetryable(m)) => {
            if let Err(e) = with_retry(ctx, "mark_failed", || mark_failed(ctx, id, attempt, &m)).await {
                warn!(export_id = %id, error = %e, "could not mark the export failed");
            }
        }
    }
}

async fn with_retry<F, Fut>(ctx: &WorkflowContext, step: &str, mut f: F) -> Result<(), StepError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), StepError>>,
{
    let mut tries = 1;
    loop {
        match f().await {
            Err(StepError::Retryable(m)) if tries < ctx.retry.max_attempts => {
                tries += 1;
                warn!(step, tries, error = %m, "step failed, retrying");
                ctx.retry.backoff.wait(tries).await;
            }
            other => return other,
        }
    }
}

/// Records progress; `Stopped` when the job is no longer ours. Not a
/// versioned write, so it never makes a user's cancel or retry conflict.
async fn beat(
    ctx: &WorkflowContext,
    id: &ExportId,
    attempt: u32,
    stage: Stage,
    done: u64,
    total: u64,
) -> Result<(), StepError> {
    let progress = Progress { stage, rows_done: done, rows_total: total };
    match ctx.jobs.record_progress(id, attempt, &progress, Utc::now()).await {
        Ok(()) => Ok(()),
        Err(PortError::Conflict) => Err(StepError::Stopped),
        Err(e) => Err(e.into()),
    }
}

async fn remove_attempt_files(ctx: &WorkflowContext, job: &ExportJob) {
    if let Err(e) = ctx.files.delete_prefix(&job.attempt_prefix()).await {
        warn!(export_id = %job.export_id, error = %e, "could not remove the attempt's files");
    }
}

async fn sha256_file(path: &Path) -> Result<String, StepError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher)?;
        Ok::<_, std::io::Error>(hex::encode(hasher.finalize()))
    })
    .await
    .map_err(|e| StepError::NonRetryable(e.to_string()))?
    .map_err(|e| StepError::Retryable(format!("reading the report: {e}")))
}
