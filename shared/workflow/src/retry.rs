use std::time::Duration;

use crate::backoff::Backoff;

/// Retry of a step that failed for a transient reason, as the state
/// machine's Retry blocks do: up to `max_attempts` tries in all, waiting
/// with exponential backoff and full jitter between them.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub max_attempts: u32,
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 3, backoff: Backoff::new(Duration::from_millis(500), 4, Duration::from_secs(30)) }
    }
}
