use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PortResult;
use crate::domain::{ExportFormat, ExportId, ExportJob, ExportStatus, OrgScope, Progress};

/// The in-flight cap a store has unless its builder is told otherwise.
pub const DEFAULT_IN_FLIGHT_CAP: u32 = 3;

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
///
/// A store is built with an in-flight cap: the most exports one
/// organisation may have queued or running. A write that would take an
/// organisation past it (a new queued job, a retry of a finished one) is
/// refused with [`PortError::InFlightCapReached`] in the same atomic step
/// that would have written it, so the cap holds under any burst of
/// concurrent writers and no crash can leave a slot taken by nothing.
///
/// [`PortError::InFlightCapReached`]: super::PortError::InFlightCapReached
#[async_trait]
pub trait JobStore: KeyedJobs + Send + Sync {
    /// Stores a new job; `Conflict` if the id is taken.
    async fn insert(&self, job: &ExportJob) -> PortResult<()>;

    async fn get(&self, id: &ExportId) -> PortResult<Option<ExportJob>>;

    async fn list(&self, query: &JobQuery) -> PortResult<JobPage>;

    /// Replaces the job if the store still holds `expected_version`;
    /// `Conflict` otherwise (including when the job is gone).
    /// The caller sets `job.version` to `expected_version + 1`.
    async fn update(&self, job: &ExportJob, expected_version: u64) -> PortResult<()>;

    /// Records a running attempt's progress and heartbeat (`updated_at`)
    /// without taking a new version: a heartbeat lands every few seconds,
    /// and a user's cancel or retry (versioned writes) must never lose a
    /// race to it. `Conflict` when the job is gone, no longer running, or
    /// running another attempt: the caller's attempt should stop.
    async fn record_progress(
        &self,
        id: &ExportId,
        attempt: u32,
        progress: &Progress,
        at: DateTime<Utc>,
    ) -> PortResult<()>;

    /// Removes the job; removing a missing job is not an error.
    async fn delete(&self, id: &ExportId) -> PortResult<()>;

    /// Queued and running jobs, oldest first: what a restarted runner resumes.
    async fn unfinished(&self) -> PortResult<Vec<ExportJob>>;
}

/// What an `Idempotency-Key` is remembered as: the request it came with
/// and the answer it got, so a repeat can be recognised and replayed even
/// after the export itself has changed or been deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// Whose key it is (the organisation the export was created for).
    pub scope: String,
    pub key: String,
    /// A digest of the normalised request; a different one means the key
    /// is being reused for another request.
    pub fingerprint: String,
    pub export_id: ExportId,
    pub status: ExportStatus,
    pub estimated_duration_seconds: u64,
    pub created_at: DateTime<Utc>,
    /// After this the key is free again (and the store may drop it).
    pub expires_at: DateTime<Utc>,
}

/// How [`KeyedJobs::insert_keyed`] went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyedInsert {
    /// The job and its key are stored.
    Inserted,
    /// Nothing was stored: a live record of the key exists (returned).
    KeyTaken(KeyRecord),
}

/// Jobs created under an idempotency key. Part of every job store because
/// the key and its job must be written in one atomic step: a key without
/// its job, or two jobs for one key, are what this exists to prevent.
#[async_trait]
pub trait KeyedJobs: Send + Sync {
    /// Stores `job` and `record` together, unless a record of the same
    /// scope and key that expires after `record.created_at` exists.
    /// `Conflict` if the job's id is taken, `InFlightCapReached` if the
    /// organisation is at its cap (and so nothing was stored); a live key
    /// is reported before the cap, so a repeat is replayed, never refused.
    async fn insert_keyed(&self, job: &ExportJob, record: &KeyRecord) -> PortResult<KeyedInsert>;

    /// The record of a key that has not expired at `now`.
    async fn key_record(&self, scope: &str, key: &str, now: DateTime<Utc>) -> PortResult<Option<KeyRecord>>;

    /// Removes every key of `scope`, expired or not, and whatever else the
    /// store keeps about the organisation beside its jobs (its counters,
    /// once no job of it is left); how many keys went. For erasing an
    /// organisation whose jobs are already deleted.
    async fn forget_scope(&self, scope: &str) -> PortResult<u64>;
}
