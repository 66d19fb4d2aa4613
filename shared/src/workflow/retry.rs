use std::time::Duration;

use rand::Rng;

/// Retry of a step that failed for a transient reason: exponential
/// backoff with jitter, as the state machine's Retry blocks do.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub max_attempts: u32,
    pub first_delay: Duration,
    pub factor: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 3, first_delay: Duration::from_millis(500), factor: 4 }
    }
}

impl RetryPolicy {
    /// Delay before try number `next` (2, 3, ...), with up to 25 % jitter
    /// so retries of many exports do not arrive together.
    pub fn delay(&self, next: u32) -> Duration {
        let base = self.first_delay * self.factor.saturating_pow(next.saturating_sub(2));
        let jitter = rand::rng().random_range(0.0..0.25);
        base.mul_f64(1.0 + jitter)
    }
}
