//! Recording the audit trail. An entry is written after the change it
//! records is stored; if the audit store fails then, the change stands and
//! the failure is logged (with the export id), since undoing a cancel or a
//! completion because its record could not be written would be worse.

use chrono::Utc;
use tracing::warn;

use crate::domain::{AuditAction, AuditEntry, ExportJob, ExportStatus};
use crate::ports::AuditLog;
use crate::request_scope;

/// Records that `actor` did `action` to `job`, moving it `from` -> `to`,
/// in the request being served, if any.
pub async fn record(
    log: &dyn AuditLog,
    job: &ExportJob,
    actor: &str,
    action: AuditAction,
    from: Option<ExportStatus>,
    to: Option<ExportStatus>,
) {
    let entry = AuditEntry {
        at: Utc::now(),
        actor: actor.to_string(),
        action,
        from_status: from,
        to_status: to,
        request_id: request_scope::current().map(|r| r.id),
    };
    if let Err(e) = log.record(&job.export_id, &job.org_id, &entry).await {
        warn!(export_id = %job.export_id, action = ?action, error = %e, "audit entry not recorded");
    }
}
