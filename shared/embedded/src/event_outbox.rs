//! Export events appended to a JSON Lines file: the local stand-in for a
//! message bus. Other programs can tail it; tests read it back.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::ports::{Event, EventPublisher, PortError, PortResult};

#[derive(Clone)]
pub struct JsonlEventOutbox {
    path: PathBuf,
    // One writer at a time, so lines from concurrent exports never interleave.
    file: Arc<Mutex<File>>,
}

impl JsonlEventOutbox {
    pub fn open(path: &Path) -> io::Result<Self> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(JsonlEventOutbox { path: path.to_path_buf(), file: Arc::new(Mutex::new(file)) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every event published so far, oldest first.
    pub fn read_all(&self) -> io::Result<Vec<Event>> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        BufReader::new(file)
            .lines()
            .filter(|line| !matches!(line, Ok(l) if l.trim().is_empty()))
            .map(|line| serde_json::from_str(&line?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)))
            .collect()
    }
}

#[async_trait]
impl EventPublisher for JsonlEventOutbox {
    async fn publish(&self, event: &Event) -> PortResult<()> {
        let mut line = serde_json::to_vec(event).map_err(|e| PortError::Permanent(format!("encode event: {e}")))?;
        line.push(b'\n');
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || {
            let mut file = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // One write per line, then to disk: a reader or a crash sees
            // whole events, and a published event is not lost.
            file.write_all(&line)?;
            file.flush()?;
            file.sync_data()
        })
        .await
        .map_err(|e| PortError::Permanent(format!("event task failed: {e}")))?
        .map_err(|e| PortError::Transient(format!("append event: {e}")))
    }

    async fn forget_organisation(&self, org_id: &str) -> PortResult<u64> {
        let (path, file, org_id) = (self.path.clone(), self.file.clone(), org_id.to_string());
        tokio::task::spawn_blocking(move || {
            // Held throughout, so no event is appended to the file being replaced.
            let mut file = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let tmp = path.with_extension("jsonl.tmp");
            let removed = copy_without_organisation(&path, &tmp, &org_id)?;
            if removed == 0 {
                let _ = fs::remove_file(&tmp);
                return Ok(0);
            }
            fs::rename(&tmp, &path)?;
            *file = OpenOptions::new().append(true).open(&path)?;
            Ok(removed)
        })
        .await
        .map_err(|e| PortError::Permanent(format!("event task failed: {e}")))?
        .map_err(|e: io::Error| PortError::Transient(format!("rewrite events: {e}")))
    }
}

/// Copies the events at `from` to `to` except the organisation's, streamed
/// (the file is never read whole); how many were left out.
fn copy_without_organisation(from: &Path, to: &Path, org_id: &str) -> io::Result<u64> {
    let mut out = io::BufWriter::new(File::create(to)?);
    let mut removed = 0;
    match File::open(from) {
        Ok(file) => {
            for line in BufReader::new(file).lines() {
                let line = line?;
                if serde_json::from_str::<Event>(&line).is_ok_and(|e| e.org_id() == org_id) {
                    removed += 1;
                } else {
                    out.write_all(line.as_bytes())?;
                    out.write_all(b"\n")?;
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(removed)
}
