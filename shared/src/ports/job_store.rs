use async_trait::async_trait;

use super::PortResult;
use crate::domain::{ExportFormat, ExportId, ExportJob, ExportStatus, OrgScope};

/// One page of the list endpoint, filtered to the caller's organisations.
#[derive(Clone, Debug)]
pub struct JobQuery {
    pub scope: OrgScope,
    pub status: Option<ExportStatus>,
    pub format: Option<ExportFormat>,
    /// 1-based.
    pub page: u32,
    pub limit: u32,
}

#[derive(Clone, Debug)]
pub struct JobPage {
    /// Newest first.
    pub jobs: Vec<ExportJob>,
    /// Every job matching the query, not just this page.
    pub total: u64,
}

/// Where export jobs live. Every write after the first is conditional on
/// the version the writer read, so two concurrent changes cannot both win.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Stores a new job; `Conflict` if the id is taken.
    async fn insert(&self, job: &ExportJob) -> PortResult<()>;

    async fn get(&self, id: &ExportId) -> PortResult<Option<ExportJob>>;

    async fn list(&self, query: &JobQuery) -> PortResult<JobPage>;

    /// Replaces the job if the store still holds `expected_version`;
    /// `Conflict` otherwise (including when the job is gone).
    /// The caller sets `job.version` to `expected_version + 1`.
    async fn update(&self, job: &ExportJob, expected_version: u64) -> PortResult<()>;

    /// Removes the job; removing a missing job is not an error.
    async fn delete(&self, id: &ExportId) -> PortResult<()>;

    /// Queued and running jobs, oldest first: what a restarted runner resumes.
    async fn unfinished(&self) -> PortResult<Vec<ExportJob>>;
}
