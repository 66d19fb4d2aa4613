//! Attachment files in S3, at `{prefix}{key}` in their bucket (by default
//! the stack's files bucket under `attachments/`), where the system that
//! records the activities uploads them.

use std::path::Path;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::get_object::GetObjectError;

use super::errors::port_error;
use super::file_store::download;
use crate::ports::{AttachmentFiles, PortResult};

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
    !key.is_empty() && key.len() <= 900 && key.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
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
