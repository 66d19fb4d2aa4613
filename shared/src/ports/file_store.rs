use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;

use super::PortResult;

/// Where generated files live. Keys look like `{org}/{export}/a{attempt}/{file}`.
#[async_trait]
pub trait FileStore: Send + Sync {
    /// Stores the local file under `key`, replacing what was there; returns its size.
    async fn put(&self, key: &str, local: &Path, content_type: &str) -> PortResult<u64>;

    /// Copies the stored file to a local path.
    async fn fetch(&self, key: &str, local: &Path) -> PortResult<()>;

    /// Removes every file whose key starts with `prefix`; returns how many went.
    async fn delete_prefix(&self, prefix: &str) -> PortResult<u64>;

    /// Every key under `prefix` (for cleanup and tests).
    async fn list(&self, prefix: &str) -> PortResult<Vec<String>>;

    /// A download URL for `key`, valid for `ttl`, minted fresh on each call
    /// and never stored. `filename` is what the browser saves it as.
    async fn signed_url(&self, key: &str, filename: &str, ttl: Duration) -> PortResult<String>;
}
