use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PortResult;
use crate::domain::{AuditEntry, ExportId};

/// Where an export's audit trail is kept: append only, each entry for the
/// store's retention, whether or not the export still exists.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn record(&self, export_id: &ExportId, org_id: &str, entry: &AuditEntry) -> PortResult<()>;

    /// The export's entries, oldest first.
    async fn history(&self, export_id: &ExportId) -> PortResult<Vec<AuditEntry>>;

    /// Removes every entry about `org_id`'s exports, whatever their age;
    /// how many. Only for erasing an organisation that leaves.
    async fn forget_organisation(&self, org_id: &str) -> PortResult<u64>;

    /// Removes entries past their retention; how many. A store that
    /// expires them by itself (DynamoDB's TTL) removes none here.
    async fn purge_expired(&self, now: DateTime<Utc>) -> PortResult<u64>;
}
