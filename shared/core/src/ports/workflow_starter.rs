use async_trait::async_trait;

use super::PortResult;
use crate::domain::{ExportId, ExportJob};

/// What the workflow knows of one attempt of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptState {
    /// Never started, or its start did not take: nothing will run it.
    NotStarted,
    /// Started and not over: waiting for a worker, or running.
    Started,
    /// Started, and over (finished, failed, stopped or timed out).
    Ended,
}

/// Starts and stops the export workflow (generate -> submit -> complete).
/// Locally an in-process runner; on AWS a Step Functions execution named
/// `{export_id}-a{attempt}`.
#[async_trait]
pub trait WorkflowStarter: Send + Sync {
    /// Starts `job`'s current attempt; starting one that is already started
    /// does nothing, so a start can always be repeated. The whole job is
    /// given so the workflow can show whose export it runs and what it
    /// makes (the execution's input on AWS).
    async fn start(&self, job: &ExportJob) -> PortResult<()>;

    /// Best effort: the workflow also stops by itself when it sees the job
    /// is no longer running its attempt.
    async fn stop(&self, id: &ExportId, attempt: u32) -> PortResult<()>;

    /// Whether anything is running the attempt, for the watchdog to tell a
    /// queued export that waits for a worker from one nobody will run.
    async fn attempt_state(&self, id: &ExportId, attempt: u32) -> PortResult<AttemptState>;
}
