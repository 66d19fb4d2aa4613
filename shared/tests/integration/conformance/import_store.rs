//! What every import store must do: one import per id, idempotency keys
//! stored with their import or not at all, writes conditional on the
//! version read, the list newest first over any set of organisations, and
//! the unfinished imports oldest first.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, TimeZone, Utc};
use shared::domain::{ImportFormat, ImportId, ImportJob, ImportStatus, OrgScope, Period, RowError};
use shared::ports::{ErasedImports, ImportKey, ImportKeyed, ImportQuery, ImportStore, PortError};
use shared::service::upload_key;

use super::{only, unique_org};

/// Whole seconds: a store may keep a key's expiry at that precision.
fn now() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::seconds(1)).unwrap()
}

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 26, 10, 0, 0).unwrap() + Duration::minutes(minute)
}

/// An import of `org` made at `created_at`, with a fresh id and every
/// field set, so a store that drops one is caught.
pub fn import(org: &str, created_at: DateTime<Utc>) -> ImportJob {
    let import_id = ImportId::generate(created_at.date_naive());
    let year = |m, d| chrono::NaiveDate::from_ymd_opt(2025, m, d).unwrap();
    ImportJob {
        upload_key: upload_key(org, &import_id, ImportFormat::Csv),
        import_id,
        org_id: org.to_string(),
        status: ImportStatus::AwaitingUpload,
        format: ImportFormat::Csv,
        replace_period: Some(Period { from: year(1, 1), to: year(12, 31) }),
        requested_by: "conformance".into(),
        created_at,
        updated_at: created_at,
        upload_expires_at: created_at + Duration::hours(1),
        max_upload_bytes: 1 << 20,
        uploaded_at: Some(created_at + Duration::seconds(5)),
        finished_at: None,
        rows_total: 3,
        rows_written: 2,
        rows_removed: 1,
        error_count: 101,
        errors: vec![RowError::new(3, Some("dato"), "invalid_value", "not a date: 31.02.2025")],
        error_code: Some("invalid_rows".into()),
        error_message: Some("101 problems in the file".into()),
        lease_until: None,
        runs: 2,
        version: 1,
    }
}

fn with_status(mut j: ImportJob, status: ImportStatus) -> ImportJob {
    j.status = status;
    j
}

fn key(j: &ImportJob, key: &str, fingerprint: &str) -> ImportKey {
    ImportKey {
        scope: j.org_id.clone(),
        key: key.to_string(),
        fingerprint: fingerprint.to_string(),
        import_id: j.import_id.clone(),
        created_at: j.created_at,
        expires_at: j.created_at + Duration::hours(24),
    }
}

fn ids(jobs: &[ImportJob]) -> Vec<String> {
    jobs.iter().map(|j| j.import_id.to_string()).collect()
}

fn q(scope: OrgScope, status: Option<ImportStatus>, page: u32, limit: u32) -> ImportQuery {
    ImportQuery { scope, status, page, limit }
}

async fn total(store: &dyn ImportStore, org: &str) -> u64 {
    store.list_imports(&q(only(&[org]), None, 1, 100)).await.unwrap().total
}

pub async fn import_store_suite(store: Arc<dyn ImportStore>) {
    one_import_per_id(&*store).await;
    keys_replay_expire_and_are_scoped(&*store).await;
    updates_are_conditional(store.clone()).await;
    listing(&*store).await;
    unfinished_oldest_first(&*store).await;
    erasing_removes_one_organisations_imports_and_keys(&*store).await;
}

async fn erasing_removes_one_organisations_imports_and_keys(store: &dyn ImportStore) {
    let org = unique_org("imp-erase");
    let longer = format!("{org}0");
    let t = now();
    let plain = import(&org, t);
    store.insert_import(&plain).await.unwrap();
    let keyed = import(&org, t);
    assert_eq!(store.insert_import_keyed(&keyed, &key(&keyed, "k", "fp")).await.unwrap(), ImportKeyed::Inserted);
    let theirs = import(&longer, t);
    assert_eq!(store.insert_import_keyed(&theirs, &key(&theirs, "k", "fp")).await.unwrap(), ImportKeyed::Inserted);

    assert_eq!(store.erase_imports(&org).await.unwrap(), ErasedImports { imports: 2, keys: 1 });
    assert!(store.get_import(&plain.import_id).await.unwrap().is_none());
    assert!(store.get_import(&keyed.import_id).await.unwrap().is_none());
    assert!(store.import_key(&org, "k", t).await.unwrap().is_none());
    assert_eq!(total(store, &org).await, 0);
    assert!(store.unfinished_imports().await.unwrap().iter().all(|i| i.org_id != org));
    assert!(
        store.get_import(&theirs.import_id).await.unwrap().is_some(),
        "an organisation whose id starts the same stays"
    );
    assert!(store.import_key(&longer, "k", t).await.unwrap().is_some());
    assert_eq!(store.erase_imports(&org).await.unwrap(), ErasedImports::default());
}

async fn one_import_per_id(store: &dyn ImportStore) {
    let org = unique_org("imp-insert");
    let j = import(&org, at(0));
    assert!(store.get_import(&j.import_id).await.unwrap().is_none());
    store.insert_import(&j).await.unwrap();
    assert_eq!(store.get_import(&j.import_id).await.unwrap(), Some(j.clone()), "every field comes back");

    let mut again = j.clone();
    again.requested_by = "someone else".into();
    assert!(matches!(store.insert_import(&again).await, Err(PortError::Conflict)));
    assert_eq!(store.get_import(&j.import_id).await.unwrap(), Some(j));
}

async fn keys_replay_expire_and_are_scoped(store: &dyn ImportStore) {
    let (org, elsewhere) = (unique_org("imp-key"), unique_org("imp-key-b"));
    let t = now();
    let first = import(&org, t);
    let odd = "key/1 with:odd#chars";
    let record = key(&first, odd, "fp-a");
    assert!(store.import_key(&org, odd, t).await.unwrap().is_none());
    assert_eq!(store.insert_import_keyed(&first, &record).await.unwrap(), ImportKeyed::Inserted);
    assert_eq!(store.get_import(&first.import_id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.import_key(&org, odd, t).await.unwrap(), Some(record.clone()));

    // a repeat, whatever it asks, is answered with the first record and stores nothing
    let second = import(&org, t);
    let taken = store.insert_import_keyed(&second, &key(&second, odd, "fp-b")).await.unwrap();
    assert_eq!(taken, ImportKeyed::KeyTaken(record.clone()));
    assert!(store.get_import(&second.import_id).await.unwrap().is_none());
    assert_eq!(total(store, &org).await, 1);

    // the same key of another organisation is another key
    let theirs = import(&elsewhere, t);
    assert_eq!(store.insert_import_keyed(&theirs, &key(&theirs, odd, "fp-a")).await.unwrap(), ImportKeyed::Inserted);
    assert_eq!(store.import_key(&elsewhere, odd, t).await.unwrap().unwrap().import_id, theirs.import_id);

    // live until its expiry, gone at it, and then free for a new import
    let expiry = record.expires_at;
    assert!(store.import_key(&org, odd, expiry - Duration::seconds(1)).await.unwrap().is_some());
    assert!(store.import_key(&org, odd, expiry).await.unwrap().is_none());
    let later = import(&org, expiry + Duration::seconds(1));
    let renewed = key(&later, odd, "fp-c");
    assert_eq!(store.insert_import_keyed(&later, &renewed).await.unwrap(), ImportKeyed::Inserted);
    assert_eq!(store.import_key(&org, odd, later.created_at).await.unwrap(), Some(renewed));
    assert_eq!(total(store, &org).await, 2);

    // an import whose id is taken stores no key either
    let mut clash = import(&org, t);
    clash.import_id = first.import_id.clone();
    let outcome = store.insert_import_keyed(&clash, &key(&clash, "fresh", "fp")).await;
    assert!(matches!(outcome, Err(PortError::Conflict)), "{outcome:?}");
    assert!(store.import_key(&org, "fresh", t).await.unwrap().is_none());
    assert_eq!(store.get_import(&first.import_id).await.unwrap(), Some(first));
}

async fn updates_are_conditional(store: Arc<dyn ImportStore>) {
    let org = unique_org("imp-update");
    let j = import(&org, at(0));
    store.insert_import(&j).await.unwrap();

    let mut checking = with_status(j.clone(), ImportStatus::Validating);
    checking.lease_until = Some(at(15));
    checking.version = 2;
    store.update_import(&checking, 1).await.unwrap();
    assert_eq!(store.get_import(&j.import_id).await.unwrap(), Some(checking.clone()));

    // a writer that read version 1 has lost, and changed nothing
    let mut stale = with_status(j.clone(), ImportStatus::Expired);
    stale.version = 2;
    assert!(matches!(store.update_import(&stale, 1).await, Err(PortError::Conflict)));
    assert!(matches!(store.update_import(&stale, 3).await, Err(PortError::Conflict)));
    assert_eq!(store.get_import(&j.import_id).await.unwrap(), Some(checking.clone()));

    // an import that is not there is not made by an update
    let ghost = import(&org, at(1));
    assert!(matches!(store.update_import(&ghost, 1).await, Err(PortError::Conflict)));
    assert!(store.get_import(&ghost.import_id).await.unwrap().is_none());

    // many writers from one version: exactly one wins
    let racers: Vec<_> = (0..10u64)
        .map(|i| {
            let store = store.clone();
            let mut next = checking.clone();
            next.rows_total = i;
            next.version = 3;
            tokio::spawn(async move { store.update_import(&next, 2).await.map(|()| i) })
        })
        .collect();
    let mut winners = Vec::new();
    for r in racers {
        match r.await.unwrap() {
            Ok(i) => winners.push(i),
            Err(PortError::Conflict) => {}
            Err(e) => panic!("unexpected error from a racing update: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one racing update may win");
    let stored = store.get_import(&j.import_id).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.rows_total), (3, winners[0]));
}

async fn listing(store: &dyn ImportStore) {
    let (a, b, c, d) = (unique_org("list-a"), unique_org("list-b"), unique_org("list-c"), unique_org("list-d"));
    use ImportStatus::*;
    // minute: a0 0, b0 1 (completed), d0 2, a1 3 (failed), b1 4, c0 5 (completed), a2 6
    let jobs = [
        import(&a, at(0)),
        with_status(import(&b, at(1)), Completed),
        import(&d, at(2)),
        with_status(import(&a, at(3)), Failed),
        import(&b, at(4)),
        with_status(import(&c, at(5)), Completed),
        import(&a, at(6)),
    ];
    for j in &jobs {
        store.insert_import(j).await.unwrap();
    }
    let pick = |idx: &[usize]| idx.iter().map(|i| jobs[*i].import_id.to_string()).collect::<Vec<_>>();
    let abc = only(&[&a, &b, &c]);

    let all = store.list_imports(&q(abc.clone(), None, 1, 50)).await.unwrap();
    assert_eq!(all.total, 6);
    assert_eq!(ids(&all.imports), pick(&[6, 5, 4, 3, 1, 0]), "newest first, across organisations");
    let page2 = store.list_imports(&q(abc.clone(), None, 2, 2)).await.unwrap();
    assert_eq!((page2.total, ids(&page2.imports)), (6, pick(&[4, 3])));
    let page3 = store.list_imports(&q(abc.clone(), None, 3, 2)).await.unwrap();
    assert_eq!(ids(&page3.imports), pick(&[1, 0]));
    let past = store.list_imports(&q(abc.clone(), None, 4, 2)).await.unwrap();
    assert_eq!((past.total, past.imports.len()), (6, 0));

    let completed = store.list_imports(&q(abc.clone(), Some(Completed), 1, 50)).await.unwrap();
    assert_eq!((completed.total, ids(&completed.imports)), (2, pick(&[5, 1])));
    let completed2 = store.list_imports(&q(abc.clone(), Some(Completed), 2, 1)).await.unwrap();
    assert_eq!((completed2.total, ids(&completed2.imports)), (2, pick(&[1])));
    let waiting = store.list_imports(&q(abc, Some(AwaitingUpload), 1, 50)).await.unwrap();
    assert_eq!((waiting.total, ids(&waiting.imports)), (3, pick(&[6, 4, 0])));

    // one organisation; a repeated one counts once; none sees nothing
    let just_a = store.list_imports(&q(only(&[&a]), None, 1, 50)).await.unwrap();
    assert_eq!((just_a.total, ids(&just_a.imports)), (3, pick(&[6, 3, 0])));
    let twice = store.list_imports(&q(only(&[&a, &a]), None, 1, 50)).await.unwrap();
    assert_eq!((twice.total, ids(&twice.imports)), (3, pick(&[6, 3, 0])));
    let none = store.list_imports(&q(OrgScope::Only(vec![]), None, 1, 50)).await.unwrap();
    assert_eq!((none.total, none.imports.len()), (0, 0));

    // everyone's: all seven in order, among whatever else the store holds
    let mine = pick(&[6, 5, 4, 3, 2, 1, 0]);
    let everyone = store.list_imports(&q(OrgScope::All, None, 1, 10_000)).await.unwrap();
    assert!(everyone.total >= 7 && everyone.total as usize == everyone.imports.len());
    let seen: Vec<String> = ids(&everyone.imports).into_iter().filter(|id| mine.contains(id)).collect();
    assert_eq!(seen, mine);
    let done = store.list_imports(&q(OrgScope::All, Some(Completed), 1, 10_000)).await.unwrap();
    assert!(done.imports.iter().all(|j| j.status == Completed));
    let seen: Vec<String> = ids(&done.imports).into_iter().filter(|id| mine.contains(id)).collect();
    assert_eq!(seen, pick(&[5, 1]));
    assert_eq!(done.total as usize, done.imports.len());

    // a status change moves the import between the filtered lists
    let mut finished = with_status(jobs[6].clone(), Completed);
    finished.version = 2;
    store.update_import(&finished, 1).await.unwrap();
    let completed = store.list_imports(&q(only(&[&a, &b, &c]), Some(Completed), 1, 50)).await.unwrap();
    assert_eq!((completed.total, ids(&completed.imports)), (3, pick(&[6, 5, 1])));
}

async fn unfinished_oldest_first(store: &dyn ImportStore) {
    use ImportStatus::*;
    let org = unique_org("imp-open");
    let jobs = [
        with_status(import(&org, at(30)), AwaitingUpload),
        with_status(import(&org, at(20)), Validating),
        with_status(import(&org, at(25)), Importing),
        with_status(import(&org, at(10)), Failed),
        with_status(import(&org, at(5)), Expired),
        with_status(import(&org, at(15)), Completed),
    ];
    for j in &jobs {
        store.insert_import(j).await.unwrap();
    }
    let mine = |list: Vec<ImportJob>| -> Vec<String> {
        ids(&list).into_iter().filter(|id| jobs.iter().any(|j| j.import_id.as_str() == id)).collect()
    };
    let pick = |idx: &[usize]| idx.iter().map(|i| jobs[*i].import_id.to_string()).collect::<Vec<_>>();
    let open = store.unfinished_imports().await.unwrap();
    assert!(open.iter().all(|j| !j.status.is_final()));
    assert_eq!(mine(open), pick(&[1, 2, 0]));

    // finished: no longer unfinished
    let mut done = with_status(jobs[1].clone(), Completed);
    done.version = 2;
    store.update_import(&done, 1).await.unwrap();
    assert_eq!(mine(store.unfinished_imports().await.unwrap()), pick(&[2, 0]));
}
