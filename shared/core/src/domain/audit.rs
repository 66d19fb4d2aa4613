//! The audit trail of an export: who did what to it, when, in which
//! request, and how its status moved. Kept beside the job, and for a
//! while after the job is deleted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ExportStatus;

/// The actor of what the workflow does by itself.
pub const SYSTEM_WORKFLOW: &str = "system:workflow";
/// The actor of what the watchdog does.
pub const SYSTEM_WATCHDOG: &str = "system:watchdog";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Created,
    Started,
    Completed,
    Failed,
    Submitted,
    Cancelled,
    Retried,
    Deleted,
    /// The watchdog started again an attempt whose workflow never started.
    Restarted,
}

/// One thing that happened to an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// The token's subject, or `system:workflow` / `system:watchdog`.
    pub actor: String,
    pub action: AuditAction,
    /// The status before; none for a create.
    pub from_status: Option<ExportStatus>,
    /// The status after; none for a delete.
    pub to_status: Option<ExportStatus>,
    /// The API request that did it (its `X-Request-Id`); none for the system's own.
    pub request_id: Option<String>,
}
