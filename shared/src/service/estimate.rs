//! How long an export will take, from the rows in its period and the
//! throughput the organisation's recent exports actually achieved.

use crate::domain::ExportJob;

/// Used until an organisation has finished exports to learn from; about
/// what `make bench` measures for an excel export on a small machine.
pub const DEFAULT_ROWS_PER_SECOND: f64 = 60_000.0;

/// Fixed cost of any export: starting the workflow, storing the file.
const OVERHEAD_SECONDS: f64 = 1.0;

/// Rows per second of a finished export, if it tells us anything.
fn throughput(job: &ExportJob) -> Option<f64> {
    let (start, end) = (job.started_at?, job.completed_at?);
    let secs = (end - start).num_milliseconds() as f64 / 1000.0;
    let rows = job.progress.rows_total as f64;
    (rows >= 1000.0 && secs > 0.0).then(|| rows / secs)
}

/// Seconds for `rows`, using the median throughput of `recent` finished
/// exports when there are any.
pub fn estimate_seconds(rows: u64, recent: &[ExportJob]) -> u64 {
    let mut seen: Vec<f64> = recent.iter().filter_map(throughput).collect();
    seen.sort_by(f64::total_cmp);
    let rate = seen.get(seen.len() / 2).copied().unwrap_or(DEFAULT_ROWS_PER_SECOND);
    (rows as f64 / rate + OVERHEAD_SECONDS).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    #[test]
    fn grows_with_rows() {
        assert_eq!(estimate_seconds(0, &[]), 1);
        assert!(estimate_seconds(6_000_000, &[]) > estimate_seconds(60_000, &[]));
    }

    #[test]
    fn learns_from_finished_exports() {
        let mut slow = fixtures::job();
        slow.started_at = Some("2026-01-01T10:00:00Z".parse().unwrap());
        slow.completed_at = Some("2026-01-01T10:00:10Z".parse().unwrap());
        slow.progress.rows_total = 10_000; // 1 000 rows/s
        assert_eq!(estimate_seconds(100_000, &[slow.clone(), slow.clone(), slow]), 101);
    }
}
