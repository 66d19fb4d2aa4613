use std::time::Duration;

use async_trait::async_trait;

use super::{PortResult, UploadTarget};

/// Attachment files uploaded through the API. An upload lands in a
/// holding area whose files expire (a lifecycle rule on S3, the sweep
/// locally); an activity naming its key claims it, moving it to the
/// attachment files for good. So a file nobody ever names goes away.
#[async_trait]
pub trait AttachmentUploads: Send + Sync {
    /// A signed link to upload the file to be kept at `key`.
    async fn signed_upload(&self, key: &str, max_bytes: u64, ttl: Duration) -> PortResult<UploadTarget>;

    /// Moves the uploaded file at `key` to the attachment files; `false`
    /// when none is waiting there (claimed before, or never uploaded).
    async fn claim(&self, key: &str) -> PortResult<bool>;

    /// Removes every file under `prefix`, waiting or claimed; how many.
    /// For erasing an organisation (its keys start `{org_id}/`).
    async fn erase(&self, prefix: &str) -> PortResult<u64>;

    /// Removes uploads waiting since before `cutoff`; returns how many.
    /// S3's lifecycle rule does this on AWS, so there it removes nothing.
    async fn expire_unclaimed(&self, cutoff: chrono::DateTime<chrono::Utc>) -> PortResult<u64>;

    /// The first segments of the claimed files' keys (the organisations
    /// that have any), each once, in order; it may name one whose last
    /// file went a moment ago.
    async fn claimed_owners(&self) -> PortResult<Vec<String>>;

    /// The keys of the claimed files under `prefix` that were claimed
    /// before `cutoff`, in order.
    async fn claimed_before(&self, prefix: &str, cutoff: chrono::DateTime<chrono::Utc>) -> PortResult<Vec<String>>;

    /// Moves a claimed file back among the waiting uploads as if uploaded
    /// now: it expires with them unless an activity names it again (which
    /// claims it again). `false` when no file was claimed at `key`.
    async fn release(&self, key: &str) -> PortResult<bool>;
}
