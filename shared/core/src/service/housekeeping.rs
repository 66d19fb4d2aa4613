//! Upkeep nobody asks for by request: files past their retention, and
//! exports whose worker stopped, or never started, without saying so. Locally the server runs
//! these periodically; on AWS the bucket's lifecycle rule and the
//! scheduled watchdog function do.

use std::time::Duration;

use chrono::Utc;
use tracing::{info, warn};

use super::exports::publish;

/// How each line about something the watchdog did begins (with its
/// `watchdog_action` field); the template counts them (`WatchdogActionsAlarm`).
pub const WATCHDOG_ACTED: &str = "watchdog acted";
use super::{ExportService, ServiceError};
use crate::domain::{AuditAction, ExportJob, ExportStatus, FailureCode, OrgScope, SYSTEM_WATCHDOG};
use crate::ports::{AttemptState, ExportEventType, JobQuery};

/// What one watchdog pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WatchdogReport {
    /// Running exports whose heartbeat stopped, now failed.
    pub failed_stalled: usize,
    /// Queued exports nobody was running, started again.
    pub restarted: usize,
    /// Queued exports that could not be started, now failed.
    pub failed_unstarted: usize,
}

impl ExportService {
    /// Deletes files whose `file_expires_at` has passed and forgets them on
    /// the job (the record stays, without a link). On AWS the bucket's
    /// lifecycle rule does the same; locally the server calls this
    /// periodically. Returns how many files went.
    pub async fn purge_expired_files(&self, now: chrono::DateTime<Utc>) -> Result<u64, ServiceError> {
        let mut purged = 0;
        let mut page = 1;
        loop {
            let query = JobQuery {
                scope: OrgScope::All,
                status: Some(ExportStatus::Completed),
                format: None,
                page,
                limit: 100,
            };
            let batch = self.ports.jobs.list(&query).await?;
            for job in &batch.jobs {
                let expired = job.file.is_some() && job.file_expires_at.is_some_and(|at| at <= now);
                if !expired {
                    continue;
                }
                self.ports.files.delete_prefix(&job.file_prefix()).await?;
                let forgotten = self
                    .change(&job.export_id, |j| {
                        j.file = None;
                        Ok(())
                    })
                    .await;
                match forgotten {
                    Ok(_) | Err(ServiceError::NotFound) => purged += 1,
                    Err(e) => return Err(e),
                }
                info!(export_id = %job.export_id, "expired file deleted");
            }
            if batch.jobs.len() < 100 {
                return Ok(purged);
            }
            page += 1;
        }
    }

    /// Removes audit entries past their retention (locally; DynamoDB's TTL
    /// does it on AWS). Returns how many went.
    pub async fn purge_expired_audit(&self, now: chrono::DateTime<Utc>) -> Result<u64, ServiceError> {
        Ok(self.ports.audit.purge_expired(now).await?)
    }

    /// One pass of the watchdog: running exports whose heartbeat stopped are
    /// failed ([`fail_stalled`](Self::fail_stalled)), and queued ones nobody
    /// is running are started again or failed ([`start_unstarted`](Self::start_unstarted)),
    /// so no export holds a slot of the organisation's cap for ever.
    pub async fn watchdog(&self, now: chrono::DateTime<Utc>) -> Result<WatchdogReport, ServiceError> {
        let failed_stalled = self.fail_stalled(now).await?;
        let (restarted, failed_unstarted) = self.start_unstarted(now).await?;
        Ok(WatchdogReport { failed_stalled, restarted, failed_unstarted })
    }

    /// Looks at every export queued for longer than the stall limit and asks
    /// the workflow about its attempt: one still waiting for a worker is
    /// left alone; one whose start never took (the process died between
    /// storing it and starting it, the start was throttled) is started again;
    /// one whose workflow ended while it was still queued is failed with a
    /// message saying so, and can be retried. A start that fails also fails
    /// the export. Returns (started again, failed).
    pub async fn start_unstarted(&self, now: chrono::DateTime<Utc>) -> Result<(usize, usize), ServiceError> {
        let limit = self.settings.stall_limit;
        let waited_too_long = |j: &ExportJob| {
            j.status == ExportStatus::Queued && (now - j.queued_at).to_std().is_ok_and(|age| age > limit)
        };
        let (mut restarted, mut failed) = (0, 0);
        for job in self.ports.jobs.unfinished().await?.into_iter().filter(|j| waited_too_long(j)) {
            let (id, attempt) = (&job.export_id, job.attempt());
            let message = match self.ports.workflow.attempt_state(id, attempt).await {
                Ok(AttemptState::Started) => continue,
                Ok(AttemptState::NotStarted) => match self.ports.workflow.start(&job).await {
                    Ok(()) => {
                        warn!(export_id = %id, attempt, watchdog_action = "restarted", "{WATCHDOG_ACTED}: a queued export nobody ran is started again");
                        self.audit(&job, SYSTEM_WATCHDOG, AuditAction::Restarted, Some(ExportStatus::Queued)).await;
                        restarted += 1;
                        continue;
                    }
                    Err(e) => format!("the export could not be started ({e}); retry to run it again"),
                },
                Ok(AttemptState::Ended) => {
                    "the export's workflow ended before it ran; retry to run it again".to_string()
                }
                Err(e) => {
                    warn!(export_id = %id, error = %e, "workflow of a queued export not checked; trying again next pass");
                    continue;
                }
            };
            let outcome = self
                .change(id, |j| {
                    // Only the attempt that was seen waiting: a start or a cancel since wins.
                    if j.attempt() == attempt && j.status == ExportStatus::Queued {
                        j.fail(FailureCode::NotStarted, &message, now)?;
                    }
                    Ok(())
                })
                .await;
            match outcome {
                Ok(done) if done.status == ExportStatus::Failed && done.attempt() == attempt => {
                    warn!(export_id = %id, attempt, watchdog_action = "failed_unstarted", "{WATCHDOG_ACTED}: a queued export nobody could run is failed");
                    self.audit(&done, SYSTEM_WATCHDOG, AuditAction::Failed, Some(ExportStatus::Queued)).await;
                    publish(&*self.ports.events, &*self.ports.metrics, &done, ExportEventType::Failed).await;
                    failed += 1;
                }
                Ok(_) | Err(ServiceError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((restarted, failed))
    }

    /// Fails every running export whose last heartbeat is older than the
    /// stall limit, stops its workflow and removes what its attempt
    /// stored. The message says what happened and that a retry runs it
    /// again. Returns how many were failed.
    pub async fn fail_stalled(&self, now: chrono::DateTime<Utc>) -> Result<usize, ServiceError> {
        let limit = self.settings.stall_limit;
        let stalled = |j: &crate::domain::ExportJob| {
            j.status == ExportStatus::Running && (now - j.updated_at).to_std().is_ok_and(|age| age > limit)
        };
        let mut failed = 0;
        for job in self.ports.jobs.unfinished().await?.into_iter().filter(|j| stalled(j)) {
            let message = format!(
                "the export stopped making progress (no heartbeat for over {}); retry to run it again",
                minutes(limit)
            );
            let outcome = self
                .change(&job.export_id, |j| {
                    // Only the attempt that was seen stalled: a heartbeat or
                    // a cancel since then wins. (Heartbeats take no version,
                    // so one landing between this read and the write is
                    // missed; the attempt then stops at its next beat and
                    // the export is failed-and-retryable, never stuck.)
                    if j.attempt() == job.attempt() && stalled(j) {
                        j.fail(FailureCode::Timeout, &message, now)?;
                        j.file = None;
                        if let Some(submission) = &mut j.bufdir_submission {
                            submission.abandoned(&message);
                        }
                    }
                    Ok(())
                })
                .await;
            let done = match outcome {
                Ok(done) if done.status == ExportStatus::Failed && done.attempt() == job.attempt() => done,
                Ok(_) | Err(ServiceError::NotFound) => continue,
                Err(e) => return Err(e),
            };
            if let Err(e) = self.ports.workflow.stop(&done.export_id, done.attempt()).await {
                warn!(export_id = %done.export_id, error = %e, "workflow of a stalled export not stopped");
            }
            self.ports.files.delete_prefix(&done.attempt_prefix()).await?;
            warn!(
                export_id = %done.export_id,
                attempt = done.attempt(),
                watchdog_action = "failed_stalled",
                "{WATCHDOG_ACTED}: a stalled export is failed"
            );
            self.audit(&done, SYSTEM_WATCHDOG, AuditAction::Failed, Some(ExportStatus::Running)).await;
            publish(&*self.ports.events, &*self.ports.metrics, &done, ExportEventType::Failed).await;
            failed += 1;
        }
        Ok(failed)
    }
}

fn minutes(d: Duration) -> String {
    match d.as_secs() {
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}
