//! How long an export will take, from what the organisation's recent
//! exports actually found and achieved: rows per day of period, and rows
//! per second. Nothing here reads activities: counting them on every
//! create would cost a full read of the period in DynamoDB.

use crate::domain::ExportJob;

/// Used until an organisation has finished exports to learn from; about
/// what `make bench` measures for an excel export on a small machine.
pub const DEFAULT_ROWS_PER_SECOND: f64 = 60_000.0;

/// Rows per day of period assumed until an organisation has finished
/// exports to learn from: a busy local chapter's activity log.
pub const DEFAULT_ROWS_PER_DAY: f64 = 50.0;

/// Fixed cost of any export: starting the workflow, storing the file.
const OVERHEAD_SECONDS: f64 = 1.0;

/// Rows per second of a finished export, if it tells us anything.
fn throughput(job: &ExportJob) -> Option<f64> {
    let (start, end) = (job.started_at?, job.completed_at?);
    let secs = (end - start).num_milliseconds() as f64 / 1000.0;
    let rows = job.progress.rows_total as f64;
    (rows >= 1000.0 && secs > 0.0).then(|| rows / secs)
}

/// Rows per day of period a finished export found.
fn density(job: &ExportJob) -> Option<f64> {
    let days = (job.period_to - job.period_from).num_days() + 1;
    (job.completed_at.is_some() && days > 0).then(|| job.progress.rows_total as f64 / days as f64)
}

fn median(mut seen: Vec<f64>) -> Option<f64> {
    seen.sort_by(f64::total_cmp);
    seen.get(seen.len() / 2).copied()
}

/// Rows a period of `days` probably holds, by the median density of `recent` finished exports.
pub fn estimate_rows(days: i64, recent: &[ExportJob]) -> u64 {
    let per_day = median(recent.iter().filter_map(density).collect()).unwrap_or(DEFAULT_ROWS_PER_DAY);
    (per_day * days.max(1) as f64).round() as u64
}

/// Seconds for `rows`, using the median throughput of `recent` finished
/// exports when there are any.
pub fn estimate_seconds(rows: u64, recent: &[ExportJob]) -> u64 {
    let rate = median(recent.iter().filter_map(throughput).collect()).unwrap_or(DEFAULT_ROWS_PER_SECOND);
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

    #[test]
    fn rows_scale_with_the_period_by_what_earlier_exports_found() {
        assert_eq!(estimate_rows(10, &[]), 500);
        let mut year = fixtures::job();
        year.period_from = "2025-01-01".parse().unwrap();
        year.period_to = "2025-12-31".parse().unwrap();
        year.completed_at = Some("2026-01-01T10:00:10Z".parse().unwrap());
        year.progress.rows_total = 36_500; // 100 a day
        assert_eq!(estimate_rows(30, &[year.clone()]), 3_000);
        // an unfinished export tells nothing
        year.completed_at = None;
        assert_eq!(estimate_rows(30, &[year]), 1_500);
    }
}
