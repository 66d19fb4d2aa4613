//! Bufdir publishes no report API, so on AWS (as locally) a submission is
//! filed in an outbox: `{prefix}{idempotency_key}/{filename}` plus
//! `submission.json`, in the files bucket, outside the prefix the
//! lifecycle rule expires. Whatever forwards reports to Bufdir reads from
//! there; a repeated submission of one attempt is answered like the first.

use std::path::Path;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use sha2::{Digest, Sha256};

use super::S3FileStore;
use super::errors::port_error;
use crate::ports::{BufdirSubmitter, FileStore, PortError, PortResult, Receipt, Submission};

const RECORD: &str = "submission.json";

#[derive(Clone)]
pub struct S3BufdirOutbox {
    client: Client,
    bucket: String,
    prefix: String,
}

fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && !s.starts_with('.')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// The same key always gives the same reference.
pub fn reference_for(idempotency_key: &str) -> String {
    format!("outbox-{}", &hex::encode(Sha256::digest(idempotency_key.as_bytes()))[..12])
}

impl S3BufdirOutbox {
    pub fn new(client: Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        S3BufdirOutbox { client, bucket: bucket.into(), prefix: prefix.into() }
    }

    pub fn record_key(&self, idempotency_key: &str) -> String {
        format!("{}{idempotency_key}/{RECORD}", self.prefix)
    }

    async fn stored_record(&self, key: &str) -> PortResult<Option<serde_json::Value>> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let bytes =
                    out.body.collect().await.map_err(|e| PortError::Transient(format!("read submission: {e}")))?;
                let value = serde_json::from_slice(&bytes.into_bytes())
                    .map_err(|e| PortError::Permanent(format!("stored submission is unreadable: {e}")))?;
                Ok(Some(value))
            }
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => Ok(None),
            Err(e) => Err(port_error("read submission", e)),
        }
    }
}

async fn sha256_file(path: &Path) -> PortResult<String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        std::io::copy(&mut std::fs::File::open(&path)?, &mut hasher)?;
        Ok::<_, std::io::Error>(hex::encode(hasher.finalize()))
    })
    .await
    .map_err(|e| PortError::Permanent(e.to_string()))?
    .map_err(|e| PortError::Permanent(format!("read report: {e}")))
}

#[async_trait]
impl BufdirSubmitter for S3BufdirOutbox {
    async fn submit(&self, submission: &Submission, file: &Path) -> PortResult<Receipt> {
        if !safe_name(&submission.idempotency_key) || !safe_name(&submission.filename) {
            return Err(PortError::Permanent(
                "idempotency key and filename must be plain names ([A-Za-z0-9._-])".into(),
            ));
        }
        let reference = reference_for(&submission.idempotency_key);
        let record_key = self.record_key(&submission.idempotency_key);
        if let Some(stored) = self.stored_record(&record_key).await? {
            if stored["sha256"] != submission.sha256.as_str() {
                return Err(PortError::Permanent(format!(
                    "idempotency key {} was already used for a different file",
                    submission.idempotency_key
                )));
            }
            return Ok(Receipt { reference });
        }
        let actual = sha256_file(file).await?;
        if actual != submission.sha256 {
            return Err(PortError::Permanent(format!(
                "the report's sha256 is {actual}, the submission says {}",
                submission.sha256
            )));
        }
        let body = ByteStream::from_path(file).await.map_err(|e| PortError::Permanent(format!("read report: {e}")))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(format!("{}{}/{}", self.prefix, submission.idempotency_key, submission.filename))
            .content_type(&submission.content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| port_error("file report", e))?;
        let mut record = serde_json::to_value(submission).map_err(|e| PortError::Permanent(e.to_string()))?;
        record["reference"] = reference.clone().into();
        record["received_at"] = chrono::Utc::now().to_rfc3339().into();
        // The record goes last: its presence marks the submission received.
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(record_key)
            .content_type("application/json")
            .body(ByteStream::from(
                serde_json::to_vec_pretty(&record).map_err(|e| PortError::Permanent(e.to_string()))?,
            ))
            .send()
            .await
            .map_err(|e| port_error("file submission", e))?;
        Ok(Receipt { reference })
    }

    async fn forget(&self, idempotency_keys: &[String]) -> PortResult<()> {
        let outbox = S3FileStore::new(self.client.clone(), &self.bucket, &self.prefix);
        for key in idempotency_keys.iter().filter(|k| safe_name(k)) {
            outbox.delete_prefix(&format!("{key}/")).await?;
        }
        Ok(())
    }
}
