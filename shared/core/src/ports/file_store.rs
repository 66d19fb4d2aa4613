use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;

use super::{PortError, PortResult};

/// Where generated files live. Keys look like `{org}/{export}/a{attempt}/{file}`
/// and must pass [`validate_key`]; every store checks them with it.
#[async_trait]
pub trait FileStore: Send + Sync {
    /// Stores the local file under `key`, replacing what was there; returns its size.
    async fn put(&self, key: &str, local: &Path, content_type: &str) -> PortResult<u64>;

    /// Copies the stored file to a local path.
    async fn fetch(&self, key: &str, local: &Path) -> PortResult<()>;

    /// Removes every file whose key starts with `prefix`; returns how many went.
    async fn delete_prefix(&self, prefix: &str) -> PortResult<u64>;

    /// Every key under `prefix` (for cleanup and tests).
    async fn list(&self, prefix: &str) -> PortResult<Vec<String>>;

    /// A download URL for `key`, valid for `ttl`, minted fresh on each call
    /// and never stored. `filename` is what the browser saves it as
    /// (served with [`content_disposition`]).
    async fn signed_url(&self, key: &str, filename: &str, ttl: Duration) -> PortResult<String>;

    /// Where a client may upload one file to `key` within `ttl`; the store
    /// itself refuses a file over `max_bytes` (S3 by the presigned POST's
    /// policy, the local server while it reads the body).
    async fn signed_upload(&self, key: &str, max_bytes: u64, ttl: Duration) -> PortResult<UploadTarget>;

    /// The stored file's size, if there is one.
    async fn size_of(&self, key: &str) -> PortResult<Option<u64>>;

    /// Where the stored file under `key` can be read in place, for a store
    /// that keeps its files on this machine and never changes a stored
    /// file (a new one replaces it whole). `None`: [`fetch`](Self::fetch) a
    /// copy. An import reads its upload this way: copying 500 MB took
    /// longer than a second, before a single row was read.
    fn local_path(&self, _key: &str) -> Option<PathBuf> {
        None
    }
}

/// How a client sends a file to an [`UploadTarget`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum UploadMethod {
    /// The file's bytes as the request body.
    Put,
    /// `multipart/form-data`: every field of [`UploadTarget::fields`], in
    /// order, then the file as the field `file` (S3's presigned POST).
    Post,
}

/// A signed place to upload one file to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadTarget {
    pub url: String,
    pub method: UploadMethod,
    pub fields: Vec<(String, String)>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub max_bytes: u64,
}

/// Keys are `/`-separated segments of `[A-Za-z0-9._-]`, at most 1024
/// bytes. Segments may not be empty, `.` or `..`, nor start with a dot (a
/// store's own temporary files do), so no key can leave a store's folder,
/// name a half-written file, or mean different things to S3 and a disk.
pub fn validate_key(key: &str) -> PortResult<()> {
    if key.is_empty() || key.len() > 1024 || !key.split('/').all(valid_segment) {
        return Err(PortError::Permanent(format!("invalid file key {key:?}")));
    }
    Ok(())
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('.') && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// How every store serves a download: `attachment`, with the name twice:
/// plain ASCII for old clients (printable ASCII and spaces kept, anything
/// else `_`), and RFC 5987 UTF-8 for the rest. So `Bufdir-rapport 2025.xlsx`
/// is saved under that name from the local server and from S3 alike.
pub fn content_disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// A signed download link's parts, as the server decoded them from the URL.
#[derive(Clone, Copy, Debug)]
pub struct SignedLink<'a> {
    pub key: &'a str,
    /// Unix time the link stops working.
    pub expires: i64,
    /// The name the file is saved as (signed too).
    pub name: &'a str,
    /// Hex of the signature.
    pub sig: &'a str,
}

/// Why a download link was not honoured. The server answers all of them
/// alike so a prober learns nothing, but logs say which.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DownloadRefused {
    #[error("the link has expired")]
    Expired,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("the link names no valid file key")]
    InvalidKey,
    #[error("the file is gone")]
    NotFound,
}

/// A signed upload link's parts, as the server decoded them from the URL.
#[derive(Clone, Copy, Debug)]
pub struct SignedUploadLink<'a> {
    pub key: &'a str,
    pub expires: i64,
    /// The most bytes the link lets through (signed).
    pub max_bytes: u64,
    pub sig: &'a str,
}

/// Why an upload was not taken. Nothing of it is stored in any case.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefused {
    #[error("the upload link is invalid or has expired")]
    Link,
    #[error("the file is larger than the {0} bytes allowed")]
    TooLarge(u64),
    #[error("the file was already uploaded")]
    AlreadyUploaded,
    #[error("storing the upload failed: {0}")]
    Store(String),
}

/// The body of an upload, as it arrives.
pub type UploadBody = futures::stream::BoxStream<'static, Result<Vec<u8>, std::io::Error>>;

/// A store whose [`FileStore::signed_upload`] links point at this service
/// itself (the local server's `/uploads/...`); S3 takes its uploads itself.
#[async_trait]
pub trait SignedUploads: Send + Sync {
    /// Whether the link is genuine, unexpired and unused, before any of
    /// the body is read.
    fn check_upload(&self, link: SignedUploadLink<'_>, now_unix: i64) -> Result<(), UploadRefused>;

    /// Stores `body` at the link's key if the link is genuine, unexpired and
    /// unused and the body within its size; returns the size stored.
    async fn accept_upload(
        &self,
        link: SignedUploadLink<'_>,
        body: UploadBody,
        now_unix: i64,
    ) -> Result<u64, UploadRefused>;
}

/// A file behind a genuine link, ready to stream.
pub struct Download {
    pub body: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    pub size: u64,
}

/// A store whose [`FileStore::signed_url`] links point at this service
/// itself (the local server's `/files/...`), so the HTTP layer must check
/// them; S3 checks its presigned URLs itself.
#[async_trait]
pub trait SignedDownloads: Send + Sync {
    /// The file a link names, if the link is genuine and unexpired at `now_unix`.
    async fn open_signed(&self, link: SignedLink<'_>, now_unix: i64) -> Result<Download, DownloadRefused>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated_strictly() {
        for good in ["org-demo/exp-20260326-xyz789/a1/rapport.xlsx", "a", "a.b_c-d/E9"] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        for bad in ["", "/abs", "a//b", "a/", "./a", "a/../b", "..", "a/.hidden", "a b", "a\\b", "æ", "a/%2e%2e", "a?b"]
        {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
        assert!(validate_key(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn the_download_name_keeps_spaces_and_encodes_the_rest() {
        assert_eq!(
            content_disposition("Bufdir-rapport 2025.xlsx"),
            "attachment; filename=\"Bufdir-rapport 2025.xlsx\"; filename*=UTF-8''Bufdir-rapport%202025.xlsx"
        );
        assert_eq!(
            content_disposition("Rapport \"æ\".csv"),
            "attachment; filename=\"Rapport ___.csv\"; filename*=UTF-8''Rapport%20%22%C3%A6%22.csv"
        );
    }
}
