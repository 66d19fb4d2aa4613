//! A local stand-in for Bufdir's receiver. Bufdir publishes no report
//! API, so the embedded service "submits" by filing the report in an
//! outbox folder, one folder per idempotency key, the way a receiver
//! that drops repeated submissions would.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::ports::{BufdirSubmitter, PortError, PortResult, Receipt, Submission};

const RECORD: &str = "submission.json";

#[derive(Clone)]
pub struct LocalBufdirReceiver {
    outbox: PathBuf,
    // Serialises submissions so two tries of one attempt cannot both file it.
    lock: Arc<Mutex<()>>,
}

fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && !s.starts_with('.')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn sha256_file(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut fs::File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// The same key always gives the same reference, so a repeat is answered
/// exactly like the first submission.
fn reference_for(idempotency_key: &str) -> String {
    let digest = hex::encode(Sha256::digest(idempotency_key.as_bytes()));
    format!("local-{}", &digest[..12])
}

impl LocalBufdirReceiver {
    pub fn new(outbox: impl Into<PathBuf>) -> io::Result<Self> {
        let outbox = outbox.into();
        fs::create_dir_all(&outbox)?;
        Ok(LocalBufdirReceiver { outbox, lock: Arc::new(Mutex::new(())) })
    }

    /// The folder a submission with this key is filed in.
    pub fn folder_for(&self, idempotency_key: &str) -> PathBuf {
        self.outbox.join(idempotency_key)
    }

    fn file(&self, submission: &Submission, file: &Path) -> PortResult<Receipt> {
        let permanent = |what: &str, e: &dyn std::fmt::Display| PortError::Permanent(format!("{what}: {e}"));
        let transient = |what: &str, e: io::Error| PortError::Transient(format!("{what}: {e}"));
        let folder = self.folder_for(&submission.idempotency_key);
        let record = folder.join(RECORD);
        let reference = reference_for(&submission.idempotency_key);

        if record.is_file() {
            // A repeat. A real receiver would refuse a different report under
            // a key it has seen; so do we, rather than silently keep the old one.
            let stored: serde_json::Value =
                serde_json::from_slice(&fs::read(&record).map_err(|e| transient("read submission", e))?)
                    .map_err(|e| permanent("stored submission is unreadable", &e))?;
            if stored["sha256"] != submission.sha256.as_str() {
                return Err(PortError::Permanent(format!(
                    "idempotency key {} was already used for a different file",
                    submission.idempotency_key
                )));
            }
            return Ok(Receipt { reference });
        }

        let actual = sha256_file(file).map_err(|e| transient("read report", e))?;
        if actual != submission.sha256 {
            return Err(PortError::Permanent(format!(
                "the report's sha256 is {actual}, the submission says {}",
                submission.sha256
            )));
        }
        fs::create_dir_all(&folder).map_err(|e| transient("create outbox folder", e))?;
        fs::copy(file, folder.join(&submission.filename)).map_err(|e| transient("copy report", e))?;
        let mut body = serde_json::to_value(submission).map_err(|e| permanent("encode submission", &e))?;
        body["reference"] = reference.clone().into();
        body["received_at"] = chrono::Utc::now().to_rfc3339().into();
        // The record is written last and renamed into place: its presence
        // is what marks the submission as received.
        let tmp = folder.join(format!(".{RECORD}.tmp"));
        let text = serde_json::to_vec_pretty(&body).map_err(|e| permanent("encode submission", &e))?;
        fs::write(&tmp, text).map_err(|e| transient("write submission", e))?;
        fs::rename(&tmp, &record).map_err(|e| transient("write submission", e))?;
        Ok(Receipt { reference })
    }
}

#[async_trait]
impl BufdirSubmitter for LocalBufdirReceiver {
    async fn submit(&self, submission: &Submission, file: &Path) -> PortResult<Receipt> {
        if !safe_name(&submission.idempotency_key) || !safe_name(&submission.filename) {
            return Err(PortError::Permanent(
                "idempotency key and filename must be plain names ([A-Za-z0-9._-])".to_string(),
            ));
        }
        let _one_at_a_time = self.lock.lock().await;
        let this = self.clone();
        let submission = submission.clone();
        let file = file.to_path_buf();
        tokio::task::spawn_blocking(move || this.file(&submission, &file))
            .await
            .map_err(|e| PortError::Permanent(format!("submit task failed: {e}")))?
    }

    async fn forget(&self, idempotency_keys: &[String]) -> PortResult<()> {
        let _one_at_a_time = self.lock.lock().await;
        for key in idempotency_keys.iter().filter(|k| safe_name(k)) {
            match fs::remove_dir_all(self.folder_for(key)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(PortError::Transient(format!("remove outbox folder: {e}"))),
            }
        }
        Ok(())
    }
}
