//! Report files in S3, under one prefix of the bucket (the lifecycle
//! rule that expires them filters on it). Uploads stream from the local
//! file; above [`MULTIPART_THRESHOLD`] they go up in parts, so a large
//! workbook is never held in memory. Download links are presigned GETs,
//! minted on every call, that name the file for the browser.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use tokio::io::AsyncWriteExt;

use super::errors::port_error;
use super::presigned_post;
use crate::ports::{FileStore, PortError, PortResult, UploadMethod, UploadTarget, content_disposition, validate_key};

pub const MULTIPART_THRESHOLD: u64 = 8 * 1024 * 1024;
pub const PART_SIZE: u64 = 8 * 1024 * 1024;
/// S3 refuses presigned URLs valid for longer than a week.
const MAX_URL_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Clone)]
pub struct S3FileStore {
    client: Client,
    bucket: String,
    root: String,
    threshold: u64,
    part_size: u64,
    /// Only a store that hands out upload links needs it.
    signer: Option<presigned_post::Signer>,
}

fn io_err(what: &str, e: std::io::Error) -> PortError {
    PortError::Permanent(format!("{what}: {e}"))
}

/// Streams an object's body into a local file, chunk by chunk; on failure
/// the partial file is removed.
pub(super) async fn download(mut body: ByteStream, local: &Path) -> PortResult<()> {
    let mut file = tokio::fs::File::create(local).await.map_err(|e| io_err("write local copy", e))?;
    let copied = async {
        while let Some(chunk) = body.try_next().await.map_err(|e| PortError::Transient(format!("download: {e}")))? {
            file.write_all(&chunk).await.map_err(|e| io_err("write local copy", e))?;
        }
        file.flush().await.map_err(|e| io_err("write local copy", e))
    }
    .await;
    if copied.is_err() {
        let _ = tokio::fs::remove_file(local).await;
    }
    copied
}

/// A prefix to list or delete: non-empty and free of `.`/`..` segments.
fn validate_prefix(prefix: &str) -> PortResult<()> {
    if prefix.is_empty() {
        return Err(PortError::Permanent("an empty prefix would name every file".into()));
    }
    let body = prefix.strip_suffix('/').unwrap_or(prefix);
    validate_key(body)
}

impl S3FileStore {
    /// `root` is prepended to every key (e.g. `exports/`), may be empty.
    pub fn new(client: Client, bucket: impl Into<String>, root: impl Into<String>) -> Self {
        S3FileStore {
            client,
            bucket: bucket.into(),
            root: root.into(),
            threshold: MULTIPART_THRESHOLD,
            part_size: PART_SIZE,
            signer: None,
        }
    }

    /// Hands out upload links (presigned POSTs) signed with `sdk`'s credentials.
    pub fn with_uploads_signed_by(mut self, sdk: &aws_config::SdkConfig) -> Self {
        self.signer = presigned_post::Signer::from_sdk(sdk);
        self
    }

    /// Files larger than `threshold` go up in parts of `part_size`
    /// (S3 wants at least 5 MiB for every part but the last).
    pub fn with_multipart(mut self, threshold: u64, part_size: u64) -> Self {
        self.threshold = threshold;
        self.part_size = part_size.max(5 * 1024 * 1024);
        self
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.root)
    }

    /// Every key under `prefix` (without the store's root), in order, with
    /// when its object was written (S3 always says).
    pub async fn list_dated(
        &self,
        prefix: &str,
    ) -> PortResult<Vec<(String, Option<aws_sdk_s3::primitives::DateTime>)>> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(self.full(prefix))
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| port_error("list files", e))?;
            keys.extend(page.contents().iter().filter_map(|o| {
                let key = o.key()?.strip_prefix(&self.root)?;
                Some((key.to_string(), o.last_modified().copied()))
            }));
            match page.next_continuation_token {
                Some(t) if page.is_truncated == Some(true) => token = Some(t),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn put_multipart(&self, full: &str, local: &Path, size: u64, content_type: &str) -> PortResult<()> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(full)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| port_error("start upload", e))?;
        let upload_id = created.upload_id.ok_or_else(|| PortError::Permanent("S3 gave no upload id".into()))?;
        let result = async {
            let mut parts = Vec::new();
            let mut offset = 0u64;
            let mut number = 1;
            while offset < size {
                let len = self.part_size.min(size - offset);
                let body = ByteStream::read_from()
                    .path(local)
                    .offset(offset)
                    .length(Length::Exact(len))
                    .build()
                    .await
                    .map_err(|e| PortError::Permanent(format!("read report: {e}")))?;
                let part = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(full)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .content_length(len as i64)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| port_error("upload part", e))?;
                parts.push(CompletedPart::builder().part_number(number).set_e_tag(part.e_tag).build());
                offset += len;
                number += 1;
            }
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(full)
                .upload_id(&upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await
                .map_err(|e| port_error("finish upload", e))?;
            Ok(())
        }
        .await;
        if result.is_err() {
            // Parts of an unfinished upload are billed until aborted (the
            // bucket's lifecycle rule also aborts stale uploads).
            let _ =
                self.client.abort_multipart_upload().bucket(&self.bucket).key(full).upload_id(&upload_id).send().await;
        }
        result
    }
}

#[async_trait]
impl FileStore for S3FileStore {
    async fn put(&self, key: &str, local: &Path, content_type: &str) -> PortResult<u64> {
        validate_key(key)?;
        let size = tokio::fs::metadata(local).await.map_err(|e| io_err("read report", e))?.len();
        let full = self.full(key);
        if size > self.threshold {
            self.put_multipart(&full, local, size, content_type).await?;
        } else {
            let body =
                ByteStream::from_path(local).await.map_err(|e| PortError::Permanent(format!("read report: {e}")))?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&full)
                .content_type(content_type)
                .content_length(size as i64)
                .body(body)
                .send()
                .await
                .map_err(|e| port_error("store report", e))?;
        }
        Ok(size)
    }

    async fn fetch(&self, key: &str, local: &Path) -> PortResult<()> {
        validate_key(key)?;
        let out = match self.client.get_object().bucket(&self.bucket).key(self.full(key)).send().await {
            Ok(out) => out,
            Err(e) => {
                if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) || e.code() == Some("NoSuchKey") {
                    return Err(PortError::Permanent(format!("no stored file {key:?}")));
                }
                return Err(port_error("fetch report", e));
            }
        };
        download(out.body, local).await
    }

    async fn delete_prefix(&self, prefix: &str) -> PortResult<u64> {
        validate_prefix(prefix)?;
        let mut removed = 0u64;
        // Keys are listed and deleted a page (at most 1000) at a time.
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(self.full(prefix))
                .send()
                .await
                .map_err(|e| port_error("list files", e))?;
            let ids: Vec<ObjectIdentifier> = page
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .map(|k| ObjectIdentifier::builder().key(k).build().map_err(|e| PortError::Permanent(e.to_string())))
                .collect::<PortResult<_>>()?;
            if ids.is_empty() {
                return Ok(removed);
            }
            let n = ids.len() as u64;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(
                    Delete::builder()
                        .set_objects(Some(ids))
                        .quiet(true)
                        .build()
                        .map_err(|e| PortError::Permanent(e.to_string()))?,
                )
                .send()
                .await
                .map_err(|e| port_error("delete files", e))?;
            if let Some(err) = out.errors().first() {
                return Err(PortError::Transient(format!(
                    "delete files: {} {}",
                    err.code().unwrap_or("error"),
                    err.message().unwrap_or_default()
                )));
            }
            removed += n;
        }
    }

    async fn list(&self, prefix: &str) -> PortResult<Vec<String>> {
        Ok(self.list_dated(prefix).await?.into_iter().map(|(key, _)| key).collect())
    }

    async fn signed_url(&self, key: &str, filename: &str, ttl: Duration) -> PortResult<String> {
        validate_key(key)?;
        let config = PresigningConfig::expires_in(ttl.clamp(Duration::from_secs(1), MAX_URL_TTL))
            .map_err(|e| PortError::Permanent(format!("presign: {e}")))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .response_content_disposition(content_disposition(filename))
            .presigned(config)
            .await
            .map_err(|e| port_error("presign download", e))?;
        Ok(request.uri().to_string())
    }

    /// A presigned POST whose policy holds the object to `key` and 1 to
    /// `max_bytes` bytes: S3 refuses anything else.
    async fn signed_upload(&self, key: &str, max_bytes: u64, ttl: Duration) -> PortResult<UploadTarget> {
        validate_key(key)?;
        let full = self.full(key);
        // Where the bucket answers, as the client is configured to reach it
        // (virtual-hosted on AWS, path style on an emulator): a presigned
        // GET's URL without the key and query.
        let config = PresigningConfig::expires_in(Duration::from_secs(60))
            .map_err(|e| PortError::Permanent(format!("presign: {e}")))?;
        let probe = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .presigned(config)
            .await
            .map_err(|e| port_error("presign upload", e))?;
        let uri = probe.uri().split('?').next().unwrap_or_default().to_string();
        let bucket_url = uri
            .strip_suffix(&format!("/{full}"))
            .ok_or_else(|| PortError::Permanent(format!("unexpected presigned URL shape: {uri}")))?
            .to_string();
        let now = chrono::Utc::now();
        let expires =
            now + chrono::Duration::from_std(ttl.clamp(Duration::from_secs(1), MAX_URL_TTL)).unwrap_or_default();
        let signer =
            self.signer.as_ref().ok_or_else(|| PortError::Permanent("this store hands out no upload links".into()))?;
        let form = presigned_post::sign(signer, bucket_url, &self.bucket, &full, max_bytes, now, expires).await?;
        Ok(UploadTarget {
            url: form.url,
            method: UploadMethod::Post,
            fields: form.fields,
            expires_at: expires,
            max_bytes,
        })
    }

    /// A listing, not HeadObject: S3 answers a HeadObject of a missing key
    /// 404 only to a role that may list the whole bucket, and 403 to one
    /// whose listing is held to a prefix, as the functions' roles are.
    async fn size_of(&self, key: &str) -> PortResult<Option<u64>> {
        validate_key(key)?;
        let full = self.full(key);
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&full)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| port_error("read file size", e))?;
        Ok(out.contents().iter().find(|o| o.key() == Some(full.as_str())).map(|o| o.size().unwrap_or(0).max(0) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_must_name_something() {
        assert!(validate_prefix("").is_err());
        assert!(validate_prefix("org/../").is_err());
        assert!(validate_prefix("org/exp-1/").is_ok());
    }
}
