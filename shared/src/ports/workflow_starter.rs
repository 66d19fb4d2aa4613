use async_trait::async_trait;

use super::PortResult;
use crate::domain::ExportId;

/// Starts and stops the export workflow (generate -> submit -> complete).
/// Locally an in-process runner; on AWS a Step Functions execution named
/// `{export_id}-a{attempt}`.
#[async_trait]
pub trait WorkflowStarter: Send + Sync {
    async fn start(&self, id: &ExportId, attempt: u32) -> PortResult<()>;

    /// Best effort: the workflow also stops by itself when it sees the job
    /// is no longer running its attempt.
    async fn stop(&self, id: &ExportId, attempt: u32) -> PortResult<()>;
}
