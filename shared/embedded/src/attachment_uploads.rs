//! Attachments uploaded through the local server: they wait in the data
//! directory's `attachment-uploads/` folder (uploaded with a signed PUT to
//! `/attachment-uploads/...`) until an activity names them, which moves
//! them into `attachments/`; what waits longer than a week is removed by
//! the server's hourly housekeeping.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::DiskFileStore;
use crate::ports::{AttachmentUploads, FileStore, PortError, PortResult, UploadTarget, validate_key};

pub struct DiskAttachmentUploads {
    waiting: Arc<DiskFileStore>,
    waiting_root: PathBuf,
    attachments_root: PathBuf,
}

impl DiskAttachmentUploads {
    /// `waiting` stores under `waiting_root`; claimed files go to `attachments_root`.
    pub fn new(waiting: Arc<DiskFileStore>, waiting_root: PathBuf, attachments_root: PathBuf) -> Self {
        DiskAttachmentUploads { waiting, waiting_root, attachments_root }
    }
}

/// Removes `dir` and everything in it; how many files there were.
fn remove_tree(dir: &std::path::Path) -> std::io::Result<u64> {
    let mut files = 0;
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                folders.push(entry.path());
            } else {
                files += 1;
            }
        }
    }
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(files),
    }
}

fn io_error(what: &str, e: std::io::Error) -> PortError {
    PortError::Transient(format!("{what}: {e}"))
}

#[async_trait]
impl AttachmentUploads for DiskAttachmentUploads {
    async fn signed_upload(&self, key: &str, max_bytes: u64, ttl: Duration) -> PortResult<UploadTarget> {
        self.waiting.signed_upload(key, max_bytes, ttl).await
    }

    async fn claim(&self, key: &str) -> PortResult<bool> {
        if validate_key(key).is_err() {
            return Ok(false);
        }
        let (from, to) = (self.waiting_root.join(key), self.attachments_root.join(key));
        tokio::task::spawn_blocking(move || {
            if !from.is_file() {
                return Ok(false);
            }
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir).map_err(|e| io_error("claiming an attachment", e))?;
            }
            match std::fs::rename(&from, &to) {
                Ok(()) => Ok(true),
                // Claimed by another write a moment ago.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(io_error("claiming an attachment", e)),
            }
        })
        .await
        .map_err(|e| PortError::Permanent(format!("claiming an attachment: {e}")))?
    }

    async fn erase(&self, prefix: &str) -> PortResult<u64> {
        let folder = prefix.trim_end_matches('/');
        if validate_key(folder).is_err() || !prefix.ends_with('/') {
            return Err(PortError::Permanent(format!("invalid attachment prefix {prefix:?}")));
        }
        // Whole folders, so not even a name is left (a claim leaves its
        // upload's folder empty).
        let dirs = [self.waiting_root.join(folder), self.attachments_root.join(folder)];
        tokio::task::spawn_blocking(move || dirs.iter().map(|d| remove_tree(d)).sum::<std::io::Result<u64>>())
            .await
            .map_err(|e| PortError::Permanent(format!("erasing attachments: {e}")))?
            .map_err(|e| io_error("erasing attachments", e))
    }

    async fn expire_unclaimed(&self, cutoff: DateTime<Utc>) -> PortResult<u64> {
        let root = self.waiting_root.clone();
        let cutoff = SystemTime::from(cutoff);
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            let mut folders = vec![root];
            while let Some(dir) = folders.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                for entry in entries.flatten() {
                    let path = entry.path();
                    let Ok(meta) = entry.metadata() else { continue };
                    if meta.is_dir() {
                        folders.push(path);
                    } else if meta.modified().is_ok_and(|m| m < cutoff) && std::fs::remove_file(&path).is_ok() {
                        removed += 1;
                    }
                }
            }
            Ok(removed)
        })
        .await
        .map_err(|e| PortError::Permanent(format!("expiring attachment uploads: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_claim_moves_the_file_and_what_waits_too_long_goes() {
        let dir = tempfile::tempdir().unwrap();
        let (waiting, kept) = (dir.path().join("waiting"), dir.path().join("kept"));
        let store = Arc::new(DiskFileStore::new(&waiting, "http://127.0.0.1:1", vec![7; 32]).unwrap());
        let uploads = DiskAttachmentUploads::new(store, waiting.clone(), kept.clone());
        std::fs::create_dir_all(waiting.join("org-a/att-1")).unwrap();
        std::fs::write(waiting.join("org-a/att-1/a.pdf"), b"%PDF a").unwrap();
        std::fs::write(waiting.join("org-a/att-1/b.pdf"), b"%PDF b").unwrap();

        assert!(uploads.claim("org-a/att-1/a.pdf").await.unwrap());
        assert_eq!(std::fs::read(kept.join("org-a/att-1/a.pdf")).unwrap(), b"%PDF a");
        assert!(!uploads.claim("org-a/att-1/a.pdf").await.unwrap(), "claimed once");
        assert!(!uploads.claim("../waiting/org-a/att-1/b.pdf").await.unwrap());

        assert_eq!(uploads.expire_unclaimed(Utc::now() - chrono::Duration::hours(1)).await.unwrap(), 0, "too young");
        assert_eq!(uploads.expire_unclaimed(Utc::now() + chrono::Duration::seconds(1)).await.unwrap(), 1);
        assert!(!waiting.join("org-a/att-1/b.pdf").exists());
        assert!(kept.join("org-a/att-1/a.pdf").exists(), "a claimed file is never expired");
    }
}
