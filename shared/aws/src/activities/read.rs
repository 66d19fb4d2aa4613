//! Reading a period for an export: once, and a month at a time in
//! parallel. Each month is a `Query` of its own key range, read page by
//! page by its own task; up to [`MONTHS_IN_FLIGHT`] are read at once, each
//! holding at most one decoded page until the export takes it, and the
//! export takes the months in order, so the rows still come by date, then
//! id. One sequential stream waits a round trip per 1 MB page; an export
//! of a year then waits for twelve streams' pages side by side.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{Datelike, NaiveDate};
use futures::future;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::mpsc;

use super::{DynamoActivities, decode};
use crate::domain::Activity;
use crate::errors::port_error;
use crate::ports::{ActivityQuery, PortResult};

/// Months read at once. With one page waiting in each and one page on the
/// wire, an export holds at most 8 MB of items.
pub const MONTHS_IN_FLIGHT: usize = 4;

/// The longest period read a month at a time: an export's longest, five
/// years. A longer read (the attachment sweep reads every year there can
/// be) is one stream: a query for each empty month of a century would cost
/// more than the months save.
pub const MOST_MONTHS: usize = 60;

/// The calendar months `from..=to` spans, each cut to the period.
pub fn months(from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let (y, m) = if start.month() == 12 { (start.year() + 1, 1) } else { (start.year(), start.month() + 1) };
        let Some(next) = NaiveDate::from_ymd_opt(y, m, 1) else {
            out.push((start, to));
            break;
        };
        out.push((start, next.pred_opt().unwrap_or(next).min(to)));
        start = next;
    }
    out
}

/// What the reads of one `DynamoActivities` cost, for tests and benches:
/// queries sent, items DynamoDB read for them (its `ScannedCount`, what
/// read capacity is paid for), and the most queries that were in flight
/// at once.
#[derive(Debug, Default)]
pub struct ReadStats {
    queries: AtomicU64,
    items: AtomicU64,
    in_flight: AtomicU64,
    most_in_flight: AtomicU64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reads {
    pub queries: u64,
    pub items: u64,
    pub most_in_flight: u64,
}

impl ReadStats {
    pub fn snapshot(&self) -> Reads {
        Reads {
            queries: self.queries.load(Ordering::Relaxed),
            items: self.items.load(Ordering::Relaxed),
            most_in_flight: self.most_in_flight.load(Ordering::Relaxed),
        }
    }

    /// Counts a query from now until the guard drops.
    pub(super) fn started(self: &Arc<Self>) -> InFlight {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.most_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(self.clone())
    }

    pub(super) fn scanned(&self, items: i32) {
        self.items.fetch_add(items.max(0) as u64, Ordering::Relaxed);
    }
}

pub(super) struct InFlight(Arc<ReadStats>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

type Page = Vec<PortResult<Activity>>;

/// The query's activities in report order, its months read side by side.
/// Must be polled within a Tokio runtime (each month is a task). Dropping
/// the stream stops every month's task at its next page.
pub(super) fn by_months(source: &DynamoActivities, q: ActivityQuery) -> BoxStream<'static, PortResult<Activity>> {
    let source = source.clone();
    let segments = match months(q.from, q.to) {
        months if !source.one_stream && months.len() <= MOST_MONTHS => months,
        _ => vec![(q.from, q.to)],
    };
    let months = stream::iter(segments).map(move |(from, to)| {
        let (tx, rx) = mpsc::channel::<Page>(1);
        tokio::spawn(read_month(source.clone(), ActivityQuery { from, to, ..q.clone() }, tx));
        future::ready(stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|page| (page, rx)) }))
    });
    months
        .buffered(MONTHS_IN_FLIGHT)
        .flatten()
        .flat_map(stream::iter)
        // The first error ends the stream, as a single Query stream's would.
        .scan(false, |failed, item| {
            if *failed {
                return future::ready(None);
            }
            *failed = item.is_err();
            future::ready(Some(item))
        })
        .boxed()
}

async fn read_month(source: DynamoActivities, q: ActivityQuery, tx: mpsc::Sender<Page>) {
    let mut next = None;
    loop {
        // An export that stopped while this month waited its turn or its
        // next page costs no further query.
        if tx.is_closed() {
            return;
        }
        let sent = {
            let _in_flight = source.stats.started();
            DynamoActivities::query(&source.client, &source.table, &q, source.page_size)
                .set_exclusive_start_key(next)
                .send()
                .await
        };
        let out = match sent {
            Ok(out) => out,
            Err(e) => {
                let _ = tx.send(vec![Err(port_error("read activities", e))]).await;
                return;
            }
        };
        source.stats.scanned(out.scanned_count);
        next = out.last_evaluated_key.filter(|k| !k.is_empty());
        // Decoded here, on this month's task, not on the export's thread.
        let page: Page = out.items.unwrap_or_default().iter().map(decode).collect();
        if tx.send(page).await.is_err() || next.is_none() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_period_is_cut_into_its_calendar_months() {
        assert_eq!(months(d("2025-03-14"), d("2025-03-20")), [(d("2025-03-14"), d("2025-03-20"))]);
        assert_eq!(
            months(d("2024-11-30"), d("2025-02-01")),
            [
                (d("2024-11-30"), d("2024-11-30")),
                (d("2024-12-01"), d("2024-12-31")),
                (d("2025-01-01"), d("2025-01-31")),
                (d("2025-02-01"), d("2025-02-01")),
            ]
        );
        assert_eq!(months(d("2024-02-01"), d("2024-02-29")), [(d("2024-02-01"), d("2024-02-29"))]);
        assert_eq!(months(d("2025-01-01"), d("2025-12-31")).len(), 12);
        assert!(months(d("2025-02-01"), d("2025-01-31")).is_empty());
    }
}
