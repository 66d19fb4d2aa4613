use std::path::Path;

use async_trait::async_trait;

use super::PortResult;

/// Where the organisation's attachment files live (attendance lists,
/// course certificates), under the `key` an activity's attachment names.
/// Read only: the export never changes them.
#[async_trait]
pub trait AttachmentFiles: Send + Sync {
    /// Copies the file stored under `key` to a local path; `Ok(false)` when
    /// there is no such file (including a key no file could have).
    async fn fetch(&self, key: &str, local: &Path) -> PortResult<bool>;
}
