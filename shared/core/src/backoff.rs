//! Waiting before trying again, everywhere something is retried: a write
//! that lost a race, a DynamoDB batch with unprocessed items, a colliding
//! transaction, a workflow step, a submission. Exponential backoff with
//! full jitter (a uniformly random wait up to a growing ceiling), which is
//! also what the state machine's Retry blocks use (`JitterStrategy: FULL`):
//! racing writers spread out instead of colliding again in step.

use std::time::Duration;

use rand::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling before the second try.
    pub first: Duration,
    /// How much the ceiling grows from one try to the next.
    pub factor: u32,
    /// The ceiling never grows past this.
    pub max: Duration,
}

impl Backoff {
    pub const fn new(first: Duration, factor: u32, max: Duration) -> Self {
        Backoff { first, factor, max }
    }

    /// The longest wait before try `next_try` (2, 3, ...):
    /// `min(max, first * factor^(next_try - 2))`.
    pub fn ceiling(&self, next_try: u32) -> Duration {
        let grown = self.factor.checked_pow(next_try.saturating_sub(2)).map(|f| self.first.saturating_mul(f));
        grown.unwrap_or(self.max).min(self.max)
    }

    /// A random wait before try `next_try`, uniform in `0..=ceiling`.
    pub fn delay(&self, next_try: u32) -> Duration {
        let ceiling = u64::try_from(self.ceiling(next_try).as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::rng().random_range(0..=ceiling))
    }

    /// A random wait before try `next_try` of at least half the ceiling
    /// ("equal jitter"): for retries that must not come back at once (a
    /// webhook receiver that just failed), still spread out.
    pub fn delay_from_half(&self, next_try: u32) -> Duration {
        let half = self.ceiling(next_try) / 2;
        let spread = u64::try_from(half.as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(rand::rng().random_range(0..=spread))
    }

    /// Sleeps [`delay`](Self::delay) before try `next_try`.
    pub async fn wait(&self, next_try: u32) {
        tokio::time::sleep(self.delay(next_try)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_grows_and_stops_at_the_cap() {
        let b = Backoff::new(Duration::from_millis(10), 2, Duration::from_millis(320));
        let ceilings: Vec<u128> = (2..=9).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [10, 20, 40, 80, 160, 320, 320, 320]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_millis(320), "no overflow");
        assert_eq!(b.ceiling(0), Duration::from_millis(10));
    }

    #[test]
    fn delays_stay_under_the_ceiling_and_spread_out() {
        let b = Backoff::new(Duration::from_millis(100), 4, Duration::from_secs(5));
        let delays: Vec<Duration> = (0..200).map(|_| b.delay(3)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(400)));
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 100, "jittered, not fixed");
    }

    #[test]
    fn equal_jitter_stays_in_the_upper_half() {
        let b = Backoff::new(Duration::from_millis(100), 2, Duration::from_secs(5));
        let delays: Vec<Duration> = (0..200).map(|_| b.delay_from_half(3)).collect();
        assert!(delays.iter().all(|d| (Duration::from_millis(100)..=Duration::from_millis(200)).contains(d)));
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 100, "jittered, not fixed");
    }
}
