//! Port conformance suites: what every adapter must do, written against
//! the port traits only, so the AWS adapters can run the same suites.
//! Each suite makes its own organisation ids, so it can share a table or
//! bucket with earlier runs without seeing their data.

mod activity_store;
mod attachment_uploads;
mod cap;
mod import_store;
mod keys;
mod organisation_store;
mod webhook_store;

pub use activity_store::{activity, activity_store_suite, day};
pub use attachment_uploads::attachment_uploads_suite;
pub use import_store::{import, import_store_suite};
pub use organisation_store::{organisation, organisation_store_suite};
pub use webhook_store::webhook_store_suite;

use std::collections::HashSet;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use futures::StreamExt;
use shared::demo;
use shared::domain::{
    Activity, ActivityType, ExportFormat, ExportId, ExportJob, ExportStatus, OrgScope, Progress, ValidRequest,
};
use shared::ports::{
    ActivityQuery, ActivitySource, Event, EventPublisher, ExportEvent, ExportEventType, FileStore, ImportEvent,
    ImportEventType, JobQuery, JobStore, PortError,
};

/// An organisation id no earlier run used.
pub fn unique_org(label: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("org-{label}-{nanos:x}-{:04x}", rand_suffix())
}

fn rand_suffix() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed) ^ (std::process::id() as u16)
}

pub fn job(org: &str, created_at: DateTime<Utc>) -> ExportJob {
    let request = ValidRequest {
        org_id: None,
        format: ExportFormat::Excel,
        period_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        period_to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        activity_types: vec![],
        include_attachments: false,
        submit_to_bufdir_api: false,
        report_profile: "standard".into(),
    };
    let id = ExportId::generate(created_at.date_naive());
    ExportJob::queued(id, org.to_string(), request, "conformance".into(), created_at, 1)
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 26, 10, 0, 0).unwrap() + chrono::Duration::minutes(minute as i64)
}

fn only(orgs: &[&str]) -> OrgScope {
    OrgScope::Only(orgs.iter().map(|o| o.to_string()).collect())
}

fn query(scope: OrgScope, page: u32, limit: u32) -> JobQuery {
    JobQuery { scope, status: None, format: None, page, limit }
}

fn ids(jobs: &[ExportJob]) -> Vec<String> {
    jobs.iter().map(|j| j.export_id.to_string()).collect()
}

/// What every job store must do. The store has the default in-flight cap
/// ([`DEFAULT_IN_FLIGHT_CAP`](shared::ports::DEFAULT_IN_FLIGHT_CAP)).
pub async fn job_store_suite(store: Arc<dyn JobStore>) {
    cap::in_flight_cap_holds(store.clone()).await;
    job_insert_get_and_conflicts(&*store).await;
    job_updates_are_conditional(store.clone()).await;
    job_progress_keeps_the_version(&*store).await;
    job_listing(&*store).await;
    job_unfinished_and_delete(&*store).await;
    keys::keyed_inserts(store).await;
}

async fn job_insert_get_and_conflicts(store: &dyn JobStore) {
    let org = unique_org("insert");
    let j = job(&org, at(0));
    assert!(store.get(&j.export_id).await.unwrap().is_none());
    store.insert(&j).await.unwrap();
    assert_eq!(store.get(&j.export_id).await.unwrap(), Some(j.clone()));

    let mut again = j.clone();
    again.requested_by = "someone else".into();
    assert!(matches!(store.insert(&again).await, Err(PortError::Conflict)));
    assert_eq!(store.get(&j.export_id).await.unwrap().unwrap().requested_by, "conformance");
}

async fn job_updates_are_conditional(store: Arc<dyn JobStore>) {
    let org = unique_org("update");
    let j = job(&org, at(0));
    store.insert(&j).await.unwrap();

    let mut running = j.clone();
    running.status = ExportStatus::Running;
    running.version = 2;
    store.update(&running, 1).await.unwrap();
    assert_eq!(store.get(&j.export_id).await.unwrap(), Some(running.clone()));

    // a writer that read version 1 has lost
    let mut stale = j.clone();
    stale.status = ExportStatus::Cancelled;
    stale.version = 2;
    assert!(matches!(store.update(&stale, 1).await, Err(PortError::Conflict)));
    assert_eq!(store.get(&j.export_id).await.unwrap().unwrap().status, ExportStatus::Running);

    // a job that is gone cannot be updated
    let ghost = job(&org, at(1));
    assert!(matches!(store.update(&ghost, 1).await, Err(PortError::Conflict)));
    assert!(store.get(&ghost.export_id).await.unwrap().is_none());

    // many writers from the same version: exactly one wins
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            let mut next = running.clone();
            next.version = 3;
            next.progress.rows_done = i;
            tokio::spawn(async move { store.update(&next, 2).await.map(|()| i) })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(i) => winners.push(i),
            Err(PortError::Conflict) => {}
            Err(e) => panic!("unexpected error from a racing update: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one racing update may win");
    let stored = store.get(&j.export_id).await.unwrap().unwrap();
    assert_eq!(stored.version, 3);
    assert_eq!(stored.progress.rows_done, winners[0]);
}

/// A heartbeat records progress only for the running attempt, and never
/// makes a versioned writer (a user's cancel) lose.
async fn job_progress_keeps_the_version(store: &dyn JobStore) {
    let org = unique_org("progress");
    let mut j = job(&org, at(0));
    j.retry_count = 1;
    store.insert(&j).await.unwrap();
    let beat = Progress { stage: shared::domain::Stage::Generating, rows_done: 40, rows_total: 100 };

    // not running yet: refused
    assert!(matches!(store.record_progress(&j.export_id, 2, &beat, at(1)).await, Err(PortError::Conflict)));

    let mut running = j.clone();
    running.status = ExportStatus::Running;
    running.version = 2;
    store.update(&running, 1).await.unwrap();

    store.record_progress(&j.export_id, 2, &beat, at(2)).await.unwrap();
    let stored = store.get(&j.export_id).await.unwrap().unwrap();
    assert_eq!((stored.progress.clone(), stored.updated_at, stored.version), (beat.clone(), at(2), 2));
    assert_eq!(stored.status, ExportStatus::Running, "nothing else changes");

    // another attempt's heartbeat is refused and changes nothing
    let other = Progress { rows_done: 99, ..beat.clone() };
    assert!(matches!(store.record_progress(&j.export_id, 1, &other, at(3)).await, Err(PortError::Conflict)));
    assert_eq!(store.get(&j.export_id).await.unwrap().unwrap().progress, beat);

    // a cancel made from the version read before the heartbeat still wins
    let mut cancelled = running.clone();
    cancelled.status = ExportStatus::Cancelled;
    cancelled.version = 3;
    store.update(&cancelled, 2).await.unwrap();
    assert!(matches!(store.record_progress(&j.export_id, 2, &beat, at(4)).await, Err(PortError::Conflict)));
    assert_eq!(store.get(&j.export_id).await.unwrap().unwrap().status, ExportStatus::Cancelled);

    // a job that is gone has no heartbeat
    let ghost = job(&org, at(5));
    assert!(matches!(store.record_progress(&ghost.export_id, 1, &beat, at(5)).await, Err(PortError::Conflict)));
    assert!(store.get(&ghost.export_id).await.unwrap().is_none());
}

async fn job_listing(store: &dyn JobStore) {
    let org = unique_org("list");
    let other = unique_org("list-other");
    // five jobs a minute apart; the 2nd and 4th are csv, the 1st failed and
    // the 5th completed (three queued: the organisation's in-flight cap)
    let mut mine = Vec::new();
    for i in 0..5 {
        let mut j = job(&org, at(i));
        if i % 2 == 1 {
            j.format = ExportFormat::Csv;
        }
        if i == 0 {
            j.status = ExportStatus::Failed;
        }
        if i == 4 {
            j.status = ExportStatus::Completed;
        }
        store.insert(&j).await.unwrap();
        mine.push(j);
    }
    let theirs = job(&other, at(10));
    store.insert(&theirs).await.unwrap();

    let newest_first: Vec<String> = ids(&mine).into_iter().rev().collect();

    let all = store.list(&query(only(&[&org]), 1, 50)).await.unwrap();
    assert_eq!(all.total, 5);
    assert_eq!(ids(&all.jobs), newest_first);

    let page2 = store.list(&query(only(&[&org]), 2, 2)).await.unwrap();
    assert_eq!(page2.total, 5);
    assert_eq!(ids(&page2.jobs), newest_first[2..4].to_vec());
    let page3 = store.list(&query(only(&[&org]), 3, 2)).await.unwrap();
    assert_eq!(ids(&page3.jobs), newest_first[4..].to_vec());
    let page4 = store.list(&query(only(&[&org]), 4, 2)).await.unwrap();
    assert!(page4.jobs.is_empty());
    assert_eq!(page4.total, 5);

    let csv = store.list(&JobQuery { format: Some(ExportFormat::Csv), ..query(only(&[&org]), 1, 50) }).await.unwrap();
    assert_eq!(csv.total, 2);
    assert_eq!(ids(&csv.jobs), vec![mine[3].export_id.to_string(), mine[1].export_id.to_string()]);

    let completed =
        store.list(&JobQuery { status: Some(ExportStatus::Completed), ..query(only(&[&org]), 1, 50) }).await.unwrap();
    assert_eq!(ids(&completed.jobs), vec![mine[4].export_id.to_string()]);
    assert_eq!(completed.total, 1);

    let queued_csv = store
        .list(&JobQuery {
            status: Some(ExportStatus::Queued),
            format: Some(ExportFormat::Csv),
            ..query(only(&[&org]), 1, 50)
        })
        .await
        .unwrap();
    assert_eq!(queued_csv.total, 2);

    // another organisation's job never shows up in this scope...
    let theirs_id = theirs.export_id.to_string();
    assert!(!ids(&all.jobs).contains(&theirs_id));
    // ...only in its own, or in both together, or for an administrator
    let their_page = store.list(&query(only(&[&other]), 1, 50)).await.unwrap();
    assert_eq!(ids(&their_page.jobs), vec![theirs_id.clone()]);
    let both = store.list(&query(only(&[&org, &other]), 1, 50)).await.unwrap();
    assert_eq!(both.total, 6);
    assert_eq!(both.jobs[0].export_id, theirs.export_id);
    let admin = store.list(&query(OrgScope::All, 1, 10_000)).await.unwrap();
    assert!(admin.total >= 6);
    let admin_ids = ids(&admin.jobs);
    assert!(admin_ids.contains(&theirs_id) && newest_first.iter().all(|id| admin_ids.contains(id)));

    // a scope naming no organisation sees nothing
    let none = store.list(&query(OrgScope::Only(vec![]), 1, 50)).await.unwrap();
    assert!(none.jobs.is_empty());
    assert_eq!(none.total, 0);
}

async fn job_unfinished_and_delete(store: &dyn JobStore) {
    let org = unique_org("unfinished");
    let queued_late = job(&org, at(30));
    let mut running_early = job(&org, at(20));
    running_early.status = ExportStatus::Running;
    let mut failed = job(&org, at(10));
    failed.status = ExportStatus::Failed;
    for j in [&queued_late, &running_early, &failed] {
        store.insert(j).await.unwrap();
    }
    let unfinished: Vec<String> = ids(&store.unfinished().await.unwrap())
        .into_iter()
        .filter(|id| [&queued_late, &running_early].iter().any(|j| j.export_id.as_str() == id))
        .collect();
    assert_eq!(unfinished, vec![running_early.export_id.to_string(), queued_late.export_id.to_string()]);
    assert!(!ids(&store.unfinished().await.unwrap()).contains(&failed.export_id.to_string()));

    store.delete(&running_early.export_id).await.unwrap();
    assert!(store.get(&running_early.export_id).await.unwrap().is_none());
    // deleting again is fine
    store.delete(&running_early.export_id).await.unwrap();
    assert!(!ids(&store.unfinished().await.unwrap()).contains(&running_early.export_id.to_string()));
}

/// `write` stores the activities it is given (pulling them lazily).
/// `large` is the size of the streaming check: as large as the store's
/// test double allows (moto's Query slows down with the square of the size).
pub async fn activity_source_suite<W, F>(source: Arc<dyn ActivitySource>, write: W, large: u64)
where
    W: Fn(Box<dyn Iterator<Item = Activity> + Send>) -> F,
    F: Future<Output = ()>,
{
    let org = unique_org("activities");
    let other = unique_org("activities-other");
    let mk = |org: &str, id: &str, date: (i32, u32, u32), t: ActivityType| {
        let mut a = demo::generate(org, 1, 2025..=2025, 1).next().unwrap();
        a.activity_id = id.to_string();
        a.date = NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap();
        a.activity_type = t;
        a
    };
    use ActivityType::*;
    let items = vec![
        mk(&org, "b", (2025, 3, 1), GroupSession),
        mk(&org, "a", (2025, 3, 1), OpenMeeting),
        mk(&org, "c", (2024, 12, 31), GroupSession),
        mk(&org, "d", (2025, 1, 1), IndividualCounseling),
        mk(&org, "e", (2025, 12, 31), GroupSession),
        mk(&org, "f", (2026, 1, 1), GroupSession),
        mk(&other, "x", (2025, 6, 1), GroupSession),
    ];
    write(Box::new(items.into_iter())).await;

    let year = |types: Vec<ActivityType>| ActivityQuery {
        org_id: org.clone(),
        from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        types,
    };
    let collect = |q: ActivityQuery| {
        let s = source.stream(q);
        async move { s.map(|r| r.unwrap().activity_id).collect::<Vec<_>>().await }
    };

    // the period is inclusive at both ends; order is date, then id
    assert_eq!(collect(year(vec![])).await, vec!["d", "a", "b", "e"]);
    assert_eq!(source.count(&year(vec![])).await.unwrap(), 4);
    assert_eq!(collect(year(vec![GroupSession])).await, vec!["b", "e"]);
    assert_eq!(source.count(&year(vec![GroupSession])).await.unwrap(), 2);
    assert_eq!(collect(year(vec![GroupSession, IndividualCounseling])).await, vec!["d", "b", "e"]);
    assert_eq!(source.count(&year(vec![PeerSupportCourse])).await.unwrap(), 0);
    assert!(collect(year(vec![PeerSupportCourse])).await.is_empty());

    // writing the same id again replaces the activity
    let mut moved = mk(&org, "a", (2025, 2, 1), OpenMeeting);
    moved.title = "Flyttet".into();
    write(Box::new(vec![moved.clone()].into_iter())).await;
    assert_eq!(collect(year(vec![])).await, vec!["d", "a", "b", "e"]);
    let first_two: Vec<Activity> = source.stream(year(vec![])).take(2).map(|r| r.unwrap()).collect().await;
    assert_eq!(first_two[1], moved);
    assert_eq!(source.count(&year(vec![])).await.unwrap(), 4);

    // the stream only ever holds a small window of a big period
    let big = unique_org("big");
    let n = large;
    write(Box::new(demo::generate(&big, n, 2023..=2025, 42))).await;
    let q = ActivityQuery {
        org_id: big.clone(),
        from: NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        types: vec![],
    };
    assert_eq!(source.count(&q).await.unwrap(), n);
    let mut stream = source.stream(q.clone());
    let mut seen = 0u64;
    let mut last: Option<(NaiveDate, String)> = None;
    while let Some(item) = stream.next().await {
        let a = item.unwrap();
        assert_eq!(a.org_id, big);
        let key = (a.date, a.activity_id);
        if let Some(prev) = &last {
            assert!(*prev < key, "out of order: {prev:?} then {key:?}");
        }
        last = Some(key);
        seen += 1;
    }
    assert_eq!(seen, n);

    // a consumer that stops early releases the stream
    let few: Vec<_> = source.stream(q.clone()).take(5).collect().await;
    assert_eq!(few.len(), 5);
    let year_2024 = ActivityQuery {
        from: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(),
        ..q
    };
    let n_2024 = source.count(&year_2024).await.unwrap();
    assert!(n_2024 > n / 4 && n_2024 < n / 2, "{n_2024}");
    let mut s = source.stream(year_2024);
    let first = s.next().await.unwrap().unwrap();
    assert_eq!(first.date.year(), 2024);
    drop(s);
}

/// `download` follows a signed URL and returns the body, or None when refused.
pub async fn file_store_suite<D, F>(store: Arc<dyn FileStore>, download: D)
where
    D: Fn(String) -> F,
    F: Future<Output = Option<Vec<u8>>>,
{
    let org = unique_org("files");
    let dir = tempfile::tempdir().unwrap();
    let local = |name: &str, body: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let report = local("report.xlsx", b"first version");
    let k1 = format!("{org}/exp-20260326-aaaaaa/a1/rapport.xlsx");
    let k2 = format!("{org}/exp-20260326-aaaaaa/a2/rapport.xlsx");
    let k3 = format!("{org}/exp-20260326-bbbbbb/a1/rapport.csv.zip");
    assert_eq!(
        store.put(&k1, &report, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet").await.unwrap(),
        13
    );
    // replacing a key keeps only the new content
    let v2 = local("v2.xlsx", b"second, longer version");
    assert_eq!(store.put(&k1, &v2, "application/octet-stream").await.unwrap(), 22);
    store.put(&k2, &report, "application/octet-stream").await.unwrap();
    store.put(&k3, &report, "application/zip").await.unwrap();

    let back = dir.path().join("back");
    store.fetch(&k1, &back).await.unwrap();
    assert_eq!(std::fs::read(&back).unwrap(), b"second, longer version");
    assert!(store.fetch(&format!("{org}/missing"), &back).await.is_err());

    assert_eq!(store.list(&format!("{org}/")).await.unwrap(), vec![k1.clone(), k2.clone(), k3.clone()]);
    assert_eq!(store.list(&format!("{org}/exp-20260326-aaaaaa/")).await.unwrap(), vec![k1.clone(), k2.clone()]);
    assert!(store.list(&format!("{org}-nothing/")).await.unwrap().is_empty());

    // signed URLs
    let url = store.signed_url(&k1, "Bufdir-rapport 2025.xlsx", Duration::from_secs(300)).await.unwrap();
    assert_eq!(download(url.clone()).await.as_deref(), Some(&b"second, longer version"[..]));
    let other_key = url.replacen(&k1, &k2, 1);
    assert_ne!(other_key, url);
    assert_eq!(download(other_key).await, None, "a URL signed for one key must not open another");
    assert_eq!(download(url[..url.len() - 4].to_string()).await, None, "a cut signature must be refused");

    // deleting an export's prefix removes all its attempts and nothing else
    assert_eq!(store.delete_prefix(&format!("{org}/exp-20260326-aaaaaa/")).await.unwrap(), 2);
    assert_eq!(store.list(&format!("{org}/")).await.unwrap(), vec![k3.clone()]);
    assert_eq!(download(url).await, None, "a deleted file cannot be downloaded");
    assert_eq!(store.delete_prefix(&format!("{org}/exp-20260326-aaaaaa/")).await.unwrap(), 0);
    assert_eq!(store.delete_prefix(&format!("{org}/")).await.unwrap(), 1);
    assert!(store.list(&format!("{org}/")).await.unwrap().is_empty());

    // keys that could escape the store are refused
    for bad in ["../etc/passwd", "/abs/path", "a//b", "a/./b"] {
        assert!(store.put(bad, &report, "text/plain").await.is_err(), "{bad}");
    }
}

/// `read_back` returns every event the publisher has delivered so far.
pub async fn event_publisher_suite<R, F>(publisher: Arc<dyn EventPublisher>, read_back: R)
where
    R: Fn() -> F,
    F: Future<Output = Vec<Event>>,
{
    let org = unique_org("events");
    let event = |i: u32, event_type: ExportEventType| ExportEvent {
        event_type,
        export_id: format!("exp-20260326-{i:06}"),
        org_id: org.clone(),
        attempt: 1,
        status: match event_type {
            ExportEventType::Completed => "completed",
            ExportEventType::Failed => "failed",
            ExportEventType::Cancelled => "cancelled",
            ExportEventType::Submitted => "completed",
        }
        .to_string(),
        occurred_at: at(i),
        error_message: (event_type == ExportEventType::Failed).then(|| "Kunne ikke lese aktiviteter".to_string()),
        error_code: (event_type == ExportEventType::Failed).then_some(shared::domain::FailureCode::Internal),
    };
    let first = event(0, ExportEventType::Completed);
    publisher.publish(&first.clone().into()).await.unwrap();
    let tasks: Vec<_> = (1..=20)
        .map(|i| {
            let publisher = publisher.clone();
            let e = event(
                i,
                [ExportEventType::Completed, ExportEventType::Failed, ExportEventType::Cancelled][i as usize % 3],
            );
            tokio::spawn(async move { publisher.publish(&e.into()).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let import = ImportEvent {
        event_type: ImportEventType::Failed,
        import_id: "imp-20260326-000001".into(),
        org_id: org.clone(),
        status: "failed".into(),
        rows_total: 12,
        rows_written: 0,
        error_count: 3,
        occurred_at: at(30),
    };
    publisher.publish(&import.clone().into()).await.unwrap();
    let all: Vec<Event> = read_back().await.into_iter().filter(|e| e.org_id() == org).collect();
    assert_eq!(all.last(), Some(&Event::Import(import)), "an import event keeps its own fields");
    let mine: Vec<ExportEvent> = all
        .into_iter()
        .filter_map(|e| match e {
            Event::Export(e) => Some(e),
            Event::Import(_) => None,
        })
        .collect();
    assert_eq!(mine.len(), 21);
    assert_eq!(mine[0], first);
    let distinct: HashSet<&str> = mine.iter().map(|e| e.export_id.as_str()).collect();
    assert_eq!(distinct.len(), 21, "every event arrives exactly once");
    for e in &mine {
        let i: u32 = e.export_id[13..].parse().unwrap();
        assert_eq!(*e, event(i, e.event_type));
    }
}

/// Writes `body` to a fresh file under `dir` and returns its path.
pub fn write_file(dir: &Path, name: &str, body: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}
