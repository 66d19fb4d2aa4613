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

use super::activity_body;
use super::activity_import::SqliteImport;
use super::sqlite::{self, blocking, lock, map_err};
use chrono::NaiveDate;
use rusqlite::OptionalExtension;

use crate::domain::{Activity, ImportId, Period};
use crate::ports::{ActivityQuery, ActivitySource, ActivityStore, ImportWriter, PortError, PortResult, Stored};

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
    exists: Statement<'tx>,
    written: u64,
}

impl ActivityWriter<'_> {
    /// Adds the activity, replacing a stored one with the same
    /// (org_id, activity_id). Refuses records that fail `problems()`, so
    /// nothing inconsistent reaches a report whoever the caller is.
    pub fn upsert(&mut self, activity: &Activity) -> PortResult<()> {
        let problems = activity.problems();
        if !problems.is_empty() {
            let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
            return Err(PortError::Permanent(format!("activity {}: {}", activity.activity_id, messages.join("; "))));
        }
        upsert_row(&mut self.upsert, activity)?;
        self.written += 1;
        Ok(())
    }

    /// Activities stored so far in this transaction.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Whether the organisation has an activity with this id stored.
    pub fn exists(&mut self, org_id: &str, activity_id: &str) -> PortResult<bool> {
        self.exists.query_row(params![org_id, activity_id], |_| Ok(())).optional().map(|r| r.is_some()).map_err(map_err)
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
            let upsert = tx.prepare(UPSERT).map_err(map_err)?;
            let exists =
                tx.prepare("SELECT 1 FROM activities WHERE org_id = ?1 AND activity_id = ?2").map_err(map_err)?;
            f(&mut ActivityWriter { upsert, exists, written: 0 })
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
        let item = activity_body::decode(row.get_ref(0).map_err(map_err)?);
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

    /// The covering index `activities_by_date` answers without reading a row.
    async fn known_count(&self, query: &ActivityQuery) -> PortResult<Option<u64>> {
        self.count(query).await.map(Some)
    }

    /// The rows are read on a helper thread of their own, below the
    /// priority of the export that writes them (`helper_thread`).
    fn stream(&self, query: ActivityQuery) -> BoxStream<'static, PortResult<Activity>> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let db_path = self.db_path.clone();
        let failed = tx.clone();
        let spawned = bufdir_core::helper_thread::spawn("activities-read", move || {
            if let Err(e) = produce(&db_path, &query, &tx) {
                let _ = tx.blocking_send(vec![Err(e)]);
            }
        });
        if let Err(e) = spawned {
            let _ = failed.try_send(vec![Err(PortError::Transient(format!("no thread to read activities: {e}")))]);
        }
        Box::pin(ReceiverStream::new(rx).flat_map(futures::stream::iter))
    }
}

pub(crate) const UPSERT: &str = "INSERT INTO activities (org_id, activity_id, date, activity_type, body)
     VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (org_id, activity_id) DO UPDATE SET
       date = excluded.date, activity_type = excluded.activity_type, body = excluded.body";

fn upsert_row(stmt: &mut Statement<'_>, a: &Activity) -> PortResult<()> {
    upsert_encoded(stmt, &Encoded::of(a)?)
}

/// An activity as its row holds it: the body encoded, the key columns
/// beside it.
pub(crate) struct Encoded {
    pub(crate) date: NaiveDate,
    pub(crate) activity_id: String,
    org_id: String,
    activity_type: &'static str,
    body: Vec<u8>,
}

impl Encoded {
    pub(crate) fn of(a: &Activity) -> PortResult<Self> {
        Ok(Encoded {
            date: a.date,
            activity_id: a.activity_id.clone(),
            org_id: a.org_id.clone(),
            activity_type: a.activity_type.as_str(),
            body: activity_body::encode(a)?,
        })
    }
}

pub(crate) fn upsert_encoded(stmt: &mut Statement<'_>, row: &Encoded) -> PortResult<()> {
    stmt.execute(params![
        row.org_id,
        row.activity_id,
        // Display is YYYY-MM-DD for every year an activity can have, and
        // does not parse a format string for each of a million rows.
        row.date.to_string(),
        row.activity_type,
        row.body
    ])
    .map_err(map_err)?;
    Ok(())
}

#[async_trait]
impl ActivityStore for SqliteActivities {
    async fn put_activities(&self, org_id: &str, activities: Vec<Activity>) -> PortResult<Vec<Stored>> {
        let org_id = org_id.to_string();
        self.write(move |w| {
            let mut out = Vec::with_capacity(activities.len());
            for a in &activities {
                if a.org_id != org_id {
                    return Err(PortError::Permanent(format!("activity {} is not {org_id}'s", a.activity_id)));
                }
                let existed = w.exists(&a.org_id, &a.activity_id)?;
                w.upsert(a)?;
                out.push(if existed { Stored::Replaced } else { Stored::Created });
            }
            Ok(out)
        })
        .await
    }

    async fn erase_activities(&self, org_id: &str) -> PortResult<u64> {
        let (conn, org_id) = (self.conn.clone(), org_id.to_string());
        blocking(move || {
            let removed = sqlite::erase(&mut *lock(&conn)?, &["DELETE FROM activities WHERE org_id = ?1"], &org_id)?;
            Ok(removed[0])
        })
        .await
    }

    async fn delete_activity(&self, org_id: &str, activity_id: &str) -> PortResult<bool> {
        let (org_id, activity_id) = (org_id.to_string(), activity_id.to_string());
        let conn = self.conn.clone();
        blocking(move || {
            let n = lock(&conn)?
                .execute("DELETE FROM activities WHERE org_id = ?1 AND activity_id = ?2", params![org_id, activity_id])
                .map_err(map_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn activity_page(
        &self,
        query: &ActivityQuery,
        after: Option<(NaiveDate, String)>,
        limit: u32,
    ) -> PortResult<Vec<Activity>> {
        let (mut where_sql, mut args) = filter(query);
        if let Some((date, id)) = after {
            where_sql.push_str(" AND (date, activity_id) > (?, ?)");
            args.push(Value::Text(date.format("%Y-%m-%d").to_string()));
            args.push(Value::Text(id));
        }
        args.push(Value::Integer(i64::from(limit)));
        let db_path = self.db_path.clone();
        blocking(move || {
            let conn = sqlite::open_read_only(&db_path)?;
            let mut stmt = conn
                .prepare(&format!("SELECT body FROM activities {where_sql} ORDER BY date, activity_id LIMIT ?"))
                .map_err(map_err)?;
            let mut rows = stmt.query(params_from_iter(&args)).map_err(map_err)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(map_err)? {
                out.push(activity_body::decode(row.get_ref(0).map_err(map_err)?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn begin_import(
        &self,
        org_id: &str,
        _import_id: &ImportId,
        replace: Option<Period>,
    ) -> PortResult<Box<dyn ImportWriter>> {
        Ok(Box::new(SqliteImport::begin(self.db_path.clone(), org_id.to_string(), replace)?))
    }

    /// One transaction: a writer dropped unfinished rolls it back.
    fn imports_atomically(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    /// A database written before bodies were blobs: its JSON rows stream
    /// and page as they did, beside rows written now, and a row written
    /// again is stored the new way.
    #[tokio::test]
    async fn rows_stored_as_json_before_read_beside_new_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let store = SqliteActivities::open(&tmp.path().join("activities.sqlite3")).unwrap();
        let old = fixtures::activity();
        let mut new = fixtures::activity();
        new.activity_id = "act-000124".into();
        new.date = NaiveDate::from_ymd_opt(2025, 2, 1).unwrap();
        lock(&store.conn)
            .unwrap()
            .execute(
                "INSERT INTO activities (org_id, activity_id, date, activity_type, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    old.org_id,
                    old.activity_id,
                    old.date.to_string(),
                    old.activity_type.as_str(),
                    serde_json::to_string(&old).unwrap()
                ],
            )
            .unwrap();
        store.insert_all(vec![new.clone()]).await.unwrap();
        let query = ActivityQuery {
            org_id: old.org_id.clone(),
            from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
            types: vec![],
        };
        let streamed = || async { store.stream(query.clone()).map(Result::unwrap).collect::<Vec<Activity>>().await };
        let kinds = || -> Vec<String> {
            let conn = lock(&store.conn).unwrap();
            let mut stmt = conn.prepare("SELECT typeof(body) FROM activities ORDER BY date").unwrap();
            stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
        };
        assert_eq!(kinds(), ["blob", "text"]);
        assert_eq!(streamed().await, [new.clone(), old.clone()]);
        assert_eq!(store.activity_page(&query, None, 10).await.unwrap(), [new.clone(), old.clone()]);

        store.insert_all(vec![old.clone()]).await.unwrap();
        assert_eq!(kinds(), ["blob", "blob"]);
        assert_eq!(streamed().await, [new, old]);
    }
}
