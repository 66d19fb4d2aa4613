//! Files as plain files under the data directory: reports handed out
//! through signed, expiring download links, and uploads (import files,
//! attachments) taken in through signed, expiring, size-bounded upload
//! links, both served by the local server at `/{route}/{key}`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ports::{
    Download, DownloadRefused, FileStore, PortError, PortResult, SignedDownloads, SignedLink, SignedUploadLink,
    SignedUploads, UploadBody, UploadMethod, UploadRefused, UploadTarget, validate_key,
};

#[derive(Clone)]
pub struct DiskFileStore {
    root: PathBuf,
    base_url: String,
    /// The first path segment of this store's links (`files`, `uploads`).
    route: &'static str,
    url_key: Vec<u8>,
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn io_err(what: &str, e: io::Error) -> PortError {
    PortError::Permanent(format!("{what}: {e}"))
}

impl DiskFileStore {
    /// `root` is the files folder; `base_url` what the local server listens
    /// on (e.g. `http://127.0.0.1:3000`); `url_key` signs download links.
    pub fn new(root: impl Into<PathBuf>, base_url: &str, url_key: Vec<u8>) -> io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        Ok(DiskFileStore { root, base_url: base_url.trim_end_matches('/').to_string(), route: "files", url_key })
    }

    /// The same store with its links under `/{route}/` (one route per store).
    pub fn served_at(mut self, route: &'static str) -> Self {
        self.route = route;
        self
    }

    pub fn route(&self) -> &'static str {
        self.route
    }

    fn path_of(&self, key: &str) -> PortResult<PathBuf> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    fn mac(&self, key: &str, expires: i64, name: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.url_key).expect("HMAC accepts any key length");
        mac.update(format!("{key}\n{expires}\n{name}").as_bytes());
        mac
    }

    /// An upload link's signature covers what it allows; the leading `put`
    /// keeps a download link from ever passing as one.
    fn upload_mac(&self, key: &str, expires: i64, max_bytes: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.url_key).expect("HMAC accepts any key length");
        mac.update(format!("put\n{key}\n{expires}\n{max_bytes}").as_bytes());
        mac
    }

    /// Checks a download link's parts (as the server decoded them) and
    /// returns the file to send.
    pub fn verify_download(&self, link: SignedLink<'_>, now_unix: i64) -> Result<PathBuf, DownloadRefused> {
        let path = self.path_of(link.key).map_err(|_| DownloadRefused::InvalidKey)?;
        let sig = hex::decode(link.sig).map_err(|_| DownloadRefused::BadSignature)?;
        // verify_slice compares in constant time, so timing reveals nothing
        // about how much of a forged signature was right.
        self.mac(link.key, link.expires, link.name).verify_slice(&sig).map_err(|_| DownloadRefused::BadSignature)?;
        if now_unix >= link.expires {
            return Err(DownloadRefused::Expired);
        }
        if !path.is_file() {
            return Err(DownloadRefused::NotFound);
        }
        Ok(path)
    }

    /// The deepest folder that holds every key starting with `prefix`.
    fn folder_for_prefix(&self, prefix: &str) -> PortResult<PathBuf> {
        let (dir, partial) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let partial_ok = partial.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !partial_ok || (!dir.is_empty() && validate_key(dir).is_err()) || prefix.starts_with('/') {
            return Err(PortError::Permanent(format!("invalid key prefix {prefix:?}")));
        }
        Ok(self.root.join(dir))
    }

    /// Every stored key under `prefix`, found by walking only the folder
    /// the prefix points into.
    fn keys_under(&self, prefix: &str) -> PortResult<Vec<String>> {
        let dir = self.folder_for_prefix(prefix)?;
        let mut keys = Vec::new();
        let mut pending = vec![dir];
        while let Some(dir) = pending.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory => {
                    continue;
                }
                Err(e) => return Err(io_err("list files", e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| io_err("list files", e))?;
                let path = entry.path();
                let Some(key) = path.strip_prefix(&self.root).ok().and_then(|p| p.to_str()) else { continue };
                let key = key.replace(std::path::MAIN_SEPARATOR, "/");
                if entry.file_type().map_err(|e| io_err("list files", e))?.is_dir() {
                    // Only descend where keys under the prefix can live.
                    if prefix.starts_with(&format!("{key}/")) || key.starts_with(prefix) {
                        pending.push(path);
                    }
                } else if key.starts_with(prefix) && validate_key(&key).is_ok() {
                    keys.push(key);
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Removes now-empty folders from `dir` up to (not including) the root.
    fn prune_empty(&self, mut dir: &Path) {
        while dir != self.root && dir.starts_with(&self.root) {
            if fs::remove_dir(dir).is_err() {
                break;
            }
            match dir.parent() {
                Some(parent) => dir = parent,
                None => break,
            }
        }
    }
}

#[async_trait]
impl FileStore for DiskFileStore {
    async fn put(&self, key: &str, local: &Path, _content_type: &str) -> PortResult<u64> {
        let dest = self.path_of(key)?;
        let local = local.to_path_buf();
        blocking_io(move || {
            let folder = dest.parent().expect("a key always has a folder under the root");
            fs::create_dir_all(folder)?;
            // Copy beside the destination, then rename: the rename is atomic
            // within one folder, so a download sees the old file or the new
            // one, never a half-written one.
            let mut tmp = tempfile::Builder::new().prefix(".put-").tempfile_in(folder)?;
            let size = io::copy(&mut fs::File::open(&local)?, tmp.as_file_mut())?;
            tmp.as_file().sync_all()?;
            tmp.persist(&dest).map_err(|e| e.error)?;
            Ok(size)
        })
        .await
        .map_err(|e| io_err("store file", e))
    }

    async fn fetch(&self, key: &str, local: &Path) -> PortResult<()> {
        let src = self.path_of(key)?;
        let local = local.to_path_buf();
        let key = key.to_string();
        match blocking_io(move || fs::copy(&src, &local)).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(PortError::Permanent(format!("no stored file {key:?}")))
            }
            Err(e) => Err(io_err("fetch file", e)),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> PortResult<u64> {
        // An empty prefix would empty the whole store; no caller means that.
        if prefix.is_empty() {
            return Err(PortError::Permanent("refusing to delete every file".to_string()));
        }
        let this = self.clone();
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            for key in this.keys_under(&prefix)? {
                let path = this.root.join(&key);
                match fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err("delete file", e)),
                }
                if let Some(parent) = path.parent() {
                    this.prune_empty(parent);
                }
            }
            Ok(removed)
        })
        .await
        .map_err(|e| PortError::Permanent(format!("delete task failed: {e}")))?
    }

    async fn list(&self, prefix: &str) -> PortResult<Vec<String>> {
        let this = self.clone();
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || this.keys_under(&prefix))
            .await
            .map_err(|e| PortError::Permanent(format!("list task failed: {e}")))?
    }

    async fn signed_url(&self, key: &str, filename: &str, ttl: Duration) -> PortResult<String> {
        validate_key(key)?;
        // Rounded up, so a link is never valid for less than asked.
        let ttl_secs = ttl.as_secs() as i64 + i64::from(ttl.subsec_nanos() > 0);
        let expires = unix_now() + ttl_secs;
        let sig = hex::encode(self.mac(key, expires, filename).finalize().into_bytes());
        Ok(format!("{}/{}/{key}?expires={expires}&name={}&sig={sig}", self.base_url, self.route, url_encode(filename)))
    }

    async fn signed_upload(&self, key: &str, max_bytes: u64, ttl: Duration) -> PortResult<UploadTarget> {
        validate_key(key)?;
        let expires = unix_now() + ttl.as_secs() as i64 + i64::from(ttl.subsec_nanos() > 0);
        let sig = hex::encode(self.upload_mac(key, expires, max_bytes).finalize().into_bytes());
        Ok(UploadTarget {
            url: format!("{}/{}/{key}?expires={expires}&max={max_bytes}&sig={sig}", self.base_url, self.route),
            method: UploadMethod::Put,
            fields: Vec::new(),
            expires_at: chrono::DateTime::from_timestamp(expires, 0).unwrap_or_default(),
            max_bytes,
        })
    }

    async fn size_of(&self, key: &str) -> PortResult<Option<u64>> {
        let path = self.path_of(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read file size", e)),
        }
    }

    /// A stored file is only ever replaced whole, by a rename.
    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.path_of(key).ok()
    }
}

#[async_trait]
impl SignedUploads for DiskFileStore {
    fn check_upload(&self, link: SignedUploadLink<'_>, now_unix: i64) -> Result<(), UploadRefused> {
        let path = self.path_of(link.key).map_err(|_| UploadRefused::Link)?;
        let sig = hex::decode(link.sig).map_err(|_| UploadRefused::Link)?;
        self.upload_mac(link.key, link.expires, link.max_bytes).verify_slice(&sig).map_err(|_| UploadRefused::Link)?;
        if now_unix >= link.expires {
            return Err(UploadRefused::Link);
        }
        if path.exists() {
            return Err(UploadRefused::AlreadyUploaded);
        }
        Ok(())
    }

    async fn accept_upload(
        &self,
        link: SignedUploadLink<'_>,
        mut body: UploadBody,
        now_unix: i64,
    ) -> Result<u64, UploadRefused> {
        self.check_upload(link, now_unix)?;
        let path = self.path_of(link.key).map_err(|_| UploadRefused::Link)?;
        let folder = path.parent().expect("a key always has a folder under the root").to_path_buf();
        let store_err = |e: io::Error| UploadRefused::Store(e.to_string());
        tokio::fs::create_dir_all(&folder).await.map_err(store_err)?;
        // Written beside the destination under a dot name (no key can be
        // one), then renamed: nobody ever sees half a file under the key,
        // and one over the limit is never there at all.
        let tmp = tempfile::Builder::new().prefix(".upload-").tempfile_in(&folder).map_err(store_err)?;
        let (std_file, tmp_path) = tmp.into_parts();
        let mut file = tokio::fs::File::from_std(std_file);
        let mut size = 0u64;
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(store_err)?;
            size += chunk.len() as u64;
            if size > link.max_bytes {
                return Err(UploadRefused::TooLarge(link.max_bytes));
            }
            file.write_all(&chunk).await.map_err(store_err)?;
        }
        file.sync_all().await.map_err(store_err)?;
        drop(file);
        // Taken by a concurrent upload of the same link: that one stands.
        tmp_path.persist_noclobber(&path).map_err(|_| UploadRefused::AlreadyUploaded)?;
        Ok(size)
    }
}

#[async_trait]
impl SignedDownloads for DiskFileStore {
    async fn open_signed(&self, link: SignedLink<'_>, now_unix: i64) -> Result<Download, DownloadRefused> {
        let path = self.verify_download(link, now_unix)?;
        let file = tokio::fs::File::open(&path).await.map_err(|_| DownloadRefused::NotFound)?;
        let size = file.metadata().await.map(|m| m.len()).map_err(|_| DownloadRefused::NotFound)?;
        Ok(Download { body: Box::new(file), size })
    }
}

async fn blocking_io<T, F>(f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| Err(io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_percent_encoded() {
        assert_eq!(
            url_encode("Bufdir rapport 2025 (æøå).xlsx"),
            "Bufdir%20rapport%202025%20%28%C3%A6%C3%B8%C3%A5%29.xlsx"
        );
        assert_eq!(url_encode("a&sig=b"), "a%26sig%3Db");
    }
}
