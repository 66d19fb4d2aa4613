//! Activities in SQLite. Reads stream from their own read-only connection
//! so an export of millions of rows never waits for, or blocks, writers;
//! writes go through one transaction so an import is all or nothing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use rusqlite::types::Value;
use rusqlite::{Connection, Statement, TransactionBehavior, params, params_from_iter};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::sqlite::{self, blocking, lock, map_err};
use crate::domain::Activity;
use crate::ports::{ActivityQuery, ActivitySource, PortError, PortResult};

/// Rows go from the reading thread to the export in batches: handing them
/// over one at a time woke one thread or the other for every row, which
/// cost more than reading the row.
const BATCH: usize = 256;
/// Batches buffered between the two: enough to keep both busy, small
/// enough that memory stays flat whatever the row count.
const STREAM_BUFFER: usize = 8;

type Batch = Vec<PortResult<Activity>>;

#[derive(Clone)]
pub struct SqliteActivities {
    conn: Arc<Mutex<Connection>>,
    db_path: PathBuf,
}

/// Stores activities inside one open transaction; handed to the closure
/// given to [`SqliteActivities::write`].
pub struct ActivityWriter<'tx> {
    upsert: Statement<'tx>,
    written: u64,
}

impl ActivityWriter<'_> {
    /// Adds the activity, replacing a stored one with the same
    /// (org_id, activity_id). Refuses records that fail `problems()`, so
    /// nothing inconsistent reaches a report whoever the caller is.
    pub fn upsert(&mut self, activity: &Activity) -> PortResult<()> {
        let problems = activity.problems();
        if !problems.is_empty() {
            return Err(PortError::Permanent(format!("activity {}: {}", activity.activity_id, problems.join("; "))));
        }
        let body =
            serde_json::to_string(activity).map_err(|e| PortError::Permanent(format!("encode activity: {e}")))?;
        self.upsert
            .execute(params![
                activity.org_id,
                activity.activity_id,
                activity.date.format("%Y-%m-%d").to_string(),
                activity.activity_type.as_str(),
                body
            ])
            .map_err(map_err)?;
        self.written += 1;
        Ok(())
    }

    /// Activities stored so far in this transaction.
    pub fn written(&self) -> u64 {
        self.written
    }
}

impl SqliteActivities {
    pub fn open(db_path: &Path) -> PortResult<Self> {
        Ok(SqliteActivities { conn: Arc::new(Mutex::new(sqlite::open(db_path)?)), db_path: db_path.to_path_buf() })
    }

    /// Runs `f` inside one write transaction on the calling thread:
    /// committed if it returns `Ok`, rolled back (nothing stored) if it
    /// returns `Err` or panics. Blocks; from async code use [`Self::write`].
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut ActivityWriter<'_>) -> Result<T, E>,
        E: From<PortError>,
    {
        let mut conn = lock(&self.conn)?;
        // IMMEDIATE takes the write lock now rather than on the first row,
        // so a busy database fails before any work is done.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_err)?;
        let result = {
            let upsert = tx
                .prepare(
                    "INSERT INTO activities (org_id, activity_id, date, activity_type, body)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (org_id, activity_id) DO UPDATE SET
                       date = excluded.date, activity_type = excluded.activity_type, body = excluded.body",
                )
                .map_err(map_err)?;
            f(&mut ActivityWriter { upsert, written: 0 })
        };
        match result {
            Ok(value) => {
                tx.commit().map_err(map_err)?;
                Ok(value)
            }
            // Dropping the transaction rolls it back.
            Err(e) => Err(e),
        }
    }

    /// [`Self::write_blocking`] on a blocking thread.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut ActivityWriter<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<PortError> + Send + 'static,
    {
        let this = self.clone();
        match tokio::task::spawn_blocking(move || this.write_blocking(f)).await {
            Ok(result) => result,
            Err(e) => Err(PortError::Permanent(format!("activity write failed: {e}")).into()),
        }
    }

    /// Stores every activity in one transaction, pulling them one at a
    /// time from the iterator (which may be lazy and arbitrarily long).
    pub async fn insert_all<I>(&self, activities: I) -> PortResult<u64>
    where
        I: IntoIterator<Item = Activity> + Send + 'static,
        I::IntoIter: Send,
    {
        self.write(move |w| {
            for a in activities {
                w.upsert(&a)?;
            }
            Ok(w.written())
        })
        .await
    }
}

/// The WHERE clause every read shares, so count and stream agree.
fn filter(query: &ActivityQuery) -> (String, Vec<Value>) {
    let mut sql = "WHERE org_id = ? AND date >= ? AND date <= ?".to_string();
    let mut args = vec![
        Value::Text(query.org_id.clone()),
        Value::Text(query.from.format("%Y-%m-%d").to_string()),
        Value::Text(query.to.format("%Y-%m-%d").to_string()),
    ];
    if !query.types.is_empty() {
        sql.push_str(&format!(" AND activity_type IN ({})", vec!["?"; query.types.len()].join(",")));
        args.extend(query.types.iter().map(|t| Value::Text(t.as_str().to_string())));
    }
    (sql, args)
}

/// Reads the query's rows in report order and hands them to `tx` one by
/// one; returns when all are sent or the receiver is gone.
fn produce(db_path: &Path, query: &ActivityQuery, tx: &mpsc::Sender<Batch>) -> PortResult<()> {
    let conn = sqlite::open_read_only(db_path)?;
    let (where_sql, args) = filter(query);
    let mut stmt = conn
        .prepare(&format!("SELECT body FROM activities {where_sql} ORDER BY date, activity_id"))
        .map_err(map_err)?;
    let mut rows = stmt.query(params_from_iter(&args)).map_err(map_err)?;
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(row) = rows.next().map_err(map_err)? {
        let body = row.get_ref(0).map_err(map_err)?.as_str().map_err(|e| PortError::Permanent(e.to_string()))?;
        let item = serde_json::from_str::<Activity>(body)
            .map_err(|e| PortError::Permanent(format!("stored activity is unreadable: {e}")));
        let failed = item.is_err();
        batch.push(item);
        if failed || batch.len() == BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            if tx.blocking_send(full).is_err() || failed {
                // The export stopped listening (cancelled or failed), or this
                // row is broken and the stream ends with its error.
                return Ok(());
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(batch);
    }
    Ok(())
}

#[async_trait]
impl ActivitySource for SqliteActivities {
    async fn count(&self, query: &ActivityQuery) -> PortResult<u64> {
        let (where_sql, args) = filter(query);
        let db_path = self.db_path.clone();
        // Its own connection, like the stream: a long import holding the
        // writer must not make an export wait to count.
        blocking(move || {
            let conn = sqlite::open_read_only(&db_path)?;
            let n: i64 = conn
                .query_row(&format!("SELECT COUNT(*) FROM activities {where_sql}"), params_from_iter(&args), |r| {
                    r.get(0)
                })
                .map_err(map_err)?;
            Ok(n as u64)
        })
        .await
    }

    /// Must be called within a Tokio runtime: the rows are read on one of
    /// its blocking threads.
    fn stream(&self, query: ActivityQuery) -> BoxStream<'static, PortResult<Activity>> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let db_path = self.db_path.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = produce(&db_path, &query, &tx) {
                let _ = tx.blocking_send(vec![Err(e)]);
            }
        });
        Box::pin(ReceiverStream::new(rx).flat_map(futures::stream::iter))
    }
}
