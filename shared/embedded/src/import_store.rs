//! Activity imports in SQLite, laid out like the export jobs: the import
//! whole as JSON, beside copies of the columns it is filtered and ordered
//! by; every write after the first conditional on the version read.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params, params_from_iter};

use super::sqlite::{self, map_err};
use crate::domain::{ImportId, ImportJob, ImportStatus, OrgScope};
use crate::ports::{
    ErasedImports, ImportKey, ImportKeyed, ImportPage, ImportQuery, ImportStore, PortError, PortResult,
};

#[derive(Clone)]
pub struct SqliteImportStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteImportStore {
    pub fn open(db_path: &Path) -> PortResult<Self> {
        Ok(SqliteImportStore { conn: Arc::new(Mutex::new(sqlite::open(db_path)?)) })
    }

    async fn with_conn<T, F>(&self, f: F) -> PortResult<T>
    where
        F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
        T: Send + 'static,
    {
        sqlite::with_conn(&self.conn, f).await
    }
}

struct Row {
    import_id: String,
    org_id: String,
    status: &'static str,
    created_at: i64,
    version: i64,
    body: String,
}

impl Row {
    fn of(job: &ImportJob) -> PortResult<Row> {
        Ok(Row {
            import_id: job.import_id.to_string(),
            org_id: job.org_id.clone(),
            status: job.status.as_str(),
            created_at: job.created_at.timestamp_micros(),
            version: i64::try_from(job.version).map_err(|_| PortError::Permanent("version out of range".into()))?,
            body: serde_json::to_string(job).map_err(|e| PortError::Permanent(format!("encode import: {e}")))?,
        })
    }
}

fn decode(body: String) -> PortResult<ImportJob> {
    serde_json::from_str(&body).map_err(|e| PortError::Permanent(format!("stored import is unreadable: {e}")))
}

fn insert_row(c: &Connection, row: &Row) -> PortResult<()> {
    let n = c
        .execute(
            "INSERT INTO imports (import_id, org_id, status, created_at, version, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (import_id) DO NOTHING",
            params![row.import_id, row.org_id, row.status, row.created_at, row.version, row.body],
        )
        .map_err(map_err)?;
    if n == 0 { Err(PortError::Conflict) } else { Ok(()) }
}

fn read_key(c: &Connection, scope: &str, key: &str, now: i64) -> PortResult<Option<ImportKey>> {
    c.query_row(
        "SELECT fingerprint, import_id, created_at, expires_at FROM import_keys
         WHERE scope = ?1 AND key = ?2 AND expires_at > ?3",
        params![scope, key, now],
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?)),
    )
    .optional()
    .map_err(map_err)?
    .map(|(fingerprint, import_id, created, expires)| {
        let unreadable = || PortError::Permanent("stored idempotency key is unreadable".into());
        Ok(ImportKey {
            scope: scope.to_string(),
            key: key.to_string(),
            fingerprint,
            import_id: ImportId::parse(&import_id).ok_or_else(unreadable)?,
            created_at: DateTime::from_timestamp_micros(created).ok_or_else(unreadable)?,
            expires_at: DateTime::from_timestamp_micros(expires).ok_or_else(unreadable)?,
        })
    })
    .transpose()
}

#[async_trait]
impl ImportStore for SqliteImportStore {
    async fn insert_import(&self, job: &ImportJob) -> PortResult<()> {
        let row = Row::of(job)?;
        self.with_conn(move |c| insert_row(c, &row)).await
    }

    async fn insert_import_keyed(&self, job: &ImportJob, key: &ImportKey) -> PortResult<ImportKeyed> {
        let (row, key) = (Row::of(job)?, key.clone());
        self.with_conn(move |c| {
            let tx = Transaction::new_unchecked(c, TransactionBehavior::Immediate).map_err(map_err)?;
            let now = key.created_at.timestamp_micros();
            tx.execute("DELETE FROM import_keys WHERE expires_at <= ?1", [now]).map_err(map_err)?;
            if let Some(existing) = read_key(&tx, &key.scope, &key.key, now)? {
                return Ok(ImportKeyed::KeyTaken(existing));
            }
            tx.execute(
                "INSERT INTO import_keys (scope, key, fingerprint, import_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    key.scope,
                    key.key,
                    key.fingerprint,
                    key.import_id.to_string(),
                    now,
                    key.expires_at.timestamp_micros()
                ],
            )
            .map_err(map_err)?;
            insert_row(&tx, &row)?;
            tx.commit().map_err(map_err)?;
            Ok(ImportKeyed::Inserted)
        })
        .await
    }

    async fn import_key(&self, scope: &str, key: &str, now: DateTime<Utc>) -> PortResult<Option<ImportKey>> {
        let (scope, key) = (scope.to_string(), key.to_string());
        self.with_conn(move |c| read_key(c, &scope, &key, now.timestamp_micros())).await
    }

    async fn get_import(&self, id: &ImportId) -> PortResult<Option<ImportJob>> {
        let id = id.to_string();
        self.with_conn(move |c| {
            c.query_row("SELECT body FROM imports WHERE import_id = ?1", [id], |r| r.get::<_, String>(0))
                .optional()
                .map_err(map_err)?
                .map(decode)
                .transpose()
        })
        .await
    }

    async fn list_imports(&self, query: &ImportQuery) -> PortResult<ImportPage> {
        let mut clauses = Vec::new();
        let mut args = Vec::new();
        if let OrgScope::Only(orgs) = &query.scope {
            if orgs.is_empty() {
                return Ok(ImportPage { imports: Vec::new(), total: 0 });
            }
            clauses.push(format!("org_id IN ({})", vec!["?"; orgs.len()].join(",")));
            args.extend(orgs.iter().map(|o| Value::Text(o.clone())));
        }
        if let Some(status) = query.status {
            clauses.push("status = ?".to_string());
            args.push(Value::Text(status.as_str().to_string()));
        }
        let where_sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        let limit = i64::from(query.limit);
        let offset = i64::from(query.page.max(1) - 1) * limit;
        self.with_conn(move |c| {
            let total: i64 = c
                .query_row(&format!("SELECT COUNT(*) FROM imports {where_sql}"), params_from_iter(&args), |r| r.get(0))
                .map_err(map_err)?;
            let mut page_args = args;
            page_args.extend([Value::Integer(limit), Value::Integer(offset)]);
            let mut stmt = c
                .prepare(&format!(
                    "SELECT body FROM imports {where_sql} ORDER BY created_at DESC, import_id DESC LIMIT ? OFFSET ?"
                ))
                .map_err(map_err)?;
            let imports = stmt
                .query_map(params_from_iter(&page_args), |r| r.get::<_, String>(0))
                .map_err(map_err)?
                .map(|body| decode(body.map_err(map_err)?))
                .collect::<PortResult<Vec<_>>>()?;
            Ok(ImportPage { imports, total: total as u64 })
        })
        .await
    }

    async fn update_import(&self, job: &ImportJob, expected_version: u64) -> PortResult<()> {
        let row = Row::of(job)?;
        let expected =
            i64::try_from(expected_version).map_err(|_| PortError::Permanent("version out of range".into()))?;
        self.with_conn(move |c| {
            let n = c
                .execute(
                    "UPDATE imports SET status = ?2, version = ?3, body = ?4 WHERE import_id = ?1 AND version = ?5",
                    params![row.import_id, row.status, row.version, row.body, expected],
                )
                .map_err(map_err)?;
            if n == 0 { Err(PortError::Conflict) } else { Ok(()) }
        })
        .await
    }

    async fn erase_imports(&self, org_id: &str) -> PortResult<ErasedImports> {
        let (conn, org_id) = (self.conn.clone(), org_id.to_string());
        sqlite::blocking(move || {
            let removed = sqlite::erase(
                &mut *sqlite::lock(&conn)?,
                &["DELETE FROM imports WHERE org_id = ?1", "DELETE FROM import_keys WHERE scope = ?1"],
                &org_id,
            )?;
            Ok(ErasedImports { imports: removed[0], keys: removed[1] })
        })
        .await
    }

    async fn unfinished_imports(&self) -> PortResult<Vec<ImportJob>> {
        self.with_conn(|c| {
            let mut stmt = c
                .prepare("SELECT body FROM imports WHERE status IN (?1, ?2, ?3) ORDER BY created_at ASC, import_id ASC")
                .map_err(map_err)?;
            stmt.query_map(
                [
                    ImportStatus::AwaitingUpload.as_str(),
                    ImportStatus::Validating.as_str(),
                    ImportStatus::Importing.as_str(),
                ],
                |r| r.get::<_, String>(0),
            )
            .map_err(map_err)?
            .map(|body| decode(body.map_err(map_err)?))
            .collect()
        })
        .await
    }
}
