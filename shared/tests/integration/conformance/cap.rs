//! The in-flight cap: no write may give an organisation more than the
//! store's cap of queued and running jobs, whichever write it is (insert,
//! keyed insert, a retry's update) and however many arrive at once; every
//! way out of queued/running (finish, cancel, delete) frees its slot.

use std::sync::Arc;

use chrono::{Duration, Utc};
use shared::domain::{ExportJob, ExportStatus};
use shared::ports::{DEFAULT_IN_FLIGHT_CAP, JobQuery, JobStore, KeyRecord, KeyedInsert, PortError};

use super::{job, only, unique_org};

const CAP: usize = DEFAULT_IN_FLIGHT_CAP as usize;

async fn in_flight(store: &dyn JobStore, org: &str) -> u64 {
    let mut n = 0;
    for status in [ExportStatus::Queued, ExportStatus::Running] {
        let q = JobQuery { scope: only(&[org]), status: Some(status), format: None, page: 1, limit: 100 };
        n += store.list(&q).await.unwrap().total;
    }
    n
}

/// `job` moved to `status` as one versioned write.
async fn moved(store: &dyn JobStore, j: &ExportJob, status: ExportStatus) -> Result<ExportJob, PortError> {
    let mut next = store.get(&j.export_id).await.unwrap().expect("job exists");
    let expected = next.version;
    next.status = status;
    next.version = expected + 1;
    store.update(&next, expected).await.map(|()| next)
}

fn key_of(j: &ExportJob, key: &str) -> KeyRecord {
    KeyRecord {
        scope: j.org_id.clone(),
        key: key.to_string(),
        fingerprint: "fp".into(),
        export_id: j.export_id.clone(),
        status: j.status,
        estimated_duration_seconds: 1,
        created_at: j.created_at,
        expires_at: j.created_at + Duration::hours(24),
    }
}

pub async fn in_flight_cap_holds(store: Arc<dyn JobStore>) {
    every_write_that_adds_one_is_checked(&*store).await;
    concurrent_inserts_and_retries_stay_under_the_cap(store).await;
}

async fn every_write_that_adds_one_is_checked(store: &dyn JobStore) {
    let (org, other) = (unique_org("cap"), unique_org("cap-other"));
    let mut active = Vec::new();
    for _ in 0..CAP {
        let j = job(&org, Utc::now());
        store.insert(&j).await.unwrap();
        active.push(j);
    }
    // Full: a plain insert and a keyed one are refused and store nothing.
    let refused = job(&org, Utc::now());
    assert!(matches!(store.insert(&refused).await, Err(PortError::InFlightCapReached)));
    assert!(store.get(&refused.export_id).await.unwrap().is_none());
    let keyed = job(&org, Utc::now());
    let outcome = store.insert_keyed(&keyed, &key_of(&keyed, "k-full")).await;
    assert!(matches!(outcome, Err(PortError::InFlightCapReached)), "{outcome:?}");
    assert!(store.get(&keyed.export_id).await.unwrap().is_none());
    assert!(store.key_record(&org, "k-full", Utc::now()).await.unwrap().is_none(), "a refused insert keeps no key");
    // A finished job may still be recorded, and another organisation is unaffected.
    let mut done = job(&org, Utc::now());
    done.status = ExportStatus::Completed;
    store.insert(&done).await.unwrap();
    for _ in 0..CAP {
        store.insert(&job(&other, Utc::now())).await.unwrap();
    }

    // Starting one (queued -> running) keeps the count; finishing frees a slot.
    moved(store, &active[0], ExportStatus::Running).await.unwrap();
    assert!(matches!(store.insert(&job(&org, Utc::now())).await, Err(PortError::InFlightCapReached)));
    moved(store, &active[0], ExportStatus::Completed).await.unwrap();
    let fourth = job(&org, Utc::now());
    store.insert(&fourth).await.unwrap();
    assert_eq!(in_flight(store, &org).await, CAP as u64);

    // A retry (cancelled -> queued) takes a slot like an insert: refused
    // while full, with the job left as it was.
    moved(store, &active[1], ExportStatus::Cancelled).await.unwrap();
    store.insert(&job(&org, Utc::now())).await.unwrap();
    let before = store.get(&active[1].export_id).await.unwrap().unwrap();
    assert!(matches!(moved(store, &active[1], ExportStatus::Queued).await, Err(PortError::InFlightCapReached)));
    assert_eq!(store.get(&active[1].export_id).await.unwrap().unwrap(), before);

    // Deleting a queued job frees its slot: the retry now goes through.
    store.delete(&active[2].export_id).await.unwrap();
    moved(store, &active[1], ExportStatus::Queued).await.unwrap();
    assert_eq!(in_flight(store, &org).await, CAP as u64);
    // Failing one frees a slot for a keyed insert, whose key then replays
    // although the organisation is full again.
    moved(store, &fourth, ExportStatus::Failed).await.unwrap();
    let keyed = job(&org, Utc::now());
    assert_eq!(store.insert_keyed(&keyed, &key_of(&keyed, "k-late")).await.unwrap(), KeyedInsert::Inserted);
    let again = job(&org, Utc::now());
    assert!(
        matches!(store.insert_keyed(&again, &key_of(&again, "k-late")).await.unwrap(), KeyedInsert::KeyTaken(r) if r.export_id == keyed.export_id)
    );
    assert_eq!(in_flight(store, &org).await, CAP as u64);
    assert_eq!(in_flight(store, &other).await, CAP as u64);
}

/// Inserts, keyed inserts and retries racing for an empty organisation's
/// slots: exactly `CAP` win, every other is refused as over the cap.
async fn concurrent_inserts_and_retries_stay_under_the_cap(store: Arc<dyn JobStore>) {
    const RACERS: usize = 30;
    let org = unique_org("cap-race");
    // Retry candidates: finished jobs, created while the organisation was empty.
    let mut finished = Vec::new();
    for _ in 0..6 {
        let mut j = job(&org, Utc::now());
        j.status = ExportStatus::Cancelled;
        store.insert(&j).await.unwrap();
        finished.push(j);
    }
    let racers: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = store.clone();
            let retried = if i % 5 == 0 { finished.get(i / 5).cloned() } else { None };
            let fresh = job(&org, Utc::now());
            tokio::spawn(async move {
                match (i % 3, retried) {
                    (_, Some(j)) => moved(&*store, &j, ExportStatus::Queued).await.map(|_| ()),
                    (0, None) => store.insert_keyed(&fresh, &key_of(&fresh, &format!("race-{i}"))).await.map(|_| ()),
                    _ => store.insert(&fresh).await,
                }
            })
        })
        .collect();
    let (mut won, mut refused) = (0, 0);
    for racer in racers {
        match racer.await.unwrap() {
            Ok(()) => won += 1,
            Err(PortError::InFlightCapReached) => refused += 1,
            Err(e) => panic!("unexpected error from a racing write: {e}"),
        }
    }
    assert_eq!((won, refused), (CAP, RACERS - CAP), "exactly the cap's worth of writes win");
    assert_eq!(in_flight(&*store, &org).await, CAP as u64);
}
