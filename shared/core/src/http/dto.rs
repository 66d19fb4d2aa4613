//! Response bodies: the contract's fields, none renamed or dropped, plus
//! the progress and retry information a person watching an export needs.
//! Fields that may be empty are sent as `null`, never left out, so the
//! OpenAPI schemas mark them `required = true` (and nullable).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    ActivityType, AuditAction, AuditEntry, ExportFormat, ExportJob, ExportStatus, FailureCode, Stage, SubmissionStatus,
};
use crate::ports::{JobPage, UploadMethod, UploadTarget};

/// Timestamps as the contract writes them: `2026-03-01T08:00:00Z`.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportSummaryBody {
    pub export_id: String,
    pub org_id: String,
    #[schema(value_type = ExportStatus)]
    pub status: String,
    #[schema(value_type = ExportFormat)]
    pub format: String,
    #[schema(format = Date)]
    pub period_from: String,
    #[schema(format = Date)]
    pub period_to: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime, required = true)]
    pub completed_at: Option<String>,
    pub retry_count: u32,
}

impl From<&ExportJob> for ExportSummaryBody {
    fn from(j: &ExportJob) -> Self {
        ExportSummaryBody {
            export_id: j.export_id.to_string(),
            org_id: j.org_id.clone(),
            status: j.status.to_string(),
            format: j.format.as_str().to_string(),
            period_from: day(j.period_from),
            period_to: day(j.period_to),
            created_at: ts(j.created_at),
            completed_at: j.completed_at.map(ts),
            retry_count: j.retry_count,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaginationBody {
    pub page: u32,
    pub limit: u32,
    pub total: u64,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportListBody {
    pub data: Vec<ExportSummaryBody>,
    pub pagination: PaginationBody,
}

impl ExportListBody {
    pub fn new(page: &JobPage, number: u32, limit: u32) -> Self {
        ExportListBody {
            data: page.jobs.iter().map(ExportSummaryBody::from).collect(),
            pagination: PaginationBody { page: number, limit, total: page.total },
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProgressBody {
    pub stage: Stage,
    pub rows_done: u64,
    /// The period's rows. While `generating` on AWS this is an estimate
    /// from how far into the period the rows read so far reach (the
    /// activities are read once, not counted first); from `storing` on,
    /// and on the embedded backend throughout, it is exact.
    pub rows_total: u64,
    /// The worker's last heartbeat while running.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileBody {
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportDetailBody {
    pub export_id: String,
    pub org_id: String,
    #[schema(value_type = ExportStatus)]
    pub status: String,
    #[schema(value_type = ExportFormat)]
    pub format: String,
    #[schema(format = Date)]
    pub period_from: String,
    #[schema(format = Date)]
    pub period_to: String,
    /// The types included; every type when the request named none.
    pub activity_types: Vec<ActivityType>,
    pub include_attachments: bool,
    pub submit_to_bufdir_api: bool,
    pub report_profile: String,
    /// Signed on this request, valid for minutes; GET again for a fresh one,
    /// or keep `.../{export_id}/file`, which always redirects to one.
    #[schema(required = true)]
    pub file_url: Option<String>,
    /// When `file_url` stops working.
    #[schema(format = DateTime, required = true)]
    pub file_url_expires_at: Option<String>,
    /// When the file itself is deleted.
    #[schema(format = DateTime, required = true)]
    pub file_expires_at: Option<String>,
    #[schema(required = true)]
    pub file: Option<FileBody>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub queued_at: String,
    #[schema(format = DateTime, required = true)]
    pub started_at: Option<String>,
    #[schema(format = DateTime, required = true)]
    pub completed_at: Option<String>,
    #[schema(format = DateTime, required = true)]
    pub cancelled_at: Option<String>,
    #[schema(required = true)]
    pub cancel_reason: Option<String>,
    /// Why a failed export failed, in words for the person who asked for it.
    #[schema(required = true)]
    pub error_message: Option<String>,
    /// Why a failed export failed, as a code: `attachment_missing` and
    /// `receiver_refused` are the caller's to fix (the data, or what Bufdir
    /// said of it); the others are the service's or Bufdir's availability,
    /// and a retry may succeed.
    #[schema(required = true)]
    pub error_code: Option<FailureCode>,
    pub retry_count: u32,
    pub estimated_duration_seconds: u64,
    pub progress: ProgressBody,
    /// The receiver's reference once the report was submitted (also in `bufdir_submission`).
    #[schema(required = true)]
    pub bufdir_reference: Option<String>,
    /// Present when the export asked for submission to Bufdir.
    #[schema(required = true)]
    pub bufdir_submission: Option<SubmissionBody>,
    /// What happened to the export and who did it, oldest first: its
    /// creation, each start, cancel, retry, submission and end, with the
    /// caller's subject (or `system:workflow`, `system:watchdog`) and the
    /// request that did it.
    pub history: Vec<HistoryEntryBody>,
}

/// Where the submission to Bufdir stands.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubmissionBody {
    pub status: SubmissionStatus,
    #[schema(required = true)]
    pub reference: Option<String>,
    #[schema(required = true)]
    pub submitted_at: Option<String>,
    /// Tries of the submit step for this attempt.
    pub attempts: u32,
    /// Why the last try failed; the receiver's message for a refusal.
    #[schema(required = true)]
    pub error: Option<String>,
}

impl ExportDetailBody {
    pub fn new(
        j: &ExportJob,
        file_url: Option<String>,
        file_url_expires_at: Option<DateTime<Utc>>,
        history: Vec<AuditEntry>,
    ) -> Self {
        let types = if j.activity_types.is_empty() { ActivityType::ALL.to_vec() } else { j.activity_types.clone() };
        ExportDetailBody {
            export_id: j.export_id.to_string(),
            org_id: j.org_id.clone(),
            status: j.status.to_string(),
            format: j.format.as_str().to_string(),
            period_from: day(j.period_from),
            period_to: day(j.period_to),
            activity_types: types,
            include_attachments: j.include_attachments,
            submit_to_bufdir_api: j.submit_to_bufdir_api,
            report_profile: j.report_profile.clone(),
            file_url,
            file_url_expires_at: file_url_expires_at.map(ts),
            file_expires_at: j.file_expires_at.map(ts),
            file: j.file.as_ref().map(|f| FileBody {
                filename: f.filename.clone(),
                content_type: f.content_type.clone(),
                size_bytes: f.size_bytes,
                sha256: f.sha256.clone(),
            }),
            created_at: ts(j.created_at),
            queued_at: ts(j.queued_at),
            started_at: j.started_at.map(ts),
            completed_at: j.completed_at.map(ts),
            cancelled_at: j.cancelled_at.map(ts),
            cancel_reason: j.cancel_reason.clone(),
            error_message: j.error_message.clone(),
            error_code: j.error_code,
            retry_count: j.retry_count,
            estimated_duration_seconds: j.estimated_duration_seconds,
            progress: ProgressBody {
                stage: j.progress.stage,
                rows_done: j.progress.rows_done,
                rows_total: j.progress.rows_total,
                updated_at: ts(j.updated_at),
            },
            bufdir_reference: j.bufdir_submission.as_ref().and_then(|b| b.reference.clone()),
            bufdir_submission: j.bufdir_submission.as_ref().map(|b| SubmissionBody {
                status: b.status,
                reference: b.reference.clone(),
                submitted_at: b.submitted_at.map(ts),
                attempts: b.attempts,
                error: b.error.clone(),
            }),
            history: history.into_iter().map(HistoryEntryBody::from).collect(),
        }
    }
}

/// One thing that happened to an export.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryEntryBody {
    #[schema(format = DateTime)]
    pub at: String,
    /// The caller's token subject, or `system:workflow` / `system:watchdog`.
    pub actor: String,
    pub action: AuditAction,
    /// The status before; null for the creation.
    #[schema(required = true)]
    pub from_status: Option<ExportStatus>,
    /// The status after; null for the deletion.
    #[schema(required = true)]
    pub to_status: Option<ExportStatus>,
    /// The `X-Request-Id` of the API call that did it; null for the system's own.
    #[schema(required = true)]
    pub request_id: Option<String>,
}

impl From<AuditEntry> for HistoryEntryBody {
    fn from(e: AuditEntry) -> Self {
        HistoryEntryBody {
            at: ts(e.at),
            actor: e.actor,
            action: e.action,
            from_status: e.from_status,
            to_status: e.to_status,
            request_id: e.request_id,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedBody {
    pub export_id: String,
    #[schema(value_type = ExportStatus)]
    pub status: String,
    pub estimated_duration_seconds: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&ExportJob> for CreatedBody {
    fn from(j: &ExportJob) -> Self {
        CreatedBody {
            export_id: j.export_id.to_string(),
            status: j.status.to_string(),
            estimated_duration_seconds: j.estimated_duration_seconds,
            created_at: ts(j.created_at),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[serde(default)]
    #[schema(max_length = 500, example = "Incorrect date range selected")]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CancelledBody {
    pub export_id: String,
    #[schema(value_type = ExportStatus)]
    pub status: String,
    #[schema(format = DateTime, required = true)]
    pub cancelled_at: Option<String>,
    #[schema(required = true)]
    pub reason: Option<String>,
}

impl From<&ExportJob> for CancelledBody {
    fn from(j: &ExportJob) -> Self {
        CancelledBody {
            export_id: j.export_id.to_string(),
            status: j.status.to_string(),
            cancelled_at: j.cancelled_at.map(ts),
            reason: j.cancel_reason.clone(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetriedBody {
    pub export_id: String,
    #[schema(value_type = ExportStatus)]
    pub status: String,
    pub retry_count: u32,
    #[schema(format = DateTime)]
    pub queued_at: String,
}

impl From<&ExportJob> for RetriedBody {
    fn from(j: &ExportJob) -> Self {
        RetriedBody {
            export_id: j.export_id.to_string(),
            status: j.status.to_string(),
            retry_count: j.retry_count,
            queued_at: ts(j.queued_at),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeletedBody {
    pub deleted: bool,
    pub export_id: String,
}

/// Where and how to send a file (an import's, an attachment).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadBody {
    pub url: String,
    /// `PUT`: send the file's bytes as the body. `POST` (S3): send
    /// `multipart/form-data` with every field of `fields` in order, then the
    /// file as the field `file`.
    pub method: UploadMethod,
    /// Form fields for a `POST`, in order; empty for a `PUT`.
    pub fields: Vec<FieldBody>,
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// The largest file taken; a larger one is refused by the storage.
    pub max_bytes: u64,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldBody {
    pub name: String,
    pub value: String,
}

impl UploadBody {
    pub fn of(u: &UploadTarget) -> Self {
        UploadBody {
            url: u.url.clone(),
            method: u.method,
            fields: u.fields.iter().map(|(n, v)| FieldBody { name: n.clone(), value: v.clone() }).collect(),
            expires_at: ts(u.expires_at),
            max_bytes: u.max_bytes,
        }
    }
}
