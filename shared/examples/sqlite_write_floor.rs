//! The floor under a JSON Lines import's writer: SQLite inserting the
//! same number of rows into the activities table of a new data directory,
//! in one transaction, already sorted in the table's order, with bodies
//! of the stored size, and nothing else (no file, no JSON, no checks). The
//! rows are made before the clock starts, and the clock stops once the
//! transaction committed. An import, which must also read and check every
//! row, cannot be faster than this: on a machine of two cores the other
//! core is the one reading. With `without-counting-index` the table has
//! one index fewer (`activities_by_date`), to show what that index costs.
//!
//! `sqlite_write_floor ROWS DB_PATH [without-counting-index]` prints
//! `ROWS SECONDS`.

use std::time::Instant;

use rusqlite::{TransactionBehavior, params};
use shared::adapters::embedded::sqlite;

/// About what an activity's stored body takes (`activity_body.rs`).
const BODY_BYTES: usize = 110;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (rows, path, drop_index): (u64, &str, bool) = match args.as_slice() {
        [_, rows, path] => (rows.parse()?, path, false),
        [_, rows, path, flag] if flag == "without-counting-index" => (rows.parse()?, path, true),
        _ => return Err("usage: sqlite_write_floor ROWS DB_PATH [without-counting-index]".into()),
    };
    let mut made: Vec<(String, String, &'static str, Vec<u8>)> =
        shared::demo::generate("org-bench", rows, 2025..=2025, 1)
            .map(|a| {
                let mut body = format!("{}{}{}", a.activity_id, a.title, a.kommunenummer).into_bytes();
                body.resize(BODY_BYTES, 0);
                (a.date.to_string(), a.activity_id, a.activity_type.as_str(), body)
            })
            .collect();
    made.sort_unstable_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));

    let mut conn = sqlite::open(std::path::Path::new(path))?;
    if drop_index {
        conn.execute_batch("DROP INDEX activities_by_date")?;
    }
    // The import connection's page cache (`activity_import.rs`).
    conn.pragma_update(None, "cache_size", -16 * 1024)?;
    let started = Instant::now();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO activities (org_id, activity_id, date, activity_type, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (date, id, kind, body) in &made {
            insert.execute(params!["org-bench", id, date, kind, body])?;
        }
    }
    tx.commit()?;
    println!("{} {:.2}", made.len(), started.elapsed().as_secs_f64());
    Ok(())
}
