//! The export service: create, list, get, cancel, retry, delete.
//!
//! State changes are read-modify-write against the job store's version
//! check; when a concurrent writer wins, the change is re-evaluated from
//! the fresh record, so the transition table decides every race.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::access::acting_for;
use super::estimate::{estimate_rows, estimate_seconds};
use super::idempotency::{Created, IdempotencyKey, fingerprint, record_for};
use super::{ServiceError, audit, measure};
use crate::backoff::Backoff;
use crate::domain::{
    AuditAction, AuditEntry, Caller, CreateExportRequest, ExportFormat, ExportId, ExportJob, ExportStatus, FailureCode,
    FieldError, OrgScope, SYSTEM_WORKFLOW, Transition, ValidRequest, find_profile,
};
use crate::ports::{
    ActivitySource, AuditLog, BufdirSubmitter, EventPublisher, ExportEvent, ExportEventType, FileStore, JobPage,
    JobQuery, JobStore, KeyRecord, KeyedInsert, Metrics, OrganisationStore, PortError, WorkflowStarter,
};

/// The ports the service talks to.
#[derive(Clone)]
pub struct Ports {
    pub jobs: Arc<dyn JobStore>,
    pub activities: Arc<dyn ActivitySource>,
    pub files: Arc<dyn FileStore>,
    pub workflow: Arc<dyn WorkflowStarter>,
    pub events: Arc<dyn EventPublisher>,
    pub metrics: Arc<dyn Metrics>,
    pub audit: Arc<dyn AuditLog>,
    /// Where submissions went: an outbox in this service's keeping forgets
    /// an export's copies when the export is deleted.
    pub submitter: Arc<dyn BufdirSubmitter>,
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// How long a finished file is kept before it is deleted.
    pub file_retention: chrono::Duration,
    /// How long one signed download URL works.
    pub download_url_ttl: Duration,
    pub max_retries: u32,
    /// Exports one organisation may have queued or running at once.
    pub max_in_flight: u32,
    /// A running export whose heartbeat is older than this is failed by
    /// the watchdog (its worker died or hangs), so it can be retried.
    pub stall_limit: Duration,
    /// Whether a Bufdir receiver is configured. Without one, an export asking
    /// to be submitted is refused when created, rather than failing (or
    /// looking submitted) after the report is written.
    pub accepts_submissions: bool,
    /// Where and how webhooks are delivered.
    pub webhooks: super::WebhookSettings,
    /// How long an audit entry is kept, whether or not its export still exists.
    pub audit_retention: chrono::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            file_retention: chrono::Duration::days(30),
            download_url_ttl: Duration::from_secs(15 * 60),
            max_retries: 5,
            max_in_flight: crate::ports::DEFAULT_IN_FLIGHT_CAP,
            stall_limit: Duration::from_secs(10 * 60),
            // The embedded server always has one: the local receiver in its data directory.
            accepts_submissions: true,
            webhooks: super::WebhookSettings::default(),
            audit_retention: chrono::Duration::days(DEFAULT_AUDIT_RETENTION_DAYS),
        }
    }
}

/// How long audit entries are kept unless configured: a grant year and its
/// reporting deadline, with room to answer questions about it.
pub const DEFAULT_AUDIT_RETENTION_DAYS: i64 = 400;

/// How often a state change is re-evaluated after losing a race.
const MAX_WRITE_ATTEMPTS: usize = 12;

#[derive(Clone, Debug)]
pub struct ListParams {
    pub page: u32,
    pub limit: u32,
    pub status: Option<ExportStatus>,
    pub format: Option<ExportFormat>,
}

/// One export as the caller sees it, with a download URL minted now.
#[derive(Clone, Debug)]
pub struct ExportView {
    pub job: ExportJob,
    pub file_url: Option<String>,
    /// When `file_url` stops working.
    pub file_url_expires_at: Option<DateTime<Utc>>,
}

pub struct ExportService {
    pub(super) ports: Ports,
    pub(super) settings: Settings,
    /// The organisations' details: their default report profile.
    organisations: Option<Arc<dyn OrganisationStore>>,
}

impl ExportService {
    pub fn new(ports: Ports, settings: Settings) -> Self {
        ExportService { ports, settings, organisations: None }
    }

    /// Exports that name no report profile use the organisation's default.
    pub fn with_organisations(mut self, organisations: Arc<dyn OrganisationStore>) -> Self {
        self.organisations = Some(organisations);
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The request checked for this caller and this server: a submission
    /// needs a Bufdir receiver, refused before anything is stored.
    fn admit(&self, caller: &Caller, request: &CreateExportRequest) -> Result<(String, ValidRequest), ServiceError> {
        let (org_id, valid) = admit(caller, request)?;
        if valid.submit_to_bufdir_api && !self.settings.accepts_submissions {
            return Err(ServiceError::Validation(vec![FieldError::new(
                "submit_to_bufdir_api",
                "cannot be true: no Bufdir receiver is configured on this server",
            )]));
        }
        Ok((org_id, valid))
    }

    pub async fn create(&self, caller: &Caller, request: &CreateExportRequest) -> Result<ExportJob, ServiceError> {
        let (org_id, valid) = self.admit(caller, request)?;
        let valid = self.organisation_default(request, &org_id, valid).await?;
        let mut job = self.new_job(caller, org_id, valid).await?;
        // A clash of random ids is rare but possible within one day.
        let mut tries = 0;
        loop {
            match self.ports.jobs.insert(&job).await {
                Ok(()) => break,
                Err(PortError::Conflict) if tries < 3 => {
                    tries += 1;
                    job.export_id = ExportId::generate(job.created_at.date_naive());
                }
                Err(PortError::InFlightCapReached) => return Err(self.in_flight_refusal(&job.org_id).await),
                Err(e) => return Err(e.into()),
            }
        }
        info!(export_id = %job.export_id, org_id = %job.org_id, "export created");
        measure::export_created(&*self.ports.metrics, &job);
        self.audit(&job, &caller.subject, AuditAction::Created, None).await;
        self.start_workflow(job).await
    }

    /// Create under an idempotency key: the first request with the key
    /// creates the export, every later one with the same request gets the
    /// first answer again, one with another request is refused. The key
    /// and the job are stored in one atomic write, so concurrent requests
    /// with one key create one export and the rest replay it.
    pub async fn create_keyed(
        &self,
        caller: &Caller,
        request: &CreateExportRequest,
        key: &IdempotencyKey,
    ) -> Result<Created, ServiceError> {
        let (org_id, valid) = self.admit(caller, request)?;
        let fingerprint = fingerprint(&org_id, &valid);
        if let Some(existing) = self.ports.jobs.key_record(&org_id, key.as_str(), Utc::now()).await? {
            return replay(&existing, &fingerprint);
        }
        let valid = self.organisation_default(request, &org_id, valid).await?;
        let mut job = self.new_job(caller, org_id, valid).await?;
        let mut tries = 0;
        loop {
            // The store reports a live key before a full organisation, so
            // a request that lost to a concurrent one with its key (which
            // may have taken the last slot) replays that answer.
            match self.ports.jobs.insert_keyed(&job, &record_for(&job, key, &fingerprint)).await {
                Ok(KeyedInsert::Inserted) => break,
                Ok(KeyedInsert::KeyTaken(existing)) => return replay(&existing, &fingerprint),
                Err(PortError::Conflict) if tries < 3 => {
                    tries += 1;
                    job.export_id = ExportId::generate(job.created_at.date_naive());
                }
                Err(PortError::InFlightCapReached) => return Err(self.in_flight_refusal(&job.org_id).await),
                Err(e) => return Err(e.into()),
            }
        }
        info!(export_id = %job.export_id, org_id = %job.org_id, "export created under an idempotency key");
        measure::export_created(&*self.ports.metrics, &job);
        self.audit(&job, &caller.subject, AuditAction::Created, None).await;
        let job = self.start_workflow(job).await?;
        Ok(Created::first(&job))
    }

    /// A request that names no report profile gets the organisation's
    /// default one, if it stored one that still exists. Applied after the
    /// idempotency fingerprint: a repeat is the same request whatever the
    /// organisation's default has become since.
    async fn organisation_default(
        &self,
        request: &CreateExportRequest,
        org_id: &str,
        mut valid: ValidRequest,
    ) -> Result<ValidRequest, ServiceError> {
        let Some(organisations) = self.organisations.as_ref().filter(|_| request.report_profile.is_none()) else {
            return Ok(valid);
        };
        if let Some(profile) = organisations.get_organisation(org_id).await?.and_then(|o| o.default_report_profile)
            && find_profile(&profile).is_some()
        {
            valid.report_profile = profile;
        }
        Ok(valid)
    }

    async fn new_job(&self, caller: &Caller, org_id: String, valid: ValidRequest) -> Result<ExportJob, ServiceError> {
        let recent = self
            .ports
            .jobs
            .list(&JobQuery {
                scope: OrgScope::Only(vec![org_id.clone()]),
                status: Some(ExportStatus::Completed),
                format: Some(valid.format),
                page: 1,
                limit: 10,
            })
            .await?
            .jobs;

        let now = Utc::now();
        let days = (valid.period_to - valid.period_from).num_days() + 1;
        let estimate = estimate_seconds(estimate_rows(days, &recent), &recent);
        Ok(ExportJob::queued(
            ExportId::generate(now.date_naive()),
            org_id,
            valid,
            caller.subject.clone(),
            now,
            estimate,
        ))
    }

    /// Hands the job to the workflow; if that cannot happen the job is
    /// failed (and so retryable) rather than left queued with nobody to run it.
    async fn start_workflow(&self, job: ExportJob) -> Result<ExportJob, ServiceError> {
        match self.ports.workflow.start(&job).await {
            Ok(()) => Ok(job),
            Err(e) => {
                warn!(export_id = %job.export_id, error = %e, "workflow did not start");
                let message = format!("the export could not be started: {e}");
                let failed = self
                    .change(&job.export_id, |j| {
                        j.fail(FailureCode::NotStarted, &message, Utc::now())?;
                        Ok(())
                    })
                    .await;
                if let Ok(failed) = failed {
                    self.audit(&failed, SYSTEM_WORKFLOW, AuditAction::Failed, Some(ExportStatus::Queued)).await;
                    publish(&*self.ports.events, &*self.ports.metrics, &failed, ExportEventType::Failed).await;
                }
                Err(ServiceError::Unavailable("the export workflow could not be started".into()))
            }
        }
    }

    /// The answer to a create or retry the job store refused because the
    /// organisation has `max_in_flight` exports queued or running: a 429
    /// saying when one of them should be done. The store enforces the cap
    /// in the write itself; this only reads the jobs to time Retry-After.
    async fn in_flight_refusal(&self, org_id: &str) -> ServiceError {
        let limit = self.settings.max_in_flight;
        let mut active = Vec::new();
        for status in [ExportStatus::Running, ExportStatus::Queued] {
            let query = JobQuery {
                scope: OrgScope::Only(vec![org_id.to_string()]),
                status: Some(status),
                format: None,
                page: 1,
                limit: limit.clamp(1, 100),
            };
            match self.ports.jobs.list(&query).await {
                Ok(page) => active.extend(page.jobs),
                Err(e) => warn!(error = %e, "in-flight exports not read; Retry-After is a guess"),
            }
        }
        let now = Utc::now();
        let soonest = active
            .iter()
            .map(|j| {
                let since = j.started_at.unwrap_or(j.queued_at);
                j.estimated_duration_seconds as i64 - (now - since).num_seconds()
            })
            .min()
            .unwrap_or(1);
        ServiceError::TooManyInFlight { limit, retry_after: soonest.clamp(1, 300) as u64 }
    }

    pub async fn list(&self, caller: &Caller, params: &ListParams) -> Result<JobPage, ServiceError> {
        Ok(self
            .ports
            .jobs
            .list(&JobQuery {
                scope: caller.scope.clone(),
                status: params.status,
                format: params.format,
                page: params.page,
                limit: params.limit,
            })
            .await?)
    }

    /// Loads a job the caller may see; every other case is `NotFound`.
    async fn load(&self, caller: &Caller, id: &ExportId) -> Result<ExportJob, ServiceError> {
        match self.ports.jobs.get(id).await? {
            Some(job) if caller.may_act_for(&job.org_id) => Ok(job),
            _ => Err(ServiceError::NotFound),
        }
    }

    pub async fn get(&self, caller: &Caller, id: &ExportId) -> Result<ExportView, ServiceError> {
        let job = self.load(caller, id).await?;
        let now = Utc::now();
        let (file_url, file_url_expires_at) = match (&job.file, job.status, job.file_expires_at) {
            (Some(file), ExportStatus::Completed, Some(expires)) if expires > now => {
                // A link never outlives the file it points to.
                let left = (expires - now).to_std().unwrap_or_default();
                let ttl = self.settings.download_url_ttl.min(left);
                let url = self.ports.files.signed_url(&file.key, &file.filename, ttl).await?;
                let until = now + chrono::Duration::from_std(ttl).unwrap_or_default();
                (Some(url), Some(until))
            }
            _ => (None, None),
        };
        Ok(ExportView { job, file_url, file_url_expires_at })
    }

    /// A fresh link to the export's file, for `GET .../file`: a link kept
    /// anywhere keeps working for as long as the file exists, because each
    /// use signs a new one. Completed, but its file expired: `FileGone`;
    /// any other status (no file yet, or none after a failure or cancel,
    /// until a retry completes): `FileNotReady`.
    pub async fn file_link(&self, caller: &Caller, id: &ExportId) -> Result<(String, DateTime<Utc>), ServiceError> {
        let view = self.get(caller, id).await?;
        match (view.file_url, view.file_url_expires_at) {
            (Some(url), Some(until)) => Ok((url, until)),
            _ if view.job.status == ExportStatus::Completed => Err(ServiceError::FileGone),
            _ => Err(ServiceError::FileNotReady(view.job.status)),
        }
    }

    pub async fn cancel(
        &self,
        caller: &Caller,
        id: &ExportId,
        reason: Option<String>,
    ) -> Result<ExportJob, ServiceError> {
        self.load(caller, id).await?;
        let mut from = None;
        let job = self
            .change(id, |j| {
                from = Some(j.status);
                j.apply(Transition::Cancel, Utc::now())?;
                j.cancel_reason = reason.clone();
                Ok(())
            })
            .await?;
        self.audit(&job, &caller.subject, AuditAction::Cancelled, from).await;
        self.after_cancel(&job).await;
        Ok(job)
    }

    /// What happened to `job`, oldest first: asked only by GET, not by every
    /// read of a job (the command line polls `get` while an export runs).
    /// Takes the job `get` returned, so only a caller who may see it asks.
    pub async fn history(&self, job: &ExportJob) -> Result<Vec<AuditEntry>, ServiceError> {
        Ok(self.ports.audit.history(&job.export_id).await?)
    }

    /// Records `action` by `actor`, which moved the job from `from` to where it is now.
    pub(super) async fn audit(&self, job: &ExportJob, actor: &str, action: AuditAction, from: Option<ExportStatus>) {
        audit::record(&*self.ports.audit, job, actor, action, from, Some(job.status)).await;
    }

    /// Stops the work and removes whatever the cancelled attempt stored.
    async fn after_cancel(&self, job: &ExportJob) {
        info!(export_id = %job.export_id, attempt = job.attempt(), "export cancelled");
        if let Err(e) = self.ports.workflow.stop(&job.export_id, job.attempt()).await {
            warn!(export_id = %job.export_id, error = %e, "workflow stop failed; it stops by itself at its next heartbeat");
        }
        if let Err(e) = self.ports.files.delete_prefix(&job.attempt_prefix()).await {
            warn!(export_id = %job.export_id, error = %e, "could not remove the cancelled attempt's files");
        }
        publish(&*self.ports.events, &*self.ports.metrics, job, ExportEventType::Cancelled).await;
    }

    pub async fn retry(&self, caller: &Caller, id: &ExportId) -> Result<ExportJob, ServiceError> {
        self.load(caller, id).await?;
        let max = self.settings.max_retries;
        let mut from = None;
        let job = self
            .change(id, |j| {
                from = Some(j.status);
                if j.retry_count >= max && crate::domain::status::next_status(j.status, Transition::Retry).is_some() {
                    return Err(ServiceError::RetryLimit(j.retry_count));
                }
                j.apply(Transition::Retry, Utc::now())?;
                Ok(())
            })
            .await?;
        info!(export_id = %job.export_id, attempt = job.attempt(), "export retried");
        self.audit(&job, &caller.subject, AuditAction::Retried, from).await;
        self.start_workflow(job).await
    }

    pub async fn delete(&self, caller: &Caller, id: &ExportId) -> Result<(), ServiceError> {
        let job = self.load(caller, id).await?;
        self.remove(&job, &caller.subject).await.map(|_| ())
    }

    /// Deletes `job` for `actor`, cancelling it first if it runs; how many
    /// of its files went.
    async fn remove(&self, job: &ExportJob, actor: &str) -> Result<u64, ServiceError> {
        let id = &job.export_id;
        if job.status.is_active() {
            // Cancel first so the worker stops and writes no file after we clean up.
            match self
                .change(id, |j| {
                    if j.status.is_active() {
                        j.apply(Transition::Cancel, Utc::now())?;
                        j.cancel_reason = Some("deleted".into());
                    }
                    Ok(())
                })
                .await
            {
                Ok(cancelled) if cancelled.status == ExportStatus::Cancelled => {
                    if let Err(e) = self.ports.workflow.stop(&cancelled.export_id, cancelled.attempt()).await {
                        warn!(export_id = %id, error = %e, "workflow stop failed during delete");
                    }
                }
                Ok(_) => {}
                Err(ServiceError::NotFound) => return Ok(0),
                Err(e) => return Err(e),
            }
        }
        let files = self.ports.files.delete_prefix(&job.file_prefix()).await?;
        if job.submit_to_bufdir_api {
            let keys: Vec<String> = (1..=job.attempt()).map(|a| job.submission_key(a)).collect();
            self.ports.submitter.forget(&keys).await?;
        }
        self.ports.jobs.delete(id).await?;
        info!(export_id = %id, "export deleted");
        audit::record(&*self.ports.audit, job, actor, AuditAction::Deleted, Some(job.status), None).await;
        Ok(files)
    }

    /// Deletes every export of `org_id` (cancelling those that run), every
    /// file under its prefix, its idempotency keys, the audit trail of its
    /// exports and the events still held about it. Part of erasing an
    /// organisation; the caller has checked who may.
    pub async fn erase_organisation(&self, actor: &str, org_id: &str) -> Result<ErasedExports, ServiceError> {
        let mut erased = ErasedExports::default();
        let query = |page| JobQuery {
            scope: OrgScope::Only(vec![org_id.to_string()]),
            status: None,
            format: None,
            page,
            limit: ERASE_PAGE,
        };
        // Always the first page: what was on it is gone. Bounded, in case
        // the organisation keeps creating exports while it is erased.
        for _ in 0..MAX_ERASE_PAGES {
            let page = self.ports.jobs.list(&query(1)).await?;
            if page.jobs.is_empty() {
                break;
            }
            for job in &page.jobs {
                erased.files += self.remove(job, actor).await?;
                erased.exports += 1;
            }
        }
        // Files no job names any more (a delete that failed half-way).
        erased.files += self.ports.files.delete_prefix(&format!("{org_id}/")).await?;
        erased.idempotency_keys = self.ports.jobs.forget_scope(org_id).await?;
        erased.audit_entries = self.ports.audit.forget_organisation(org_id).await?;
        erased.events = self.ports.events.forget_organisation(org_id).await?;
        Ok(erased)
    }

    /// Applies `f` to the freshest copy of the job and writes it back
    /// conditionally, re-reading after a lost race.
    pub(super) async fn change<F>(&self, id: &ExportId, mut f: F) -> Result<ExportJob, ServiceError>
    where
        F: FnMut(&mut ExportJob) -> Result<(), ServiceError>,
    {
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            let Some(mut job) = self.ports.jobs.get(id).await? else {
                return Err(ServiceError::NotFound);
            };
            let expected = job.version;
            f(&mut job)?;
            job.version = expected + 1;
            match self.ports.jobs.update(&job, expected).await {
                Ok(()) => return Ok(job),
                // Another writer (a step of the workflow, another request)
                // got there first; a random pause keeps racing writers
                // from colliding again in step.
                Err(PortError::Conflict) => CONFLICT_BACKOFF.wait(attempt as u32 + 2).await,
                // A retry queues the export again: it takes a slot like a create.
                Err(PortError::InFlightCapReached) => return Err(self.in_flight_refusal(&job.org_id).await),
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Unavailable("the export is changing too often; try again".into()))
    }
}

/// What [`ExportService::erase_organisation`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErasedExports {
    pub exports: u64,
    pub files: u64,
    pub idempotency_keys: u64,
    pub audit_entries: u64,
    pub events: u64,
}

/// Exports deleted per listing while erasing an organisation.
const ERASE_PAGE: u32 = 100;
/// At most this many listings: 100 000 exports.
const MAX_ERASE_PAGES: usize = 1000;

/// Validates the request and settles which organisation it is for.
fn admit(caller: &Caller, request: &CreateExportRequest) -> Result<(String, ValidRequest), ServiceError> {
    let valid = request.validate().map_err(ServiceError::Validation)?;
    let org_id = acting_for(caller, valid.org_id.clone())?;
    Ok((org_id, valid))
}

fn replay(existing: &KeyRecord, fingerprint: &str) -> Result<Created, ServiceError> {
    if existing.fingerprint == fingerprint {
        Ok(Created::replay(existing))
    } else {
        Err(ServiceError::IdempotencyKeyReused)
    }
}

/// Between writes re-evaluated after a lost race: up to 10, 20, 40 ... 320 ms.
const CONFLICT_BACKOFF: Backoff = Backoff::new(Duration::from_millis(10), 2, Duration::from_millis(320));

/// Sends the outcome event; a lost event is logged, never fails the export.
/// Tells of `job`'s change: its subscribers by an event, operators by the
/// `export ended` log line and the metrics.
pub async fn publish(events: &dyn EventPublisher, metrics: &dyn Metrics, job: &ExportJob, event_type: ExportEventType) {
    log_outcome(job, event_type);
    measure::export_ended(metrics, job, event_type);
    let event = ExportEvent {
        event_type,
        export_id: job.export_id.to_string(),
        org_id: job.org_id.clone(),
        attempt: job.attempt(),
        status: job.status.to_string(),
        occurred_at: job.updated_at,
        error_message: job.error_message.clone(),
        error_code: job.error_code,
    };
    if let Err(e) = events.publish(&event.into()).await {
        warn!(export_id = %job.export_id, error = %e, "export event not published");
    }
}

/// The message of the one log line each export's end writes. On AWS a
/// metric filter counts the failures whose `fault` is `system` from it
/// (template.yaml, `ExportsFailedForSystemFault`), so the alarm stays
/// quiet for failures the caller has to fix.
pub const EXPORT_ENDED: &str = "export ended";

fn log_outcome(job: &ExportJob, event_type: ExportEventType) {
    let (id, attempt) = (&job.export_id, job.attempt());
    let format = job.format.as_str();
    match event_type {
        ExportEventType::Failed => {
            let code = job.error_code.unwrap_or(FailureCode::Internal);
            let fault = code.fault().as_str();
            warn!(export_id = %id, attempt, format, outcome = "failed", error_code = %code, fault, "{EXPORT_ENDED}");
        }
        ExportEventType::Completed => {
            let rows = job.progress.rows_total;
            let seconds = measure::run_seconds(job);
            info!(export_id = %id, attempt, format, outcome = "completed", rows, seconds, "{EXPORT_ENDED}");
        }
        ExportEventType::Cancelled => info!(export_id = %id, attempt, format, outcome = "cancelled", "{EXPORT_ENDED}"),
        ExportEventType::Submitted => {}
    }
}
