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
}
