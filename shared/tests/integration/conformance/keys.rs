//! Idempotency keys: a key and its job are stored together or not at all,
//! and one live key admits one job, also under concurrent inserts.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use shared::domain::ExportJob;
use shared::ports::{JobQuery, JobStore, KeyRecord, KeyedInsert, PortError};

use super::{job, only, unique_org};

/// Whole seconds: a store may keep expiry at that precision.
fn now() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::seconds(1)).unwrap()
}

fn record(j: &ExportJob, key: &str, fingerprint: &str) -> KeyRecord {
    KeyRecord {
        scope: j.org_id.clone(),
        key: key.to_string(),
        fingerprint: fingerprint.to_string(),
        export_id: j.export_id.clone(),
        status: j.status,
        estimated_duration_seconds: j.estimated_duration_seconds,
        created_at: j.created_at,
        expires_at: j.created_at + Duration::hours(24),
    }
}

async fn total(store: &dyn JobStore, org: &str) -> u64 {
    store.list(&JobQuery { scope: only(&[org]), status: None, format: None, page: 1, limit: 100 }).await.unwrap().total
}

pub async fn keyed_inserts(store: Arc<dyn JobStore>) {
    one_key_one_job(&*store).await;
    keys_are_scoped_and_expire(&*store).await;
    a_clashing_job_id_stores_no_key(&*store).await;
    forgetting_a_scope_forgets_its_keys_only(&*store).await;
    concurrent_inserts_with_one_key(store).await;
}

/// An erasure's keys: every key of the scope, live or expired, and none of
/// a scope whose name merely starts the same.
async fn forgetting_a_scope_forgets_its_keys_only(store: &dyn JobStore) {
    let org = unique_org("forget");
    let longer = format!("{org}0");
    let t = now();
    for (scope, key) in [(&org, "one"), (&org, "two"), (&longer, "one")] {
        let j = job(scope, t);
        assert_eq!(store.insert_keyed(&j, &record(&j, key, "fp")).await.unwrap(), KeyedInsert::Inserted);
        store.delete(&j.export_id).await.unwrap();
    }
    assert_eq!(store.forget_scope(&org).await.unwrap(), 2);
    assert!(store.key_record(&org, "one", t).await.unwrap().is_none());
    assert!(store.key_record(&org, "two", t).await.unwrap().is_none());
    assert!(store.key_record(&longer, "one", t).await.unwrap().is_some(), "another scope keeps its key");
    assert_eq!(store.forget_scope(&org).await.unwrap(), 0, "nothing left");
    // the scope can be used again afterwards
    let again = job(&org, t);
    assert_eq!(store.insert_keyed(&again, &record(&again, "one", "fp")).await.unwrap(), KeyedInsert::Inserted);
    assert_eq!(total(store, &org).await, 1);
}

async fn one_key_one_job(store: &dyn JobStore) {
    let org = unique_org("key");
    let first = job(&org, now());
    let rec = record(&first, "key/1 with:odd#chars", "fp-a");
    assert!(store.key_record(&org, "key/1 with:odd#chars", now()).await.unwrap().is_none());
    assert_eq!(store.insert_keyed(&first, &rec).await.unwrap(), KeyedInsert::Inserted);
    assert_eq!(store.get(&first.export_id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.key_record(&org, "key/1 with:odd#chars", now()).await.unwrap(), Some(rec.clone()));

    // whatever the second request is, the key answers with the first record
    let second = job(&org, now());
    let taken = store.insert_keyed(&second, &record(&second, "key/1 with:odd#chars", "fp-b")).await.unwrap();
    assert_eq!(taken, KeyedInsert::KeyTaken(rec));
    assert!(store.get(&second.export_id).await.unwrap().is_none());
    assert_eq!(total(store, &org).await, 1);
}

async fn keys_are_scoped_and_expire(store: &dyn JobStore) {
    let (org_a, org_b) = (unique_org("scope-a"), unique_org("scope-b"));
    let t = now();
    let a = job(&org_a, t);
    let b = job(&org_b, t);
    assert_eq!(store.insert_keyed(&a, &record(&a, "shared", "fp")).await.unwrap(), KeyedInsert::Inserted);
    assert_eq!(store.insert_keyed(&b, &record(&b, "shared", "fp")).await.unwrap(), KeyedInsert::Inserted);
    assert_eq!(store.key_record(&org_b, "shared", t).await.unwrap().unwrap().export_id, b.export_id);

    // the record is live until its expiry and gone at it
    let expiry = t + Duration::hours(24);
    assert!(store.key_record(&org_a, "shared", expiry - Duration::seconds(1)).await.unwrap().is_some());
    assert!(store.key_record(&org_a, "shared", expiry).await.unwrap().is_none());

    // an expired key is free for a new job
    let later = job(&org_a, expiry + Duration::seconds(1));
    let renewed = record(&later, "shared", "fp-new");
    assert_eq!(store.insert_keyed(&later, &renewed).await.unwrap(), KeyedInsert::Inserted);
    assert_eq!(store.key_record(&org_a, "shared", later.created_at).await.unwrap(), Some(renewed));
    assert_eq!(total(store, &org_a).await, 2);
}

async fn a_clashing_job_id_stores_no_key(store: &dyn JobStore) {
    let org = unique_org("clash");
    let existing = job(&org, now());
    store.insert(&existing).await.unwrap();
    let mut clash = job(&org, now());
    clash.export_id = existing.export_id.clone();
    let outcome = store.insert_keyed(&clash, &record(&clash, "fresh", "fp")).await;
    assert!(matches!(outcome, Err(PortError::Conflict)), "{outcome:?}");
    assert!(store.key_record(&org, "fresh", now()).await.unwrap().is_none());
    assert_eq!(total(store, &org).await, 1);
}

async fn concurrent_inserts_with_one_key(store: Arc<dyn JobStore>) {
    const RACERS: usize = 20;
    let org = unique_org("race");
    let racers: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = store.clone();
            let j = job(&org, now());
            let rec = record(&j, "raced", &format!("fp-{i}"));
            tokio::spawn(async move { (j.export_id.clone(), store.insert_keyed(&j, &rec).await.unwrap()) })
        })
        .collect();
    let mut winners = Vec::new();
    let mut answers = Vec::new();
    for racer in racers {
        let (id, outcome) = racer.await.unwrap();
        match outcome {
            KeyedInsert::Inserted => winners.push(id),
            KeyedInsert::KeyTaken(rec) => answers.push(rec.export_id),
        }
    }
    assert_eq!(winners.len(), 1, "one insert wins");
    assert!(answers.iter().all(|id| *id == winners[0]), "every loser sees the winner's export");
    assert_eq!(total(&*store, &org).await, 1);
    assert!(store.get(&winners[0]).await.unwrap().is_some());
}
