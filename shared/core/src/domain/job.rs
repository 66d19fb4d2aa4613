//! The export job: what the caller asked for, where it stands, and what
//! came out. Changes go through [`ExportJob::apply`], which consults the
//! transition table and stamps the matching timestamps.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::status::{ExportStatus, Transition, next_status};
use super::{ActivityType, BufdirSubmission, ExportId, FailureCode, ValidRequest};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Excel,
    Csv,
    Json,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 3] = [ExportFormat::Excel, ExportFormat::Csv, ExportFormat::Json];

    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Excel => "excel",
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// Where the work stands, for a person watching the export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Waiting,
    Generating,
    Storing,
    Submitting,
    Finished,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub stage: Stage,
    pub rows_done: u64,
    pub rows_total: u64,
}

impl Progress {
    pub fn waiting() -> Self {
        Progress { stage: Stage::Waiting, rows_done: 0, rows_total: 0 }
    }

    /// A period's rows, estimated while they are read in date order where
    /// the store cannot count them first: `done` rows reached day `reached`
    /// (the period's first is 1) of `days`, so the rest of the period is
    /// taken to hold as many a day. Never less than what was read; the step
    /// records the true total once the rows end.
    pub fn estimated_total(done: u64, reached: u64, days: u64) -> u64 {
        match reached.min(days) {
            0 => done,
            reached => (done.saturating_mul(days) / reached).max(done),
        }
    }
}

/// A generated file as the file store holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    pub key: String,
    /// Name offered to the person downloading it.
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportJob {
    pub export_id: ExportId,
    pub org_id: String,
    pub status: ExportStatus,
    pub format: ExportFormat,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    /// Empty means every type.
    pub activity_types: Vec<ActivityType>,
    pub include_attachments: bool,
    pub submit_to_bufdir_api: bool,
    pub report_profile: String,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    /// Last change of any kind; while running, the worker's heartbeat.
    pub updated_at: DateTime<Utc>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub error_message: Option<String>,
    /// Why it failed, as a code (see `FailureCode`); with `error_message`.
    #[serde(default)]
    pub error_code: Option<FailureCode>,
    pub retry_count: u32,
    pub estimated_duration_seconds: u64,
    pub progress: Progress,
    pub file: Option<StoredFile>,
    pub file_expires_at: Option<DateTime<Utc>>,
    /// Only when `submit_to_bufdir_api`.
    #[serde(default)]
    pub bufdir_submission: Option<BufdirSubmission>,
    /// Bumped on every write; stores only accept a write made from the
    /// version they hold, so concurrent changes cannot both win.
    pub version: u64,
}

/// A transition the table does not allow from the job's status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} an export that is {}", transition.as_str(), from)]
pub struct TransitionRefused {
    pub from: ExportStatus,
    pub transition: Transition,
}

impl ExportJob {
    /// A new export of `org_id`, as `request` asks for it, queued at `now`
    /// by `requested_by`. The only place a job is made from nothing.
    pub fn queued(
        export_id: ExportId,
        org_id: String,
        request: ValidRequest,
        requested_by: String,
        now: DateTime<Utc>,
        estimated_duration_seconds: u64,
    ) -> Self {
        ExportJob {
            export_id,
            org_id,
            status: ExportStatus::Queued,
            format: request.format,
            period_from: request.period_from,
            period_to: request.period_to,
            activity_types: request.activity_types,
            include_attachments: request.include_attachments,
            submit_to_bufdir_api: request.submit_to_bufdir_api,
            report_profile: request.report_profile,
            requested_by,
            created_at: now,
            updated_at: now,
            queued_at: now,
            started_at: None,
            completed_at: None,
            failed_at: None,
            cancelled_at: None,
            cancel_reason: None,
            error_message: None,
            error_code: None,
            retry_count: 0,
            estimated_duration_seconds,
            // The generate step counts the rows when it starts.
            progress: Progress::waiting(),
            file: None,
            file_expires_at: None,
            bufdir_submission: request.submit_to_bufdir_api.then(BufdirSubmission::pending),
            version: 1,
        }
    }

    /// The idempotency key `attempt`'s submission to Bufdir is made under,
    /// and the name of its copy in an outbox.
    pub fn submission_key(&self, attempt: u32) -> String {
        format!("{}-a{attempt}", self.export_id)
    }

    /// Attempts are numbered from 1; each retry starts the next one.
    pub fn attempt(&self) -> u32 {
        self.retry_count + 1
    }

    /// Files of one attempt live under their own prefix, so a retry never
    /// overwrites the previous attempt's file and delete can remove all of them.
    pub fn file_prefix(&self) -> String {
        format!("{}/{}/", self.org_id, self.export_id)
    }

    pub fn attempt_prefix(&self) -> String {
        format!("{}a{}/", self.file_prefix(), self.attempt())
    }

    /// Fails the job for `code`, saying why in `message`.
    pub fn fail(&mut self, code: FailureCode, message: &str, at: DateTime<Utc>) -> Result<(), TransitionRefused> {
        self.apply(Transition::Fail, at)?;
        self.error_code = Some(code);
        self.error_message = Some(message.to_string());
        Ok(())
    }

    /// Moves the job along the transition table, or refuses.
    pub fn apply(&mut self, transition: Transition, at: DateTime<Utc>) -> Result<(), TransitionRefused> {
        let to = next_status(self.status, transition).ok_or(TransitionRefused { from: self.status, transition })?;
        self.status = to;
        self.updated_at = at;
        match transition {
            Transition::Start => {
                self.started_at = Some(at);
                self.progress = Progress { stage: Stage::Generating, rows_done: 0, rows_total: 0 };
            }
            Transition::Requeue => {
                self.progress = Progress::waiting();
            }
            Transition::Complete => {
                self.completed_at = Some(at);
                self.progress.stage = Stage::Finished;
            }
            Transition::Fail => {
                self.failed_at = Some(at);
            }
            Transition::Cancel => {
                self.cancelled_at = Some(at);
            }
            Transition::Retry => {
                self.retry_count += 1;
                self.queued_at = at;
                self.started_at = None;
                self.completed_at = None;
                self.failed_at = None;
                self.cancelled_at = None;
                self.cancel_reason = None;
                self.error_message = None;
                self.error_code = None;
                self.file = None;
                self.file_expires_at = None;
                if let Some(submission) = &mut self.bufdir_submission {
                    // a new attempt submits under a new idempotency key
                    *submission = BufdirSubmission::pending();
                }
                self.progress = Progress::waiting();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_total_is_estimated_from_how_far_into_the_period_the_rows_came() {
        assert_eq!(Progress::estimated_total(0, 0, 365), 0, "nothing read, nothing guessed");
        assert_eq!(Progress::estimated_total(100, 73, 365), 500, "a fifth of the year read");
        assert_eq!(Progress::estimated_total(100, 365, 365), 100, "the last day reached");
        assert_eq!(Progress::estimated_total(100, 400, 365), 100, "a day past the end counts as the end");
        assert_eq!(Progress::estimated_total(7, 1, 1), 7, "a one-day period");
        assert_eq!(Progress::estimated_total(u64::MAX / 2, 1, 365), u64::MAX, "saturates, never overflows");
    }
    use crate::domain::fixtures::job;

    #[test]
    fn retry_starts_a_clean_attempt() {
        let mut j = job();
        let at: DateTime<Utc> = "2026-03-26T10:05:00Z".parse().unwrap();
        j.apply(Transition::Start, at).unwrap();
        j.error_message = Some("boom".into());
        j.apply(Transition::Fail, at).unwrap();
        assert_eq!(j.attempt_prefix(), "org-demo/exp-20260326-xyz789/a1/");
        j.apply(Transition::Retry, at).unwrap();
        assert_eq!(j.status, ExportStatus::Queued);
        assert_eq!(j.retry_count, 1);
        assert_eq!(j.error_message, None);
        assert_eq!(j.queued_at, at);
        assert_eq!(j.attempt_prefix(), "org-demo/exp-20260326-xyz789/a2/");
    }

    #[test]
    fn refused_transitions_leave_the_job_alone() {
        let mut j = job();
        let before = j.clone();
        let err = j.apply(Transition::Retry, Utc::now()).unwrap_err();
        assert_eq!(err.to_string(), "cannot retry an export that is queued");
        assert_eq!(j, before);
    }
}
