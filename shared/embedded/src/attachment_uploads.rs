//! Attachments uploaded through the local server: they wait in the data
//! directory's `attachment-uploads/` folder (uploaded with a signed PUT to
//! `/attachment-uploads/...`) until an activity names them, which moves
//! them into `attachments/`; what waits longer than a week is removed by
//! the server's hourly housekeeping. A claimed file no activity names any
//! more is moved back to wait (see `release_unnamed_attachments`).

use std::path::{Path, PathBuf};
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
fn remove_tree(dir: &Path) -> std::io::Result<u64> {
    let files = files_under(dir).len() as u64;
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(files),
    }
}

/// Moves the file at `from` to `to`, stamped with the time of the move
/// (the sweeps age files by it); `false` when there was none at `from`,
/// including when another move took it a moment ago.
fn move_file(from: &Path, to: &Path) -> std::io::Result<bool> {
    if !from.is_file() {
        return Ok(false);
    }
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::rename(from, to) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    // A file moved on again at once keeps its old stamp, which is harmless.
    if let Ok(file) = std::fs::File::options().write(true).open(to) {
        let _ = file.set_modified(SystemTime::now());
    }
    Ok(true)
}

/// The files under `dir`, with their paths, recursively.
fn files_under(dir: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                folders.push(entry.path());
            } else {
                files.push((entry.path(), meta));
            }
        }
    }
    files
}

/// Moves `key` from under one root to under the other (see [`move_file`]).
async fn move_key(from: &Path, to: &Path, key: &str, what: &'static str) -> PortResult<bool> {
    if validate_key(key).is_err() {
        return Ok(false);
    }
    let (from, to) = (from.join(key), to.join(key));
    tokio::task::spawn_blocking(move || move_file(&from, &to))
        .await
        .map_err(|e| PortError::Permanent(format!("{what}: {e}")))?
        .map_err(|e| io_error(what, e))
}

/// The folder an organisation's prefix (`{org_id}/`) names.
fn folder_of(prefix: &str) -> PortResult<&str> {
    let folder = prefix.trim_end_matches('/');
    if validate_key(folder).is_err() || !prefix.ends_with('/') {
        return Err(PortError::Permanent(format!("invalid attachment prefix {prefix:?}")));
    }
    Ok(folder)
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
        move_key(&self.waiting_root, &self.attachments_root, key, "claiming an attachment").await
    }

    async fn erase(&self, prefix: &str) -> PortResult<u64> {
        let folder = folder_of(prefix)?;
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
            let old = files_under(&root).into_iter().filter(|(_, meta)| meta.modified().is_ok_and(|m| m < cutoff));
            old.filter(|(path, _)| std::fs::remove_file(path).is_ok()).count() as u64
        })
        .await
        .map_err(|e| PortError::Permanent(format!("expiring attachment uploads: {e}")))
    }

    async fn claimed_owners(&self) -> PortResult<Vec<String>> {
        let root = self.attachments_root.clone();
        tokio::task::spawn_blocking(move || {
            let entries = match std::fs::read_dir(&root) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(io_error("listing attachments", e)),
            };
            let mut owners: Vec<String> = entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect();
            owners.sort();
            Ok(owners)
        })
        .await
        .map_err(|e| PortError::Permanent(format!("listing attachments: {e}")))?
    }

    async fn claimed_before(&self, prefix: &str, cutoff: DateTime<Utc>) -> PortResult<Vec<String>> {
        let folder = folder_of(prefix)?;
        let (root, dir, cutoff) =
            (self.attachments_root.clone(), self.attachments_root.join(folder), SystemTime::from(cutoff));
        tokio::task::spawn_blocking(move || {
            let mut keys: Vec<String> = files_under(&dir)
                .into_iter()
                .filter(|(_, meta)| meta.modified().is_ok_and(|m| m < cutoff))
                .filter_map(|(path, _)| {
                    let relative = path.strip_prefix(&root).ok()?;
                    let parts: Option<Vec<&str>> = relative.components().map(|c| c.as_os_str().to_str()).collect();
                    Some(parts?.join("/"))
                })
                .collect();
            keys.sort();
            keys
        })
        .await
        .map_err(|e| PortError::Permanent(format!("listing attachments: {e}")))
    }

    async fn release(&self, key: &str) -> PortResult<bool> {
        move_key(&self.attachments_root, &self.waiting_root, key, "releasing an attachment").await
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

        // Released, it waits again from now, not from when it was uploaded.
        let old = SystemTime::now() - Duration::from_secs(30 * 24 * 3600);
        std::fs::File::options().write(true).open(kept.join("org-a/att-1/a.pdf")).unwrap().set_modified(old).unwrap();
        assert!(uploads.release("org-a/att-1/a.pdf").await.unwrap());
        assert_eq!(uploads.expire_unclaimed(Utc::now() - chrono::Duration::hours(1)).await.unwrap(), 0, "waits anew");
        assert!(waiting.join("org-a/att-1/a.pdf").exists());
    }
}
