//! Importing activities from JSON Lines (one activity per line, as the
//! domain notes describe). A file is stored whole or not at all: a report
//! built from half an import would be wrong without anyone noticing.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use crate::SqliteActivities;
use crate::domain::Activity;
use crate::ports::PortError;

/// Bad lines reported before the import gives up reading: enough to fix
/// a systematic mistake, without drowning the person in a bad file.
pub const MAX_REPORTED_ERRORS: usize = 20;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    /// 1-based, as editors count.
    pub line: usize,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the import file: {0}")]
    Io(#[from] io::Error),
    /// Nothing was stored. `more` says whether reading stopped before the end.
    #[error("{} bad line(s){}; nothing was imported", lines.len(), if *more { " (stopped early)" } else { "" })]
    BadLines { lines: Vec<LineError>, more: bool },
    #[error("storing the activities failed; nothing was imported: {0}")]
    Store(#[from] PortError),
}

/// Parses one activity per non-blank line, checking it on the way: the
/// JSON shape (unknown fields are refused, and serde names them), the
/// record's own consistency, and that it belongs to `org_id`.
pub fn parse_jsonl<R: BufRead>(reader: R, org_id: &str) -> impl Iterator<Item = Result<Activity, LineError>> + use<R> {
    let org_id = org_id.to_string();
    let mut lines = reader.lines().enumerate();
    let mut broken = false;
    std::iter::from_fn(move || {
        loop {
            if broken {
                return None;
            }
            let (index, line) = lines.next()?;
            let line_no = index + 1;
            let text = match line {
                Ok(text) => text,
                Err(e) => {
                    // Bad UTF-8 spoils one line; any other read error would
                    // repeat forever, so reading ends there.
                    broken = e.kind() != io::ErrorKind::InvalidData;
                    return Some(Err(LineError { line: line_no, message: format!("cannot read the line: {e}") }));
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            return Some(check(&text, &org_id).map_err(|message| LineError { line: line_no, message }));
        }
    })
}

fn check(text: &str, org_id: &str) -> Result<Activity, String> {
    let activity: Activity = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if activity.org_id != org_id {
        return Err(format!("org_id is {:?}, but this import is for {org_id:?}", activity.org_id));
    }
    let problems: Vec<String> = activity.problems().iter().map(ToString::to_string).collect();
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(activity)
}

/// Imports the file for `org_id` in one transaction, streaming it so its
/// size does not matter. Any bad line rolls everything back. Returns how
/// many activities were stored (added or replaced).
pub async fn import_file(store: &SqliteActivities, org_id: &str, path: &Path) -> Result<u64, ImportError> {
    let reader = BufReader::new(File::open(path)?);
    let org_id = org_id.to_string();
    store
        .write(move |w| {
            let mut bad = Vec::new();
            let mut more = false;
            for item in parse_jsonl(reader, &org_id) {
                match item {
                    // Once a line is bad nothing will be committed, so the
                    // rest is only read for more errors, not written.
                    Ok(activity) if bad.is_empty() => w.upsert(&activity)?,
                    Ok(_) => {}
                    Err(e) if bad.len() < MAX_REPORTED_ERRORS => bad.push(e),
                    Err(_) => {
                        more = true;
                        break;
                    }
                }
            }
            if bad.is_empty() { Ok(w.written()) } else { Err(ImportError::BadLines { lines: bad, more }) }
        })
        .await
}

/// Reads the whole file and reports its bad lines, storing nothing: the
/// first pass of an import into a store without transactions (DynamoDB),
/// so a bad line is found before anything is written.
pub fn check_file(org_id: &str, path: &Path) -> Result<u64, ImportError> {
    let mut bad = Vec::new();
    let mut good = 0u64;
    for item in parse_jsonl(BufReader::new(File::open(path)?), org_id) {
        match item {
            Ok(_) => good += 1,
            Err(e) if bad.len() < MAX_REPORTED_ERRORS => bad.push(e),
            Err(_) => return Err(ImportError::BadLines { lines: bad, more: true }),
        }
    }
    if bad.is_empty() { Ok(good) } else { Err(ImportError::BadLines { lines: bad, more: false }) }
}

/// The activities of a file already passed by `check_file`.
pub fn read_checked(org_id: &str, path: &Path) -> Result<impl Iterator<Item = Activity> + Send + 'static, ImportError> {
    Ok(parse_jsonl(BufReader::new(File::open(path)?), org_id).filter_map(Result::ok))
}
