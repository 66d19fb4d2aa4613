//! Running an import more than once, as a redelivered queue message or
//! the sweep does: a finished import is left alone, and so is one a live
//! run holds; one whose run died is taken over and ends as if it had run
//! once. An import whose file never comes expires.

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use shared::demo;
use shared::domain::{Activity, Caller, ImportFormat, ImportId, ImportMove, ImportStatus, MAX_IMPORT_RUNS};
use shared::import::run::{Ran, run_import};
use shared::service::ImportSettings;

use super::{Backend, activity, day, jsonl, sorted};
use crate::conformance::unique_org;

pub async fn a_redelivered_import_changes_nothing(b: &Backend) {
    let org = unique_org("again");
    let activities: Vec<Activity> = demo::generate(&org, 300, 2025..=2025, 5).collect();
    let job = b.import(&org, ImportFormat::Jsonl, Some((2025, 2025)), &jsonl(&activities)).await;
    assert_eq!(job.status, ImportStatus::Completed, "{:?}", job.errors);

    // the same message again, also with a file uploaded to its key once more
    assert_eq!(run_import(&b.ctx, &job.import_id).await.unwrap(), Ran::Nothing);
    b.upload(&job, &jsonl(&activities[..10])).await;
    assert_eq!(run_import(&b.ctx, &job.import_id).await.unwrap(), Ran::Nothing);
    assert_eq!(b.get(&job.import_id).await, job, "not even its version moved");
    assert_eq!(b.ctx.uploads.size_of(&job.upload_key).await.unwrap(), None, "the unread file is gone");
    assert_eq!(b.stored(&org).await, sorted(activities.clone()));

    // a failed import likewise
    let failed = b.import(&org, ImportFormat::Jsonl, None, b"{not json\n").await;
    assert_eq!(failed.status, ImportStatus::Failed);
    b.upload(&failed, &jsonl(&[activity(&org, "x", day(2025, 1, 1))])).await;
    assert_eq!(run_import(&b.ctx, &failed.import_id).await.unwrap(), Ran::Nothing);
    assert_eq!(b.get(&failed.import_id).await, failed);

    // an import nobody made, and one whose file has not come
    let unknown = ImportId::generate(Utc::now().date_naive());
    assert_eq!(run_import(&b.ctx, &unknown).await.unwrap(), Ran::Nothing);
    let waiting = b.create(&b.service, &org, None).await;
    assert_eq!(run_import(&b.ctx, &waiting.import_id).await.unwrap(), Ran::Nothing);
    assert_eq!(b.get(&waiting.import_id).await, waiting);
    assert_eq!(b.stored(&org).await, sorted(activities));
}

pub async fn a_claimed_import_is_left_alone_and_a_dead_run_taken_over(b: &Backend) {
    let org = unique_org("lease");
    let old: Vec<Activity> = (1..=5).map(|i| activity(&org, &format!("old{i}"), day(2025, 1, i))).collect();
    assert_eq!(b.import(&org, ImportFormat::Jsonl, None, &jsonl(&old)).await.status, ImportStatus::Completed);
    let file: Vec<Activity> = demo::generate(&org, 200, 2025..=2025, 11).collect();
    let made = b.create(&b.service, &org, Some(2025)).await;
    b.upload(&made, &jsonl(&file)).await;

    // a run holds the import for another hour: a second delivery and the
    // sweep leave it alone
    let mut held = made.clone();
    held.apply(ImportMove::Check, Utc::now()).unwrap();
    held.lease_until = Some(Utc::now() + Duration::hours(1));
    held.version += 1;
    b.ctx.imports.update_import(&held, made.version).await.unwrap();
    assert_eq!(run_import(&b.ctx, &made.import_id).await.unwrap(), Ran::Nothing);
    assert_eq!(b.service.sweep(Utc::now()).await.unwrap(), (0, 0));
    b.settle().await;
    assert_eq!(b.get(&made.import_id).await, held);

    // that run died half way through writing: its lease lapsed, and what
    // it wrote is there where the store keeps a dropped writer's rows
    let mut dead = held.clone();
    dead.apply(ImportMove::Write, Utc::now()).unwrap();
    dead.rows_total = 200;
    dead.lease_until = Some(Utc::now() - Duration::seconds(1));
    dead.version += 1;
    b.ctx.imports.update_import(&dead, held.version).await.unwrap();
    let mut writer = b.ctx.activities.begin_import(&org, &made.import_id, made.replace_period).await.unwrap();
    writer.write(file[..100].to_vec()).await.unwrap();
    drop(writer);

    // the sweep starts it again, and it ends as if it had run once
    assert_eq!(b.service.sweep(Utc::now()).await.unwrap(), (0, 1));
    b.settle().await;
    let done = b.get(&made.import_id).await;
    assert_eq!(done.status, ImportStatus::Completed, "{:?} {:?}", done.error_message, done.errors);
    assert_eq!((done.rows_total, done.rows_written, done.rows_removed), (200, 200, 5));
    assert_eq!(done.lease_until, None);
    assert_eq!(b.stored(&org).await, sorted(file.clone()));

    // one that has been started as often as an import may be is failed, not run
    let stuck = b.create(&b.service, &org, None).await;
    b.upload(&stuck, &jsonl(&[activity(&org, "stuck", day(2025, 9, 9))])).await;
    let mut spent = stuck.clone();
    spent.apply(ImportMove::Check, Utc::now()).unwrap();
    spent.runs = MAX_IMPORT_RUNS;
    spent.version += 1;
    b.ctx.imports.update_import(&spent, stuck.version).await.unwrap();
    let Ran::Finished(failed) = run_import(&b.ctx, &stuck.import_id).await.unwrap() else { panic!("not run") };
    assert_eq!((failed.status, failed.error_code.as_deref()), (ImportStatus::Failed, Some("import_stalled")));
    assert_eq!(b.stored(&org).await, sorted(file));
}

pub async fn an_upload_that_never_arrives_expires(b: &Backend) {
    let org = unique_org("expire");
    let settings = ImportSettings { upload_ttl: StdDuration::from_millis(1), ..b.service.settings().clone() };
    let hasty = b.service.reconfigured(settings);
    let short = b.create(&hasty, &org, None).await;
    assert!(short.upload_expires_at <= short.created_at + Duration::milliseconds(1));
    let waiting = b.create(&b.service, &org, None).await;
    // a file came, but nobody heard (a lost notification)
    let lost = b.create(&b.service, &org, None).await;
    b.upload(&lost, &jsonl(&[activity(&org, "a1", day(2025, 5, 5))])).await;
    tokio::time::sleep(StdDuration::from_millis(20)).await;

    assert_eq!(b.service.sweep(Utc::now()).await.unwrap(), (1, 1), "(expired, started again)");
    b.settle().await;
    let expired = b.get(&short.import_id).await;
    assert_eq!((expired.status, expired.error_code.as_deref()), (ImportStatus::Expired, Some("upload_expired")));
    assert!(expired.finished_at.is_some() && expired.uploaded_at.is_none());
    assert_eq!(expired.version, short.version + 1);
    let view = b.service.get(&Caller::operator(), &short.import_id).await.unwrap();
    assert!(view.upload.is_none(), "no link to upload to any more");
    assert_eq!(b.get(&waiting.import_id).await, waiting, "its hour is not over");
    assert_eq!(b.get(&lost.import_id).await.status, ImportStatus::Completed);

    // a file that comes after its import expired is never imported
    b.upload(&short, &jsonl(&[activity(&org, "late", day(2025, 6, 6))])).await;
    assert_eq!(run_import(&b.ctx, &short.import_id).await.unwrap(), Ran::Nothing);
    assert_eq!(b.get(&short.import_id).await, expired);
    assert_eq!(b.ctx.uploads.size_of(&short.upload_key).await.unwrap(), None, "and not kept");

    // one looked at after its deadline is expired then, before any sweep
    let polled = b.create(&hasty, &org, None).await;
    tokio::time::sleep(StdDuration::from_millis(20)).await;
    let view = b.service.get(&Caller::operator(), &polled.import_id).await.unwrap();
    assert_eq!((view.job.status, view.job.error_code.as_deref()), (ImportStatus::Expired, Some("upload_expired")));
    assert!(view.upload.is_none());
    assert_eq!(b.get(&polled.import_id).await, view.job, "and stays so");
    assert_eq!(b.service.sweep(Utc::now()).await.unwrap(), (0, 0), "nothing left for the sweep");

    // once the hour is over the other one expires; after that there is nothing to do
    assert_eq!(b.service.sweep(waiting.upload_expires_at - Duration::seconds(1)).await.unwrap(), (0, 0));
    assert_eq!(b.service.sweep(waiting.upload_expires_at).await.unwrap(), (1, 0));
    assert_eq!(b.get(&waiting.import_id).await.status, ImportStatus::Expired);
    assert_eq!(b.service.sweep(waiting.upload_expires_at + Duration::hours(2)).await.unwrap(), (0, 0));
    assert_eq!(b.stored(&org).await.iter().map(|a| a.activity_id.as_str()).collect::<Vec<_>>(), ["a1"]);
}
