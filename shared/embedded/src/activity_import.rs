//! An import into SQLite: one transaction, written on a thread of its
//! own while the importer goes on checking rows; the rows take effect
//! together at [`finish`], and a writer dropped before that rolls all of
//! them back.
//!
//! Rows are written in the table's order, a chunk at a time. A file comes
//! in any order (a year of activities, say, as they were recorded), and
//! rows written as they came landed all over the three B-trees, where
//! SQLite splits pages in their middles instead of filling them from the
//! end. Gathering [`SORT_CHUNK`] rows and writing them sorted by (date,
//! activity id), a million-row JSON Lines import's writing thread took
//! 10.3 s on a core instead of 15.2 s (BENCHMARKS.md). The order is free
//! to choose: an import names each activity once, as the checker refuses
//! a repeated id.
//!
//! [`finish`]: ImportWriter::finish

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{TransactionBehavior, params};

use super::activity_store::{Encoded, UPSERT, upsert_encoded};
use super::sqlite::{self, map_err};
use crate::domain::{Activity, Period};
use crate::ports::{ImportOutcome, ImportWriter, PortError, PortResult};

/// Rows gathered and sorted before they are written. Memory: about
/// 300 bytes a row (its encoded body and keys) for the chunk being
/// gathered, the one waiting and the one being written.
const SORT_CHUNK: usize = 16 * 1024;

/// The import connection's page cache, in KiB.
const IMPORT_CACHE_KIB: i64 = 16 * 1024;

/// What the import thread is told.
enum ImportStep {
    /// Rows in the order they are to be written.
    Rows(Vec<Encoded>),
    Finish(tokio::sync::oneshot::Sender<PortResult<ImportOutcome>>),
}

pub(crate) struct SqliteImport {
    steps: SyncSender<ImportStep>,
    /// Rows gathered for the next sorted chunk.
    chunk: Vec<Encoded>,
    /// The first error the thread met, reported on the next call.
    failed: Arc<Mutex<Option<PortError>>>,
}

impl SqliteImport {
    /// Starts the import's thread and transaction.
    pub(crate) fn begin(db_path: PathBuf, org_id: String, replace: Option<Period>) -> PortResult<Self> {
        // One chunk waits while another is written: the importer keeps
        // checking rows meanwhile.
        let (steps, received) = std::sync::mpsc::sync_channel(1);
        let failed = Arc::new(Mutex::new(None));
        let thread_failed = failed.clone();
        std::thread::Builder::new()
            .name("sqlite-import".into())
            .spawn(move || import_thread(db_path, org_id, replace, received, thread_failed))
            .map_err(|e| PortError::Transient(format!("import thread: {e}")))?;
        Ok(SqliteImport { steps, chunk: Vec::new(), failed })
    }

    fn first_error(&self) -> Option<PortError> {
        self.failed.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn gone(&self) -> PortError {
        self.first_error().unwrap_or_else(|| PortError::Permanent("the import's writer stopped".into()))
    }

    /// Hands the gathered rows, sorted, to the thread; a full channel
    /// blocks, so the wait happens on a blocking thread.
    async fn send_chunk(&mut self) -> PortResult<()> {
        let mut chunk = std::mem::take(&mut self.chunk);
        let steps = self.steps.clone();
        let sent = tokio::task::spawn_blocking(move || {
            chunk.sort_unstable_by(|a, b| (a.date, &a.activity_id).cmp(&(b.date, &b.activity_id)));
            steps.send(ImportStep::Rows(chunk))
        })
        .await;
        match sent {
            Ok(Ok(())) => Ok(()),
            _ => Err(self.gone()),
        }
    }
}

#[async_trait]
impl ImportWriter for SqliteImport {
    async fn write(&mut self, batch: Vec<Activity>) -> PortResult<()> {
        if let Some(e) = self.first_error() {
            return Err(e);
        }
        for a in &batch {
            self.chunk.push(Encoded::of(a)?);
        }
        if self.chunk.len() >= SORT_CHUNK {
            self.send_chunk().await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> PortResult<ImportOutcome> {
        if !self.chunk.is_empty() {
            self.send_chunk().await?;
        }
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let steps = self.steps.clone();
        let sent = tokio::task::spawn_blocking(move || steps.send(ImportStep::Finish(reply))).await;
        if !matches!(sent, Ok(Ok(()))) {
            return Err(self.gone());
        }
        outcome.await.unwrap_or_else(|_| Err(self.gone()))
    }
}

fn import_thread(
    db_path: PathBuf,
    org_id: String,
    replace: Option<Period>,
    steps: Receiver<ImportStep>,
    failed: Arc<Mutex<Option<PortError>>>,
) {
    let run = || -> PortResult<Option<(tokio::sync::oneshot::Sender<PortResult<ImportOutcome>>, ImportOutcome)>> {
        let mut conn = sqlite::open(&db_path)?;
        // A whole import is one transaction touching three B-trees: with
        // SQLite's default 2 MB page cache its pages spill to the WAL and
        // are read back again and again (most of an import's time went to
        // pread and pwrite). Written in sorted chunks, a million rows need
        // no more than 16 MB: 32 MB was no faster, and with the chunks
        // took a peak of 125-131 MB against 107-115 MB.
        conn.pragma_update(None, "cache_size", -IMPORT_CACHE_KIB).map_err(map_err)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_err)?;
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS imported (activity_id TEXT PRIMARY KEY NOT NULL); DELETE FROM imported;",
        )
        .map_err(map_err)?;
        let mut written = 0u64;
        {
            let mut upsert = tx.prepare(UPSERT).map_err(map_err)?;
            let mut seen = tx.prepare("INSERT OR IGNORE INTO imported (activity_id) VALUES (?1)").map_err(map_err)?;
            for step in steps.iter() {
                match step {
                    ImportStep::Rows(rows) => {
                        for a in &rows {
                            upsert_encoded(&mut upsert, a)?;
                            // Only a replacing import asks afterwards what it named.
                            if replace.is_some() {
                                seen.execute([&a.activity_id]).map_err(map_err)?;
                            }
                            written += 1;
                        }
                    }
                    ImportStep::Finish(reply) => {
                        drop((upsert, seen));
                        let removed = match replace {
                            None => 0,
                            Some(p) => tx
                                .execute(
                                    "DELETE FROM activities WHERE org_id = ?1 AND date >= ?2 AND date <= ?3
                                     AND activity_id NOT IN (SELECT activity_id FROM temp.imported)",
                                    params![
                                        org_id,
                                        p.from.format("%Y-%m-%d").to_string(),
                                        p.to.format("%Y-%m-%d").to_string()
                                    ],
                                )
                                .map_err(map_err)? as u64,
                        };
                        tx.execute_batch("DELETE FROM temp.imported").map_err(map_err)?;
                        tx.commit().map_err(map_err)?;
                        return Ok(Some((reply, ImportOutcome { written, removed })));
                    }
                }
            }
        }
        // The writer went away unfinished: dropping the transaction rolls it back.
        Ok(None)
    };
    match run() {
        Ok(Some((reply, outcome))) => {
            let _ = reply.send(Ok(outcome));
        }
        Ok(None) => {}
        Err(e) => {
            *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            // Whoever waits for the finish hears of it there.
            for step in steps.iter() {
                if let ImportStep::Finish(reply) = step {
                    let error = failed.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    let _ = reply.send(Err(error.unwrap_or(PortError::Permanent("import failed".into()))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Imports larger than a chunk, in the worst order (newest first),
    //! against a real SQLite file.
    use chrono::{NaiveDate, Utc};
    use futures::StreamExt;

    use super::*;
    use crate::SqliteActivities;
    use crate::domain::{ImportId, fixtures};
    use crate::ports::{ActivityQuery, ActivitySource, ActivityStore};

    fn activities(org: &str, n: usize) -> Vec<Activity> {
        let first = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        (0..n)
            .map(|i| {
                let mut a = fixtures::activity();
                a.org_id = org.into();
                a.activity_id = format!("a-{i:06}");
                // newest first, several per day
                a.date = first + chrono::Duration::days(364 - (i as i64 * 7) % 365);
                a
            })
            .collect()
    }

    fn year(org: &str) -> ActivityQuery {
        ActivityQuery {
            org_id: org.into(),
            from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
            types: vec![],
        }
    }

    async fn try_import(
        store: &SqliteActivities,
        org: &str,
        replace: Option<Period>,
        rows: &[Activity],
    ) -> PortResult<ImportOutcome> {
        let mut w = store.begin_import(org, &ImportId::generate(Utc::now().date_naive()), replace).await?;
        for batch in rows.chunks(1000) {
            w.write(batch.to_vec()).await?;
        }
        w.finish().await
    }

    async fn import(store: &SqliteActivities, org: &str, replace: Option<Period>, rows: &[Activity]) -> ImportOutcome {
        try_import(store, org, replace, rows).await.unwrap()
    }

    #[tokio::test]
    async fn chunks_written_sorted_store_every_row_and_replace_exactly() {
        let tmp = tempfile::tempdir().unwrap();
        let store = SqliteActivities::open(&tmp.path().join("activities.sqlite3")).unwrap();
        let n = SORT_CHUNK * 2 + SORT_CHUNK / 2 + 3;
        let rows = activities("org-a", n);
        assert_eq!(import(&store, "org-a", None, &rows).await, ImportOutcome { written: n as u64, removed: 0 });
        let stored: Vec<Activity> = store.stream(year("org-a")).map(Result::unwrap).collect().await;
        let mut expected = rows.clone();
        expected.sort_by(|a, b| (a.date, &a.activity_id).cmp(&(b.date, &b.activity_id)));
        assert!(stored == expected, "every row, once, as it was written");

        // The whole year again, without its first chunk's worth of rows:
        // exactly those go, whichever chunk they would have been in.
        let whole = Period { from: year("org-a").from, to: year("org-a").to };
        let kept = &rows[SORT_CHUNK..];
        let outcome = import(&store, "org-a", Some(whole), kept).await;
        assert_eq!(outcome, ImportOutcome { written: kept.len() as u64, removed: SORT_CHUNK as u64 });
        assert_eq!(store.count(&year("org-a")).await.unwrap(), kept.len() as u64);
    }

    #[tokio::test]
    async fn an_import_dropped_after_chunks_were_written_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = SqliteActivities::open(&tmp.path().join("activities.sqlite3")).unwrap();
        let rows = activities("org-a", SORT_CHUNK * 2 + 10);
        let mut w = store.begin_import("org-a", &ImportId::generate(Utc::now().date_naive()), None).await.unwrap();
        for batch in rows.chunks(1000) {
            w.write(batch.to_vec()).await.unwrap();
        }
        drop(w);
        // The thread rolls back once it sees the writer gone, after the
        // chunk in hand; until then a new import finds the database busy
        // (a slow machine may take longer than the busy timeout).
        let one = &rows[..1];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let outcome = loop {
            match try_import(&store, "org-a", None, one).await {
                Err(PortError::Transient(_)) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                other => break other.unwrap(),
            }
        };
        assert_eq!(outcome, ImportOutcome { written: 1, removed: 0 });
        assert_eq!(store.count(&year("org-a")).await.unwrap(), 1);
    }
}
