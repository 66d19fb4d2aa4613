//! Export jobs in SQLite. The job is stored whole as JSON; the columns
//! beside it are copies used to filter, order and guard writes.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params, params_from_iter};

use super::sqlite::{self, map_err};
use crate::domain::{ExportId, ExportJob, ExportStatus, OrgScope, Progress};
use crate::ports::{
    DEFAULT_IN_FLIGHT_CAP, JobPage, JobQuery, JobStore, KeyRecord, KeyedInsert, KeyedJobs, PortError, PortResult,
};

#[derive(Clone)]
pub struct SqliteJobStore {
    conn: Arc<Mutex<Connection>>,
    in_flight_cap: u32,
}

impl SqliteJobStore {
    pub fn open(db_path: &Path) -> PortResult<Self> {
        Ok(SqliteJobStore { conn: Arc::new(Mutex::new(sqlite::open(db_path)?)), in_flight_cap: DEFAULT_IN_FLIGHT_CAP })
    }

    /// The most exports one organisation may have queued or running.
    pub fn with_in_flight_cap(mut self, cap: u32) -> Self {
        self.in_flight_cap = cap;
        self
    }

    async fn with_conn<T, F>(&self, f: F) -> PortResult<T>
    where
        F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
        T: Send + 'static,
    {
        sqlite::with_conn(&self.conn, f).await
    }
}

/// The column values a job is filtered and ordered by, plus its body.
struct Row {
    export_id: String,
    org_id: String,
    status: &'static str,
    format: &'static str,
    created_at: i64,
    version: i64,
    body: String,
}

impl Row {
    fn of(job: &ExportJob) -> PortResult<Row> {
        Ok(Row {
            export_id: job.export_id.to_string(),
            org_id: job.org_id.clone(),
            status: job.status.as_str(),
            format: job.format.as_str(),
            created_at: job.created_at.timestamp_micros(),
            version: to_i64(job.version)?,
            body: serde_json::to_string(job).map_err(|e| PortError::Permanent(format!("encode job: {e}")))?,
        })
    }
}

/// Inserts the row unless its id is taken (`Conflict`).
fn insert_row(c: &Connection, row: &Row) -> PortResult<()> {
    let n = c
        .execute(
            "INSERT INTO jobs (export_id, org_id, status, format, created_at, version, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (export_id) DO NOTHING",
            params![row.export_id, row.org_id, row.status, row.format, row.created_at, row.version, row.body],
        )
        .map_err(map_err)?;
    if n == 0 { Err(PortError::Conflict) } else { Ok(()) }
}

/// Refuses when `org_id` already has `cap` jobs queued or running. Run
/// inside the write transaction that adds one, so the count cannot change
/// between this check and that write.
fn check_in_flight(c: &Connection, org_id: &str, cap: u32) -> PortResult<()> {
    let n: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM jobs WHERE org_id = ?1 AND status IN (?2, ?3)",
            params![org_id, ExportStatus::Queued.as_str(), ExportStatus::Running.as_str()],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if n >= i64::from(cap) { Err(PortError::InFlightCapReached) } else { Ok(()) }
}

/// IMMEDIATE takes the write lock up front, so another connection (or
/// process) on the file cannot write between this transaction's reads and
/// its writes.
fn write_transaction(c: &Connection) -> PortResult<Transaction<'_>> {
    Transaction::new_unchecked(c, TransactionBehavior::Immediate).map_err(map_err)
}

fn to_i64(version: u64) -> PortResult<i64> {
    i64::try_from(version).map_err(|_| PortError::Permanent(format!("version {version} is out of range")))
}

fn decode(body: String) -> PortResult<ExportJob> {
    serde_json::from_str(&body).map_err(|e| PortError::Permanent(format!("stored job is unreadable: {e}")))
}

/// The WHERE clause and its arguments shared by a page and its total, so
/// the two can never disagree about what matches. `None` means the scope
/// names no organisation, so nothing can match.
fn filter(query: &JobQuery) -> Option<(String, Vec<Value>)> {
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    if let OrgScope::Only(orgs) = &query.scope {
        if orgs.is_empty() {
            return None;
        }
        clauses.push(format!("org_id IN ({})", vec!["?"; orgs.len()].join(",")));
        args.extend(orgs.iter().map(|o| Value::Text(o.clone())));
    }
    if let Some(status) = query.status {
        clauses.push("status = ?".to_string());
        args.push(Value::Text(status.as_str().to_string()));
    }
    if let Some(format) = query.format {
        clauses.push("format = ?".to_string());
        args.push(Value::Text(format.as_str().to_string()));
    }
    let sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    Some((sql, args))
}

#[async_trait]
impl JobStore for SqliteJobStore {
    async fn insert(&self, job: &ExportJob) -> PortResult<()> {
        let row = Row::of(job)?;
        let (cap, active) = (self.in_flight_cap, job.status.is_active());
        self.with_conn(move |c| {
            let tx = write_transaction(c)?;
            if active {
                check_in_flight(&tx, &row.org_id, cap)?;
            }
            insert_row(&tx, &row)?;
            tx.commit().map_err(map_err)
        })
        .await
    }

    async fn get(&self, id: &ExportId) -> PortResult<Option<ExportJob>> {
        let id = id.to_string();
        self.with_conn(move |c| {
            c.query_row("SELECT body FROM jobs WHERE export_id = ?1", [id], |r| r.get::<_, String>(0))
                .optional()
                .map_err(map_err)?
                .map(decode)
                .transpose()
        })
        .await
    }

    async fn list(&self, query: &JobQuery) -> PortResult<JobPage> {
        let Some((where_sql, args)) = filter(query) else {
            return Ok(JobPage { jobs: Vec::new(), total: 0 });
        };
        let limit = i64::from(query.limit);
        let offset = i64::from(query.page.max(1) - 1) * limit;
        self.with_conn(move |c| {
            let total: i64 = c
                .query_row(&format!("SELECT COUNT(*) FROM jobs {where_sql}"), params_from_iter(&args), |r| r.get(0))
                .map_err(map_err)?;
            let mut page_args = args;
            page_args.push(Value::Integer(limit));
            page_args.push(Value::Integer(offset));
            let mut stmt = c
                .prepare(&format!(
                    "SELECT body FROM jobs {where_sql}
                     ORDER BY created_at DESC, export_id DESC LIMIT ? OFFSET ?"
                ))
                .map_err(map_err)?;
            let jobs = stmt
                .query_map(params_from_iter(&page_args), |r| r.get::<_, String>(0))
                .map_err(map_err)?
                .map(|body| decode(body.map_err(map_err)?))
                .collect::<PortResult<Vec<_>>>()?;
            Ok(JobPage { jobs, total: total as u64 })
        })
        .await
    }

    async fn update(&self, job: &ExportJob, expected_version: u64) -> PortResult<()> {
        let row = Row::of(job)?;
        let expected = to_i64(expected_version)?;
        let (cap, active) = (self.in_flight_cap, job.status.is_active());
        self.with_conn(move |c| {
            let tx = write_transaction(c)?;
            let before: Option<String> = tx
                .query_row(
                    "SELECT status FROM jobs WHERE export_id = ?1 AND version = ?2",
                    params![row.export_id, expected],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?;
            let Some(before) = before else { return Err(PortError::Conflict) };
            let was_active = ExportStatus::parse(&before).is_some_and(ExportStatus::is_active);
            if active && !was_active {
                check_in_flight(&tx, &row.org_id, cap)?;
            }
            let n = tx
                .execute(
                    "UPDATE jobs SET org_id = ?2, status = ?3, format = ?4, created_at = ?5, version = ?6, body = ?7
                     WHERE export_id = ?1 AND version = ?8",
                    params![
                        row.export_id,
                        row.org_id,
                        row.status,
                        row.format,
                        row.created_at,
                        row.version,
                        row.body,
                        expected
                    ],
                )
                .map_err(map_err)?;
            if n == 0 {
                return Err(PortError::Conflict);
            }
            tx.commit().map_err(map_err)
        })
        .await
    }

    async fn record_progress(
        &self,
        id: &ExportId,
        attempt: u32,
        progress: &Progress,
        at: DateTime<Utc>,
    ) -> PortResult<()> {
        let encode = |v: serde_json::Result<serde_json::Value>| {
            v.map(|v| v.to_string()).map_err(|e| PortError::Permanent(format!("encode progress: {e}")))
        };
        let (id, progress, at) =
            (id.to_string(), encode(serde_json::to_value(progress))?, encode(serde_json::to_value(at))?);
        let retry_count = i64::from(attempt) - 1;
        self.with_conn(move |c| {
            // Edits the two fields in place, leaving `version` alone.
            let n = c
                .execute(
                    "UPDATE jobs SET body = json_set(body, '$.progress', json(?2), '$.updated_at', json(?3))
                     WHERE export_id = ?1 AND status = ?4 AND json_extract(body, '$.retry_count') = ?5",
                    params![id, progress, at, ExportStatus::Running.as_str(), retry_count],
                )
                .map_err(map_err)?;
            if n == 0 { Err(PortError::Conflict) } else { Ok(()) }
        })
        .await
    }

    async fn delete(&self, id: &ExportId) -> PortResult<()> {
        let id = id.to_string();
        self.with_conn(move |c| {
            c.execute("DELETE FROM jobs WHERE export_id = ?1", [id]).map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn unfinished(&self) -> PortResult<Vec<ExportJob>> {
        self.with_conn(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT body FROM jobs WHERE status IN (?1, ?2)
                     ORDER BY created_at ASC, export_id ASC",
                )
                .map_err(map_err)?;
            stmt.query_map([ExportStatus::Queued.as_str(), ExportStatus::Running.as_str()], |r| r.get::<_, String>(0))
                .map_err(map_err)?
                .map(|body| decode(body.map_err(map_err)?))
                .collect()
        })
        .await
    }
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn read_key(c: &Connection, scope: &str, key: &str, now: i64) -> PortResult<Option<KeyRecord>> {
    c.query_row(
        "SELECT fingerprint, export_id, status, estimated_duration_seconds, created_at, expires_at
         FROM idempotency_keys WHERE scope = ?1 AND key = ?2 AND expires_at > ?3",
        params![scope, key, now],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        },
    )
    .optional()
    .map_err(map_err)?
    .map(|(fingerprint, export_id, status, estimate, created, expires)| {
        let unreadable = || PortError::Permanent("stored idempotency key is unreadable".into());
        Ok(KeyRecord {
            scope: scope.to_string(),
            key: key.to_string(),
            fingerprint,
            export_id: ExportId::parse(&export_id).ok_or_else(unreadable)?,
            status: ExportStatus::parse(&status).ok_or_else(unreadable)?,
            estimated_duration_seconds: u64::try_from(estimate).map_err(|_| unreadable())?,
            created_at: DateTime::from_timestamp_micros(created).ok_or_else(unreadable)?,
            expires_at: DateTime::from_timestamp_micros(expires).ok_or_else(unreadable)?,
        })
    })
    .transpose()
}

#[async_trait]
impl KeyedJobs for SqliteJobStore {
    async fn insert_keyed(&self, job: &ExportJob, record: &KeyRecord) -> PortResult<KeyedInsert> {
        let row = Row::of(job)?;
        let record = record.clone();
        let (cap, active) = (self.in_flight_cap, job.status.is_active());
        self.with_conn(move |c| {
            // The write lock is held from the key's read to the writes, so no
            // other writer can take the key or a slot in between.
            let tx = write_transaction(c)?;
            let now = micros(record.created_at);
            // Expired keys are free again; dropping them here keeps the table small.
            tx.execute("DELETE FROM idempotency_keys WHERE expires_at <= ?1", [now]).map_err(map_err)?;
            if let Some(existing) = read_key(&tx, &record.scope, &record.key, now)? {
                return Ok(KeyedInsert::KeyTaken(existing));
            }
            if active {
                check_in_flight(&tx, &row.org_id, cap)?;
            }
            tx.execute(
                "INSERT INTO idempotency_keys
                 (scope, key, fingerprint, export_id, status, estimated_duration_seconds, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    record.scope,
                    record.key,
                    record.fingerprint,
                    record.export_id.to_string(),
                    record.status.as_str(),
                    i64::try_from(record.estimated_duration_seconds).unwrap_or(i64::MAX),
                    now,
                    micros(record.expires_at)
                ],
            )
            .map_err(map_err)?;
            // On a clash, dropping the transaction rolls the key back too.
            insert_row(&tx, &row)?;
            tx.commit().map_err(map_err)?;
            Ok(KeyedInsert::Inserted)
        })
        .await
    }

    async fn forget_scope(&self, scope: &str) -> PortResult<u64> {
        let (conn, scope) = (self.conn.clone(), scope.to_string());
        // The in-flight count is read from the jobs themselves: nothing else to remove.
        sqlite::blocking(move || {
            let removed =
                sqlite::erase(&mut *sqlite::lock(&conn)?, &["DELETE FROM idempotency_keys WHERE scope = ?1"], &scope)?;
            Ok(removed[0])
        })
        .await
    }

    async fn key_record(&self, scope: &str, key: &str, now: DateTime<Utc>) -> PortResult<Option<KeyRecord>> {
        let (scope, key) = (scope.to_string(), key.to_string());
        self.with_conn(move |c| read_key(c, &scope, &key, micros(now))).await
    }
}
