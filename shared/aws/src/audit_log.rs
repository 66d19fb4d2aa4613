//! The audit trail in its own DynamoDB table: key `export_id` + `entry_key`
//! (the entry's time to the microsecond and a random suffix, so the query
//! of one export reads its entries in order), the entry as JSON, and
//! `expires_at` for DynamoDB's TTL, which removes an entry its retention
//! after it was written, whether or not the export still exists.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;

use super::attr::s;
use super::erase::{Matching, Verdict, delete_matching};
use super::errors::port_error;
use crate::domain::{AuditEntry, ExportId};
use crate::ports::{AuditLog, PortError, PortResult};

#[derive(Clone)]
pub struct DynamoAuditLog {
    client: Client,
    table: String,
    retention: chrono::Duration,
}

impl DynamoAuditLog {
    /// Entries are kept `retention` after they are written.
    pub fn new(client: Client, table: impl Into<String>, retention: chrono::Duration) -> Self {
        DynamoAuditLog { client, table: table.into(), retention }
    }
}

#[async_trait]
impl AuditLog for DynamoAuditLog {
    async fn record(&self, export_id: &ExportId, org_id: &str, entry: &AuditEntry) -> PortResult<()> {
        let body =
            serde_json::to_string(entry).map_err(|e| PortError::Permanent(format!("encode audit entry: {e}")))?;
        let key =
            format!("{}#{:08x}", entry.at.to_rfc3339_opts(SecondsFormat::Micros, true), rand::rng().random::<u32>());
        self.client
            .put_item()
            .table_name(&self.table)
            .item("export_id", s(export_id.as_str()))
            .item("entry_key", s(&key))
            .item("org_id", s(org_id))
            .item("entry", s(&body))
            .item("expires_at", AttributeValue::N((entry.at + self.retention).timestamp().to_string()))
            .send()
            .await
            .map_err(|e| port_error("record audit entry", e))?;
        Ok(())
    }

    async fn history(&self, export_id: &ExportId) -> PortResult<Vec<AuditEntry>> {
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("export_id = :id")
                .expression_attribute_values(":id", s(export_id.as_str()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| port_error("read audit trail", e))?;
            for item in out.items() {
                let Some(AttributeValue::S(body)) = item.get("entry") else {
                    return Err(PortError::Permanent("an audit item has no entry".into()));
                };
                entries.push(
                    serde_json::from_str(body)
                        .map_err(|e| PortError::Permanent(format!("stored audit entry is unreadable: {e}")))?,
                );
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(entries);
            }
        }
    }

    async fn forget_organisation(&self, org_id: &str) -> PortResult<u64> {
        // Entries are keyed by export; an erasure is rare enough to scan for them.
        delete_matching(
            &self.client,
            &self.table,
            &["export_id", "entry_key"],
            Matching::ScanEqual { name: "org_id", value: org_id },
            |_| Verdict::DeleteCounted,
            "erase audit entries",
        )
        .await
    }

    async fn purge_expired(&self, _: DateTime<Utc>) -> PortResult<u64> {
        Ok(0)
    }
}
