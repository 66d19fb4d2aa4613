//! Attachment files in S3, at `{prefix}{key}` in their bucket (by default
//! the stack's files bucket under `attachments/`), where the system that
//! records the activities uploads them.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::get_object::GetObjectError;

use super::S3FileStore;
use super::errors::port_error;
use super::file_store::download;
use crate::ports::{AttachmentFiles, AttachmentUploads, FileStore, PortResult, UploadTarget, validate_key};

#[derive(Clone)]
pub struct S3Attachments {
    client: Client,
    bucket: String,
    prefix: String,
}

impl S3Attachments {
    pub fn new(client: Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        S3Attachments { client, bucket: bucket.into(), prefix: prefix.into() }
    }
}

/// A key that could climb out of the prefix names no attachment.
fn plausible(key: &str) -> bool {
    crate::domain::is_attachment_key(key)
}

#[async_trait]
impl AttachmentFiles for S3Attachments {
    async fn fetch(&self, key: &str, local: &Path) -> PortResult<bool> {
        if !plausible(key) {
            return Ok(false);
        }
        let out = match self.client.get_object().bucket(&self.bucket).key(format!("{}{key}", self.prefix)).send().await
        {
            Ok(out) => out,
            Err(e)
                if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_)))
                    || e.code() == Some("NoSuchKey") =>
            {
                return Ok(false);
            }
            Err(e) => return Err(port_error("fetch attachment", e)),
        };
        download(out.body, local).await?;
        Ok(true)
    }
}

/// Attachments uploaded through the API: presigned POSTs into a waiting
/// prefix of the attachments bucket (`attachment-uploads/`, outside the
/// attachments' own prefix so no activity can name a waiting file, and
/// expired by the bucket's lifecycle rule), copied to `{prefix}{key}` when
/// an activity names them.
pub struct S3AttachmentUploads {
    waiting: S3FileStore,
    client: Client,
    bucket: String,
    waiting_prefix: String,
    prefix: String,
}

impl S3AttachmentUploads {
    pub fn new(waiting: S3FileStore, client: Client, waiting_prefix: &str, attachments: &S3Attachments) -> Self {
        S3AttachmentUploads {
            waiting,
            client,
            bucket: attachments.bucket.clone(),
            waiting_prefix: waiting_prefix.to_string(),
            prefix: attachments.prefix.clone(),
        }
    }
}

#[async_trait]
impl AttachmentUploads for S3AttachmentUploads {
    async fn signed_upload(&self, key: &str, max_bytes: u64, ttl: Duration) -> PortResult<UploadTarget> {
        self.waiting.signed_upload(key, max_bytes, ttl).await
    }

    async fn claim(&self, key: &str) -> PortResult<bool> {
        self.move_object(&self.waiting_prefix, &self.prefix, key, "claim attachment").await
    }

    async fn erase(&self, prefix: &str) -> PortResult<u64> {
        let waiting = self.waiting.delete_prefix(prefix).await?;
        let claimed = self.claimed().delete_prefix(prefix).await?;
        Ok(waiting + claimed)
    }

    async fn expire_unclaimed(&self, _cutoff: chrono::DateTime<chrono::Utc>) -> PortResult<u64> {
        Ok(0)
    }

    async fn claimed_owners(&self) -> PortResult<Vec<String>> {
        let mut owners = Vec::new();
        let mut token = None;
        loop {
            let page = (self.client.list_objects_v2().bucket(&self.bucket).prefix(&self.prefix).delimiter("/"))
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| port_error("list attachment owners", e))?;
            owners.extend(page.common_prefixes().iter().filter_map(|p| {
                let owner = p.prefix()?.strip_prefix(&self.prefix)?.strip_suffix('/')?;
                Some(owner.to_string())
            }));
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                return Ok(owners);
            }
        }
    }

    async fn claimed_before(&self, prefix: &str, cutoff: chrono::DateTime<chrono::Utc>) -> PortResult<Vec<String>> {
        if !prefix.ends_with('/') || validate_key(prefix.trim_end_matches('/')).is_err() {
            return Err(crate::ports::PortError::Permanent(format!("invalid attachment prefix {prefix:?}")));
        }
        let cutoff = aws_sdk_s3::primitives::DateTime::from_millis(cutoff.timestamp_millis());
        let claimed = self.claimed().list_dated(prefix).await?;
        Ok(claimed.into_iter().filter(|(_, written)| written.is_some_and(|w| w < cutoff)).map(|(key, _)| key).collect())
    }

    async fn release(&self, key: &str) -> PortResult<bool> {
        self.move_object(&self.prefix, &self.waiting_prefix, key, "release attachment").await
    }
}

impl S3AttachmentUploads {
    /// The claimed files, as a file store rooted at their prefix.
    fn claimed(&self) -> S3FileStore {
        S3FileStore::new(self.client.clone(), &self.bucket, &self.prefix)
    }

    /// Copies `{from}{key}` to `{to}{key}` (a new object, so dated now) and
    /// removes the original; `false` when there was none.
    async fn move_object(&self, from: &str, to: &str, key: &str, what: &str) -> PortResult<bool> {
        if validate_key(key).is_err() {
            return Ok(false);
        }
        // Keys hold only `[A-Za-z0-9._/-]`: the copy source needs no escaping.
        let source = format!("{}/{from}{key}", self.bucket);
        let copied =
            self.client.copy_object().bucket(&self.bucket).copy_source(source).key(format!("{to}{key}")).send().await;
        match copied {
            Ok(_) => {}
            Err(e) if e.code() == Some("NoSuchKey") || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                return Ok(false);
            }
            Err(e) => return Err(port_error(what, e)),
        }
        (self.client.delete_object().bucket(&self.bucket).key(format!("{from}{key}")).send().await)
            .map_err(|e| port_error(what, e))?;
        Ok(true)
    }
}
