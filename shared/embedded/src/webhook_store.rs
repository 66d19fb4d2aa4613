//! Webhook endpoints and deliveries in SQLite, each a JSON record beside
//! the columns it is found and ordered by. The cap on an organisation's
//! endpoints is counted inside the IMMEDIATE transaction that inserts,
//! so no other writer can slip in between the count and the insert.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::sqlite::{self, map_err, with_conn};
use crate::domain::{DeliveryStatus, WebhookDelivery, WebhookEndpoint};
use crate::ports::{PortError, PortResult, WebhookStore};

#[derive(Clone)]
pub struct SqliteWebhookStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteWebhookStore {
    pub fn open(db_path: &Path) -> PortResult<Self> {
        Ok(SqliteWebhookStore { conn: Arc::new(Mutex::new(sqlite::open(db_path)?)) })
    }
}

fn encode<T: Serialize>(record: &T) -> PortResult<String> {
    serde_json::to_string(record).map_err(|e| PortError::Permanent(format!("encode webhook record: {e}")))
}

fn decode<T: DeserializeOwned>(body: String) -> PortResult<T> {
    serde_json::from_str(&body).map_err(|e| PortError::Permanent(format!("stored webhook record is unreadable: {e}")))
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// Creation times order lists: to the nanosecond, as the records keep them.
fn nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn version(v: u64) -> PortResult<i64> {
    i64::try_from(v).map_err(|_| PortError::Permanent(format!("version {v} is out of range")))
}

/// The columns only a pending delivery has.
fn pending_columns(d: &WebhookDelivery) -> (Option<i64>, Option<&str>) {
    if d.status == DeliveryStatus::Pending {
        (Some(millis(d.next_attempt_at)), Some(&d.order_key))
    } else {
        (None, None)
    }
}

fn bodies<T: DeserializeOwned>(c: &Connection, sql: &str, args: impl rusqlite::Params) -> PortResult<Vec<T>> {
    let mut stmt = c.prepare(sql).map_err(map_err)?;
    let rows: Vec<String> =
        stmt.query_map(args, |r| r.get(0)).map_err(map_err)?.collect::<Result<_, _>>().map_err(map_err)?;
    rows.into_iter().map(decode).collect()
}

#[async_trait]
impl WebhookStore for SqliteWebhookStore {
    async fn insert_endpoint(&self, endpoint: &WebhookEndpoint, cap: u32) -> PortResult<()> {
        let (e, body) = (endpoint.clone(), encode(endpoint)?);
        with_conn(&self.conn, move |c| {
            let tx = Transaction::new_unchecked(c, TransactionBehavior::Immediate).map_err(map_err)?;
            let n: i64 = tx
                .query_row("SELECT COUNT(*) FROM webhook_endpoints WHERE org_id = ?1", [&e.org_id], |r| r.get(0))
                .map_err(map_err)?;
            if n >= i64::from(cap) {
                return Err(PortError::LimitReached);
            }
            let inserted = tx
                .execute(
                    "INSERT INTO webhook_endpoints (id, org_id, created_at, version, body) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (id) DO NOTHING",
                    params![e.id, e.org_id, nanos(e.created_at), version(e.version)?, body],
                )
                .map_err(map_err)?;
            if inserted == 0 {
                return Err(PortError::Conflict);
            }
            tx.commit().map_err(map_err)
        })
        .await
    }

    async fn get_endpoint(&self, id: &str) -> PortResult<Option<WebhookEndpoint>> {
        let id = id.to_string();
        with_conn(&self.conn, move |c| {
            let body: Option<String> = c
                .query_row("SELECT body FROM webhook_endpoints WHERE id = ?1", [id], |r| r.get(0))
                .optional()
                .map_err(map_err)?;
            body.map(decode).transpose()
        })
        .await
    }

    async fn list_endpoints(&self, org_id: &str) -> PortResult<Vec<WebhookEndpoint>> {
        let org_id = org_id.to_string();
        with_conn(&self.conn, move |c| {
            bodies(c, "SELECT body FROM webhook_endpoints WHERE org_id = ?1 ORDER BY created_at, id", [org_id])
        })
        .await
    }

    async fn update_endpoint(&self, endpoint: &WebhookEndpoint, expected_version: u64) -> PortResult<()> {
        let (e, body) = (endpoint.clone(), encode(endpoint)?);
        with_conn(&self.conn, move |c| {
            let changed = c
                .execute(
                    "UPDATE webhook_endpoints SET version = ?1, body = ?2 WHERE id = ?3 AND version = ?4",
                    params![version(e.version)?, body, e.id, version(expected_version)?],
                )
                .map_err(map_err)?;
            if changed == 1 { Ok(()) } else { Err(PortError::Conflict) }
        })
        .await
    }

    async fn delete_endpoint(&self, endpoint: &WebhookEndpoint) -> PortResult<bool> {
        let id = endpoint.id.clone();
        with_conn(&self.conn, move |c| {
            // The deliveries go with it (ON DELETE CASCADE).
            Ok(c.execute("DELETE FROM webhook_endpoints WHERE id = ?1", [id]).map_err(map_err)? == 1)
        })
        .await
    }

    async fn erase_endpoints(&self, org_id: &str) -> PortResult<u64> {
        let (conn, org_id) = (self.conn.clone(), org_id.to_string());
        sqlite::blocking(move || {
            let removed = sqlite::erase(
                &mut *sqlite::lock(&conn)?,
                &[
                    "DELETE FROM webhook_deliveries WHERE endpoint_id IN (SELECT id FROM webhook_endpoints WHERE org_id = ?1)",
                    "DELETE FROM webhook_endpoints WHERE org_id = ?1",
                ],
                &org_id,
            )?;
            Ok(removed[1])
        })
        .await
    }

    async fn insert_delivery(&self, delivery: &WebhookDelivery) -> PortResult<bool> {
        let (d, body) = (delivery.clone(), encode(delivery)?);
        with_conn(&self.conn, move |c| {
            let (due_at, order_key) = pending_columns(&d);
            let inserted = c
                .execute(
                    "INSERT INTO webhook_deliveries (id, endpoint_id, subject, created_at, due_at, order_key, version, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO NOTHING",
                    params![d.id, d.endpoint_id, d.subject, nanos(d.created_at), due_at, order_key, version(d.version)?, body],
                )
                .map_err(|e| match e.sqlite_error_code() {
                    // The endpoint was deleted meanwhile: nothing to deliver to.
                    Some(rusqlite::ErrorCode::ConstraintViolation) => PortError::Conflict,
                    _ => map_err(e),
                });
            match inserted {
                Ok(n) => Ok(n == 1),
                Err(PortError::Conflict) => Ok(false),
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn update_delivery(&self, delivery: &WebhookDelivery, expected_version: u64) -> PortResult<()> {
        let (d, body) = (delivery.clone(), encode(delivery)?);
        with_conn(&self.conn, move |c| {
            let (due_at, order_key) = pending_columns(&d);
            let changed = c
                .execute(
                    "UPDATE webhook_deliveries SET due_at = ?1, order_key = ?2, version = ?3, body = ?4
                     WHERE id = ?5 AND version = ?6",
                    params![due_at, order_key, version(d.version)?, body, d.id, version(expected_version)?],
                )
                .map_err(map_err)?;
            if changed == 1 { Ok(()) } else { Err(PortError::Conflict) }
        })
        .await
    }

    async fn due_deliveries(&self, now: DateTime<Utc>, limit: usize) -> PortResult<Vec<WebhookDelivery>> {
        let (now, limit) = (millis(now), limit as i64);
        with_conn(&self.conn, move |c| {
            bodies(
                c,
                "SELECT body FROM webhook_deliveries WHERE due_at IS NOT NULL AND due_at <= ?1 ORDER BY due_at, id LIMIT ?2",
                params![now, limit],
            )
        })
        .await
    }

    async fn first_pending(&self, endpoint_id: &str, subject: &str) -> PortResult<Option<WebhookDelivery>> {
        let (endpoint_id, subject) = (endpoint_id.to_string(), subject.to_string());
        with_conn(&self.conn, move |c| {
            let found: Vec<WebhookDelivery> = bodies(
                c,
                "SELECT body FROM webhook_deliveries
                 WHERE endpoint_id = ?1 AND subject = ?2 AND order_key IS NOT NULL ORDER BY order_key LIMIT 1",
                params![endpoint_id, subject],
            )?;
            Ok(found.into_iter().next())
        })
        .await
    }

    async fn list_deliveries(&self, endpoint_id: &str, limit: usize) -> PortResult<Vec<WebhookDelivery>> {
        let (endpoint_id, limit) = (endpoint_id.to_string(), limit as i64);
        with_conn(&self.conn, move |c| {
            bodies(
                c,
                "SELECT body FROM webhook_deliveries WHERE endpoint_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2",
                params![endpoint_id, limit],
            )
        })
        .await
    }
}
