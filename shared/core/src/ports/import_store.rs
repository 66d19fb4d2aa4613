use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PortResult;
use crate::domain::{ImportId, ImportJob, ImportStatus, OrgScope};

/// One page of the imports list, filtered to the caller's organisations.
#[derive(Clone, Debug)]
pub struct ImportQuery {
    pub scope: OrgScope,
    pub status: Option<ImportStatus>,
    /// 1-based.
    pub page: u32,
    pub limit: u32,
}

#[derive(Clone, Debug)]
pub struct ImportPage {
    /// Newest first.
    pub imports: Vec<ImportJob>,
    pub total: u64,
}

/// What an `Idempotency-Key` on an import request is remembered as: the
/// request's digest and the import it made. A repeat is answered from the
/// import as it is now (with a freshly signed upload link).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportKey {
    pub scope: String,
    pub key: String,
    pub fingerprint: String,
    pub import_id: ImportId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportKeyed {
    Inserted,
    /// Nothing stored: the key is held (returned).
    KeyTaken(ImportKey),
}

/// What [`ImportStore::erase_imports`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErasedImports {
    pub imports: u64,
    pub keys: u64,
}

/// Where import jobs live. Like the job store, every write after the
/// first is conditional on the version the writer read.
#[async_trait]
pub trait ImportStore: Send + Sync {
    /// Stores a new import; `Conflict` if its id is taken.
    async fn insert_import(&self, job: &ImportJob) -> PortResult<()>;

    /// Stores the import and its key together, unless a live record of the
    /// key exists; `Conflict` if the import's id is taken.
    async fn insert_import_keyed(&self, job: &ImportJob, key: &ImportKey) -> PortResult<ImportKeyed>;

    async fn import_key(&self, scope: &str, key: &str, now: DateTime<Utc>) -> PortResult<Option<ImportKey>>;

    async fn get_import(&self, id: &ImportId) -> PortResult<Option<ImportJob>>;

    async fn list_imports(&self, query: &ImportQuery) -> PortResult<ImportPage>;

    /// Replaces the import if the store holds `expected_version`; `Conflict`
    /// otherwise. The caller sets `job.version` to `expected_version + 1`.
    async fn update_import(&self, job: &ImportJob, expected_version: u64) -> PortResult<()>;

    /// Removes every import of `org_id` and every idempotency key of that
    /// scope; says how many of each went.
    async fn erase_imports(&self, org_id: &str) -> PortResult<ErasedImports>;

    /// Imports not yet final (awaiting upload, validating, importing),
    /// oldest first: what housekeeping expires and a restarted runner resumes.
    async fn unfinished_imports(&self) -> PortResult<Vec<ImportJob>>;
}
