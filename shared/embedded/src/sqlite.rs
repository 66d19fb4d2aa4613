//! Opening the embedded database and translating its errors into port
//! errors. Every store opens its own connection to the same file; WAL
//! lets readers run beside the one writer, and the busy timeout turns
//! short write contention into waiting instead of failing.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::ports::{PortError, PortResult};

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Schema steps; `user_version` records how many have run. Append only:
/// an edited step would never reach a database that already ran it.
const MIGRATIONS: &[&str] = &[
    // 1: jobs. The body is the whole job as JSON; the other columns exist
    // only to filter and order without parsing it.
    "CREATE TABLE jobs (
        export_id  TEXT PRIMARY KEY NOT NULL,
        org_id     TEXT NOT NULL,
        status     TEXT NOT NULL,
        format     TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        version    INTEGER NOT NULL,
        body       TEXT NOT NULL
    );
    CREATE INDEX jobs_by_org ON jobs (org_id, created_at DESC);
    CREATE INDEX jobs_by_status ON jobs (status, created_at);",
    // 2: activities, laid out for the export's range scan in report order.
    "CREATE TABLE activities (
        org_id        TEXT NOT NULL,
        activity_id   TEXT NOT NULL,
        date          TEXT NOT NULL,
        activity_type TEXT NOT NULL,
        body          TEXT NOT NULL,
        PRIMARY KEY (org_id, activity_id)
    );
    CREATE INDEX activities_by_date ON activities (org_id, date, activity_id);",
    // 3: idempotency keys with the answer they got; the primary key is what
    // makes one key create one export.
    "CREATE TABLE idempotency_keys (
        scope       TEXT NOT NULL,
        key         TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        export_id   TEXT NOT NULL,
        status      TEXT NOT NULL,
        estimated_duration_seconds INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        PRIMARY KEY (scope, key)
    );
    CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);",
    // 4: activities clustered on the export's key. With step 2's layout the
    // range scan walked an index and then fetched every row from wherever it
    // had been inserted: a random page read per activity, four times slower
    // than reading them in order. Same columns in the same order; the
    // (org_id, activity_id) key becomes a unique index so upserts still find
    // their row. Counting a period (each create and each run) would now read
    // every row's body, so a small covering index answers it instead: 0.13 s
    // for a million rows rather than 0.5 s.
    "CREATE TABLE activities_in_report_order (
        org_id        TEXT NOT NULL,
        activity_id   TEXT NOT NULL,
        date          TEXT NOT NULL,
        activity_type TEXT NOT NULL,
        body          TEXT NOT NULL,
        PRIMARY KEY (org_id, date, activity_id)
    ) WITHOUT ROWID;
    INSERT INTO activities_in_report_order (org_id, activity_id, date, activity_type, body)
        SELECT org_id, activity_id, date, activity_type, body FROM activities;
    DROP TABLE activities;
    ALTER TABLE activities_in_report_order RENAME TO activities;
    CREATE UNIQUE INDEX activities_by_id ON activities (org_id, activity_id);
    CREATE INDEX activities_by_date ON activities (org_id, date, activity_type);",
    // 5: the in-flight count each create and retry makes inside its write
    // transaction reads this index, not every job the organisation has had.
    "CREATE INDEX jobs_by_org_status ON jobs (org_id, status);",
    // 6: activity imports, like jobs: the whole import as JSON beside the
    // columns it is filtered and ordered by; and their idempotency keys.
    "CREATE TABLE imports (
        import_id  TEXT PRIMARY KEY NOT NULL,
        org_id     TEXT NOT NULL,
        status     TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        version    INTEGER NOT NULL,
        body       TEXT NOT NULL
    );
    CREATE INDEX imports_by_org ON imports (org_id, created_at DESC);
    CREATE INDEX imports_by_status ON imports (status, created_at);
    CREATE TABLE import_keys (
        scope       TEXT NOT NULL,
        key         TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        import_id   TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        PRIMARY KEY (scope, key)
    );",
    // 7: what organisations told us about themselves.
    "CREATE TABLE organisations (
        org_id TEXT PRIMARY KEY NOT NULL,
        body   TEXT NOT NULL
    );",
    // 8: webhook endpoints and their deliveries (`created_at` in
    // nanoseconds, the order of the lists). `due_at` (milliseconds)
    // and `order_key` are set only while a delivery is pending, so the
    // partial indexes hold just the work still to do.
    "CREATE TABLE webhook_endpoints (
        id         TEXT PRIMARY KEY NOT NULL,
        org_id     TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        version    INTEGER NOT NULL,
        body       TEXT NOT NULL
    );
    CREATE INDEX webhook_endpoints_by_org ON webhook_endpoints (org_id, created_at);
    CREATE TABLE webhook_deliveries (
        id          TEXT PRIMARY KEY NOT NULL,
        endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        subject     TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        due_at      INTEGER,
        order_key   TEXT,
        version     INTEGER NOT NULL,
        body        TEXT NOT NULL
    );
    CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at DESC);
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (due_at) WHERE due_at IS NOT NULL;
    CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, subject, order_key)
        WHERE order_key IS NOT NULL;",
    // 9: the exports' audit trail, kept apart from the jobs so it outlives
    // a deleted one until `expires_at` (milliseconds).
    "CREATE TABLE audit (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        export_id  TEXT NOT NULL,
        org_id     TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        entry      TEXT NOT NULL
    );
    CREATE INDEX audit_by_export ON audit (export_id, seq);
    CREATE INDEX audit_by_expiry ON audit (expires_at);",
];

/// A read-write connection with the schema brought up to date.
pub fn open(path: &Path) -> PortResult<Connection> {
    let mut conn = Connection::open(path).map_err(map_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)).map_err(map_err)?;
    // NORMAL is durable across process crashes in WAL mode; only an OS
    // crash can lose the last transactions, which a re-run export redoes.
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(map_err)?;
    conn.pragma_update(None, "foreign_keys", true).map_err(map_err)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// A connection that cannot write, for long reads beside the writers.
pub fn open_read_only(path: &Path) -> PortResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(map_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> PortResult<()> {
    // IMMEDIATE takes the write lock before reading the version, so two
    // stores opening the same file at once cannot both run a step.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_err)?;
    let done: usize =
        tx.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0)).map_err(map_err)?.try_into().unwrap_or(0);
    if done > MIGRATIONS.len() {
        return Err(PortError::Permanent(format!(
            "the database has schema version {done}, newer than this program knows ({})",
            MIGRATIONS.len()
        )));
    }
    for step in &MIGRATIONS[done..] {
        tx.execute_batch(step).map_err(map_err)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64).map_err(map_err)?;
    tx.commit().map_err(map_err)
}

/// Busy and locked mean another connection held the lock past the
/// timeout: worth retrying. Everything else will fail the same way again.
/// The message is cut short: some carry the whole statement, and a
/// statement with thousands of arguments made a log line of 70 KB.
pub fn map_err(e: rusqlite::Error) -> PortError {
    let mut message = e.to_string();
    if message.len() > MAX_MESSAGE {
        let cut = (0..=MAX_MESSAGE).rev().find(|i| message.is_char_boundary(*i)).unwrap_or(0);
        message.truncate(cut);
        message.push_str("...");
    }
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => PortError::Transient(message),
        _ => PortError::Permanent(format!("sqlite: {message}")),
    }
}

const MAX_MESSAGE: usize = 300;

pub(crate) fn lock(conn: &Mutex<Connection>) -> PortResult<MutexGuard<'_, Connection>> {
    // A panic while holding the lock rolled back its transaction when the
    // statement handles dropped, so the connection itself is still sound.
    Ok(conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

/// Runs `f` on the shared connection, off the async threads.
pub(crate) async fn with_conn<T, F>(conn: &Arc<Mutex<Connection>>, f: F) -> PortResult<T>
where
    F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
    T: Send + 'static,
{
    let conn = conn.clone();
    blocking(move || f(&*lock(&conn)?)).await
}

/// Runs the deletes in `statements` (each taking the one parameter
/// `key`) in one transaction with SQLite's secure delete on, so the pages
/// they free are zeroed instead of keeping the rows. Secure delete does
/// not reach everything: a page the B-tree rebuilds keeps old bytes in its
/// unused space. So the file is then rebuilt (`VACUUM`) and the WAL, whose
/// frames held the rows too, checkpointed and truncated. For erasing an
/// organisation; returns the rows each statement removed.
pub(crate) fn erase(conn: &mut Connection, statements: &[&str], key: &str) -> PortResult<Vec<u64>> {
    conn.pragma_update(None, "secure_delete", true).map_err(map_err)?;
    let result = (|| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_err)?;
        let mut removed = Vec::with_capacity(statements.len());
        for sql in statements {
            removed.push(tx.execute(sql, [key]).map_err(map_err)? as u64);
        }
        tx.commit().map_err(map_err)?;
        Ok(removed)
    })();
    conn.pragma_update(None, "secure_delete", false).map_err(map_err)?;
    let removed = result?;
    // Nothing deleted (erasing again, a store holding nothing of the
    // organisation): no freed page to clear, so no rebuild of the whole file.
    if removed.iter().all(|n| *n == 0) {
        return Ok(removed);
    }
    // A long read elsewhere (an export streaming) can hold either off past
    // the busy timeout; the rows are gone from every query all the same.
    if let Err(e) = conn.execute_batch("VACUUM") {
        tracing::warn!(error = %e, "erased rows may stay in the database file's free space until it is vacuumed");
    }
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    Ok(removed)
}

/// Runs SQLite work off the async threads.
pub(crate) async fn blocking<T, F>(f: F) -> PortResult<T>
where
    F: FnOnce() -> PortResult<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| PortError::Permanent(format!("database task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_twice_migrates_once_and_uses_wal() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db.sqlite3");
        let a = open(&path).unwrap();
        let b = open(&path).unwrap();
        let version: i64 = b.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
        let mode: String = a.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_held_write_lock_is_transient() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db.sqlite3");
        let mut holder = open(&path).unwrap();
        let other = open(&path).unwrap();
        other.busy_timeout(Duration::from_millis(10)).unwrap();
        let _tx = holder.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
        let err = other.execute("INSERT INTO activities VALUES ('o','a','2025-01-01','t','{}')", []).unwrap_err();
        assert!(matches!(map_err(err), PortError::Transient(_)));
    }

    #[test]
    fn long_messages_are_cut_short() {
        let conn = Connection::open_in_memory().unwrap();
        // Too many variables: SQLite's message then carries the whole statement.
        let long = format!("SELECT 1 WHERE 1 IN ({})", vec!["?"; 40_000].join(","));
        let PortError::Permanent(m) = map_err(conn.prepare(&long).unwrap_err()) else { panic!("not permanent") };
        assert!(m.len() < MAX_MESSAGE + 20 && m.ends_with("..."), "{} bytes: {m}", m.len());
    }

    #[test]
    fn other_errors_are_permanent() {
        let conn = Connection::open_in_memory().unwrap();
        let err = conn.execute("INSERT INTO nowhere VALUES (1)", []).unwrap_err();
        assert!(matches!(map_err(err), PortError::Permanent(_)));
    }

    #[test]
    fn activities_stored_before_the_clustered_layout_survive_it() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            for step in &MIGRATIONS[..3] {
                conn.execute_batch(step).unwrap();
            }
            conn.pragma_update(None, "user_version", 3).unwrap();
            for (id, date) in [("b", "2025-03-01"), ("a", "2025-05-01"), ("c", "2025-01-01")] {
                conn.execute("INSERT INTO activities VALUES ('o', ?1, ?2, 't', ?1)", [id, date]).unwrap();
            }
        }
        let conn = open(&path).unwrap();
        let in_order: Vec<String> = conn
            .prepare(
                "SELECT body FROM activities WHERE org_id = 'o' AND date >= '2025-01-01' ORDER BY date, activity_id",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(in_order, ["c", "b", "a"]);
        // The scan reads the table itself in key order: no per-row lookup, no sort.
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT body FROM activities WHERE org_id = 'o' AND date >= '2025-01-01' \
                 ORDER BY date, activity_id",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("USING PRIMARY KEY"), "{plan}");
        let count_plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM activities WHERE org_id = 'o' AND date >= '2025-01-01' \
                 AND activity_type IN ('t')",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(count_plan.contains("COVERING INDEX activities_by_date"), "{count_plan}");
        let duplicate = conn.execute("INSERT INTO activities VALUES ('o', 'a', '2025-09-09', 't', 'x')", []);
        assert!(duplicate.is_err(), "(org_id, activity_id) is still unique");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db.sqlite3");
        open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(open(&path), Err(PortError::Permanent(_))));
    }
}
