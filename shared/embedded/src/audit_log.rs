//! The audit trail in SQLite: one row per entry, in the order written.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::sqlite::{self, blocking, lock, map_err};
use crate::domain::{AuditEntry, ExportId};
use crate::ports::{AuditLog, PortError, PortResult};

#[derive(Clone)]
pub struct SqliteAuditLog {
    conn: Arc<Mutex<Connection>>,
    retention: chrono::Duration,
}

impl SqliteAuditLog {
    /// Entries are kept `retention` after they are written.
    pub fn open(db_path: &Path, retention: chrono::Duration) -> PortResult<Self> {
        Ok(SqliteAuditLog { conn: Arc::new(Mutex::new(sqlite::open(db_path)?)), retention })
    }
}

#[async_trait]
impl AuditLog for SqliteAuditLog {
    async fn record(&self, export_id: &ExportId, org_id: &str, entry: &AuditEntry) -> PortResult<()> {
        let body =
            serde_json::to_string(entry).map_err(|e| PortError::Permanent(format!("encode audit entry: {e}")))?;
        let expires_at = (entry.at + self.retention).timestamp_millis();
        let (conn, export_id, org_id) = (self.conn.clone(), export_id.to_string(), org_id.to_string());
        blocking(move || {
            lock(&conn)?
                .execute(
                    "INSERT INTO audit (export_id, org_id, expires_at, entry) VALUES (?1, ?2, ?3, ?4)",
                    params![export_id, org_id, expires_at, body],
                )
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn forget_organisation(&self, org_id: &str) -> PortResult<u64> {
        let (conn, org_id) = (self.conn.clone(), org_id.to_string());
        blocking(move || Ok(sqlite::erase(&mut *lock(&conn)?, &["DELETE FROM audit WHERE org_id = ?1"], &org_id)?[0]))
            .await
    }

    async fn history(&self, export_id: &ExportId) -> PortResult<Vec<AuditEntry>> {
        let (conn, export_id) = (self.conn.clone(), export_id.to_string());
        blocking(move || {
            let conn = lock(&conn)?;
            let mut stmt =
                conn.prepare_cached("SELECT entry FROM audit WHERE export_id = ?1 ORDER BY seq").map_err(map_err)?;
            let rows = stmt.query_map([export_id], |r| r.get::<_, String>(0)).map_err(map_err)?;
            rows.map(|body| {
                serde_json::from_str(&body.map_err(map_err)?)
                    .map_err(|e| PortError::Permanent(format!("stored audit entry is unreadable: {e}")))
            })
            .collect()
        })
        .await
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> PortResult<u64> {
        let conn = self.conn.clone();
        blocking(move || {
            let gone = lock(&conn)?
                .execute("DELETE FROM audit WHERE expires_at <= ?1", [now.timestamp_millis()])
                .map_err(map_err)?;
            Ok(gone as u64)
        })
        .await
    }
}
