//! The port conformance suites (the same ones the embedded adapters
//! pass) against the AWS adapters on a moto server, plus what only the
//! AWS adapters promise: multipart uploads, S3-served downloads, the
//! workflow's executions, the TTL counter bookkeeping.

use crate::conformance;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sfn::types::ExecutionStatus;
use bufdir_testing::moto;
use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use serde_json::{Map, Value, json};
use shared::adapters::aws::expired::handle_stream_batch;
use shared::adapters::aws::provision;
use shared::adapters::aws::{
    DynamoActivities, DynamoImportStore, DynamoJobStore, DynamoOrganisations, DynamoWebhookStore, S3AttachmentUploads,
    S3Attachments, S3BufdirOutbox, S3FileStore, SqsEventPublisher, StepFunctionsStarter, execution_arn,
};
use shared::domain::{
    ActivityType, ExportFormat, ExportId, ExportJob, ExportStatus, ImportId, OrgScope, Period, WebhookDelivery,
    WebhookEndpoint,
};
use shared::ports::{
    ActivityQuery, ActivitySource, ActivityStore, AttemptState, BufdirSubmitter, Event, FileStore, JobQuery, JobStore,
    OrganisationStore, PortError, Submission, WebhookStore, WorkflowStarter,
};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_job_store_conforms() {
    let c = moto::clients().await;
    let table = moto::unique("exports");
    moto::create_exports_table(&c, &table).await;
    let store = DynamoJobStore::new(c.dynamodb.clone(), &table, chrono::Duration::days(90));
    conformance::job_store_suite(Arc::new(store)).await;
}

/// The activity suite, unchanged but for the size of its streaming check:
/// moto's Query re-sorts the whole table for every 1 MB page, so its cost
/// grows with the square of the size (10 000 items: 15 s to stream).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_activities_conform() {
    let c = moto::clients().await;
    let table = moto::unique("activities");
    moto::create_activities_table(&c, &table).await;
    let source = DynamoActivities::new(c.dynamodb.clone(), &table);
    let writer = source.writer();
    conformance::activity_source_suite(
        Arc::new(source),
        move |items| {
            let writer = writer.clone();
            async move {
                writer.put_all(items).await.unwrap();
            }
        },
        5_000,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_activity_store_conforms() {
    let c = moto::clients().await;
    let table = moto::unique("activities");
    moto::create_activities_table(&c, &table).await;
    conformance::activity_store_suite(&DynamoActivities::new(c.dynamodb.clone(), &table)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_import_store_conforms() {
    let c = moto::clients().await;
    let table = moto::unique("imports");
    provision::create_imports_table(&c, &table).await.unwrap();
    let store = DynamoImportStore::new(c.dynamodb.clone(), &table, chrono::Duration::days(90));
    conformance::import_store_suite(Arc::new(store)).await;
}

/// The suite, and what sharing the activities table must not change: an
/// organisation's record is no activity, and no replacing import removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_organisations_conform() {
    let c = moto::clients().await;
    let table = moto::unique("activities");
    moto::create_activities_table(&c, &table).await;
    let store = DynamoOrganisations::new(c.dynamodb.clone(), &table);
    conformance::organisation_store_suite(&store).await;

    let org = conformance::unique_org("beside");
    let record = conformance::organisation(&org);
    store.put_organisation(&record).await.unwrap();
    let activities = DynamoActivities::new(c.dynamodb.clone(), &table);
    let a = conformance::activity(&org, "a", conformance::day(2025, 5, 5), ActivityType::GroupSession);
    activities.put_activities(&org, vec![a]).await.unwrap();
    let every_year = ActivityQuery { to: conformance::day(2099, 12, 31), ..year(&org, 2000) };
    assert_eq!(activities.count(&every_year).await.unwrap(), 1);
    assert_eq!(activities.activity_page(&every_year, None, 10).await.unwrap().len(), 1);
    let whole = Period { from: every_year.from, to: every_year.to };
    let writer = activities.begin_import(&org, &ImportId::generate(Utc::now().date_naive()), Some(whole)).await;
    assert_eq!(writer.unwrap().finish().await.unwrap().removed, 1, "the activity, not the record");
    assert_eq!(activities.count(&every_year).await.unwrap(), 0);
    assert_eq!(store.get_organisation(&org).await.unwrap(), Some(record));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_webhooks_conform() {
    let c = moto::clients().await;
    let table = moto::unique("webhooks");
    provision::create_webhooks_table(&c, &table).await.unwrap();
    let store = DynamoWebhookStore::new(c.dynamodb.clone(), &table);
    conformance::webhook_store_suite(Arc::new(store.clone())).await;

    // An event handled again makes a delivery of the same id but a later
    // created_at, the delivery's sort key here: still stored once.
    let org = conformance::unique_org("webhooks-again");
    let now = Utc::now();
    let endpoint: WebhookEndpoint = serde_json::from_value(json!({
        "id": format!("whe-{}-again1", now.format("%Y%m%d")), "org_id": org, "url": "https://hooks.example.org/b",
        "event_types": ["export.completed"], "description": null, "status": "enabled", "disabled_reason": null,
        "disabled_at": null, "created_at": now, "created_by": "test", "updated_at": now, "secrets": [], "version": 1,
    }))
    .unwrap();
    store.insert_endpoint(&endpoint, 16).await.unwrap();
    let delivery: WebhookDelivery = serde_json::from_value(json!({
        "id": "whd_again", "endpoint_id": endpoint.id, "org_id": org, "event_id": "evt_again",
        "event_type": "export.completed", "subject": "exp-a", "order_key": "20261130T100000.000000000#evt_again",
        "payload": "{}", "status": "pending", "attempt_count": 0, "attempts": [], "next_attempt_at": now,
        "created_at": now, "delivered_at": null, "failed_reason": null, "version": 1,
    }))
    .unwrap();
    assert!(store.insert_delivery(&delivery).await.unwrap());
    let again = WebhookDelivery { created_at: now + chrono::Duration::seconds(3), ..delivery.clone() };
    assert!(!store.insert_delivery(&again).await.unwrap(), "the same delivery is stored once");
    assert_eq!(store.list_deliveries(&endpoint.id, 10).await.unwrap(), [delivery]);
    assert!(store.delete_endpoint(&endpoint).await.unwrap());
    let left = c.dynamodb.scan().table_name(&table).send().await.unwrap().items.unwrap_or_default();
    assert!(
        left.iter().all(|i| !i["pk"].as_s().unwrap().contains(&endpoint.id)),
        "nothing of the endpoint is left: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_file_store_conforms() {
    let c = moto::clients().await;
    let bucket = moto::unique("files");
    moto::create_bucket(&c, &bucket).await;
    let store = S3FileStore::new(c.s3.clone(), &bucket, "exports/");
    conformance::file_store_suite(Arc::new(store), moto::presigned_get).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_event_publisher_conforms() {
    let c = moto::clients().await;
    let queue = moto::create_queue(&c, &moto::unique("events")).await;
    let publisher = SqsEventPublisher::new(c.sqs.clone(), &queue);
    let (reader, queue_url) = (c.clone(), queue.clone());
    conformance::event_publisher_suite(Arc::new(publisher), move || {
        let (reader, queue_url) = (reader.clone(), queue_url.clone());
        async move {
            let mut events: Vec<Event> = moto::drain_queue(&reader, &queue_url)
                .await
                .iter()
                .map(|body| serde_json::from_str(body).expect("every message is an event"))
                .collect();
            // SQS standard queues do not keep order; the suite's first event went first.
            events.sort_by_key(|e| (e.occurred_at(), e.subject().to_string()));
            events
        }
    })
    .await;
}

fn year(org: &str, y: i32) -> ActivityQuery {
    ActivityQuery {
        org_id: org.to_string(),
        from: NaiveDate::from_ymd_opt(y, 1, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(y, 12, 31).unwrap(),
        types: vec![],
    }
}

/// A fresh activities table on moto holding `n` generated activities of a
/// new organisation over 2024 and 2025: the clients, the table, the org.
async fn seeded_activities(org: &str, n: u64, seed: u64) -> (shared::adapters::aws::Clients, String, String) {
    let c = moto::clients().await;
    let table = moto::unique("activities");
    moto::create_activities_table(&c, &table).await;
    let org = conformance::unique_org(org);
    let written = DynamoActivities::new(c.dynamodb.clone(), &table)
        .writer()
        .put_all(shared::demo::generate(&org, n, 2024..=2025, seed))
        .await
        .unwrap();
    assert_eq!(written, n);
    (c, table, org)
}

/// What the conformance suite's large part checks, at a size moto can
/// page through: thousands of activities over many pages, in order, with
/// counts across pages, types filtered server-side, and a consumer that
/// stops early.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_activities_stream_page_by_page() {
    const N: u64 = 3_000;
    let (c, table, org) = seeded_activities("paged", N, 9).await;
    let source = DynamoActivities::new(c.dynamodb.clone(), &table).with_page_size(250);
    // another organisation's data in the same table is never read
    source.writer().put_all(shared::demo::generate("org-elsewhere", 100, 2024..=2025, 1)).await.unwrap();

    let all = ActivityQuery { to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(), ..year(&org, 2024) };
    assert_eq!(source.count(&all).await.unwrap(), N);
    let mut stream = source.stream(all.clone());
    let (mut seen, mut last) = (0u64, None);
    while let Some(a) = stream.next().await {
        let a = a.unwrap();
        assert_eq!(a.org_id, org);
        let key = (a.date, a.activity_id.clone());
        assert!(last.as_ref().is_none_or(|l| *l < key), "out of order at {key:?}");
        last = Some(key);
        seen += 1;
    }
    assert_eq!(seen, N, "every page was read (12 pages of 250)");

    let in_2024 = source.count(&year(&org, 2024)).await.unwrap();
    let streamed_2024 = source.stream(year(&org, 2024)).count().await as u64;
    assert_eq!(in_2024, streamed_2024);
    assert!(in_2024 > N / 3 && in_2024 < 2 * N / 3, "{in_2024}");

    let types = ActivityQuery { types: vec![ActivityType::GroupSession, ActivityType::OpenMeeting], ..all.clone() };
    let typed: Vec<_> = source.stream(types.clone()).map(|a| a.unwrap()).collect().await;
    assert_eq!(typed.len() as u64, source.count(&types).await.unwrap());
    assert!(!typed.is_empty() && typed.iter().all(|a| types.types.contains(&a.activity_type)));

    let first_five: Vec<_> = source.stream(all).take(5).collect().await;
    assert_eq!(first_five.len(), 5);
}

/// An export's read on DynamoDB: no count first (a count costs the same
/// read capacity), every item of the period read once (items DynamoDB read
/// = items in the period), a month per query with several months in flight
/// but never more than the bound, and the rows still in report order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_exports_read_their_period_once_a_month_at_a_time_side_by_side() {
    use shared::adapters::aws::{MONTHS_IN_FLIGHT, months};
    const N: u64 = 1_500;
    let (c, table, org) = seeded_activities("months", N, 5).await;
    let period = ActivityQuery {
        org_id: org.clone(),
        from: NaiveDate::from_ymd_opt(2024, 3, 10).unwrap(),
        to: NaiveDate::from_ymd_opt(2025, 8, 20).unwrap(),
        types: vec![],
    };
    let expected: Vec<(NaiveDate, String)> = {
        let mut keys: Vec<_> = shared::demo::generate(&org, N, 2024..=2025, 5)
            .filter(|a| period.matches(a))
            .map(|a| (a.date, a.activity_id))
            .collect();
        keys.sort();
        keys
    };
    assert!(expected.len() > 700 && (expected.len() as u64) < N, "{}", expected.len());

    let source = DynamoActivities::new(c.dynamodb.clone(), &table).with_page_size(40);
    assert_eq!(source.known_count(&period).await.unwrap(), None);
    assert_eq!(source.reads().queries, 0, "nothing is read to count");
    let read: Vec<(NaiveDate, String)> =
        source.stream(period.clone()).map(|a| a.map(|a| (a.date, a.activity_id)).unwrap()).collect().await;
    assert_eq!(read, expected, "every activity of the period, once, by date then id");
    let reads = source.reads();
    assert_eq!(reads.items, expected.len() as u64, "one pass: items read = items in the period");
    assert!(reads.queries >= months(period.from, period.to).len() as u64, "{reads:?}");
    assert!(
        (2..=MONTHS_IN_FLIGHT as u64).contains(&reads.most_in_flight),
        "months read side by side, within the bound: {reads:?}"
    );

    // Wider than an export can ask for (the attachment sweep reads every
    // year there can be): one stream, not 1 200 month queries.
    let before = source.reads().queries;
    let century = ActivityQuery {
        from: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2099, 12, 31).unwrap(),
        ..period.clone()
    };
    assert_eq!(source.stream(century).count().await as u64, N);
    assert!(source.reads().queries - before <= N / 40 + 1, "{}", source.reads().queries - before);

    // An export that stops early (cancelled) stops its months' reads.
    let before = source.reads().queries;
    let first: Vec<_> = source.stream(period.clone()).take(3).collect().await;
    assert_eq!(first.len(), 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_stop = source.reads().queries;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(source.reads().queries, after_stop, "no reads go on after the export stopped");
    assert!(after_stop - before <= 2 * MONTHS_IN_FLIGHT as u64, "{}", after_stop - before);
}

/// Status changes move the counter cells in the same transaction as the
/// job; a status-changing race (N concurrent cancels) has one winner and
/// the totals stay exact; TTL bookkeeping is set and cleared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_store_counters_follow_status_changes_and_races() {
    let c = moto::clients().await;
    let table = moto::unique("exports");
    moto::create_exports_table(&c, &table).await;
    let store = Arc::new(DynamoJobStore::new(c.dynamodb.clone(), &table, chrono::Duration::days(90)));
    let org = conformance::unique_org("counters");
    let total = |status: Option<ExportStatus>, format: Option<ExportFormat>| {
        let (store, org) = (store.clone(), org.clone());
        async move {
            store
                .list(&JobQuery { scope: OrgScope::Only(vec![org]), status, format, page: 1, limit: 1 })
                .await
                .unwrap()
                .total
        }
    };
    let mut job = conformance::job(&org, Utc::now());
    store.insert(&job).await.unwrap();
    let raw = |id: ExportId| {
        let (c, table) = (c.clone(), table.clone());
        async move {
            c.dynamodb
                .get_item()
                .table_name(table)
                .key("export_id", AttributeValue::S(id.to_string()))
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
        }
    };
    assert!(!raw(job.export_id.clone()).await.contains_key("expires_at"), "an active job has no TTL");
    assert!(raw(job.export_id.clone()).await.contains_key("active_shard"));

    job.status = ExportStatus::Running;
    job.version = 2;
    store.update(&job, 1).await.unwrap();
    assert_eq!((total(Some(ExportStatus::Queued), None).await, total(Some(ExportStatus::Running), None).await), (0, 1));

    // twenty concurrent cancels from version 2: one wins, the counters move once
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            let mut cancelled = job.clone();
            cancelled.status = ExportStatus::Cancelled;
            cancelled.cancel_reason = Some(format!("canceller {i}"));
            cancelled.cancelled_at = Some(Utc::now());
            cancelled.version = 3;
            tokio::spawn(async move { store.update(&cancelled, 2).await })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => wins += 1,
            Err(PortError::Conflict) => {}
            Err(e) => panic!("unexpected error from a racing cancel: {e}"),
        }
    }
    assert_eq!(wins, 1, "exactly one cancel wins");
    assert_eq!(total(Some(ExportStatus::Running), None).await, 0);
    assert_eq!(total(Some(ExportStatus::Cancelled), None).await, 1);
    assert_eq!(total(Some(ExportStatus::Cancelled), Some(ExportFormat::Excel)).await, 1);
    assert_eq!(total(Some(ExportStatus::Cancelled), Some(ExportFormat::Csv)).await, 0);
    assert_eq!(total(None, None).await, 1);
    let item = raw(job.export_id.clone()).await;
    let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    let in_90_days = (Utc::now() + chrono::Duration::days(90)).timestamp();
    assert!((expires - in_90_days).abs() < 120, "TTL is the retention after the job finished");
    assert!(!item.contains_key("active_shard"), "a finished job leaves the sparse index");

    // retried: active again, TTL gone
    let mut retried = store.get(&job.export_id).await.unwrap().unwrap();
    retried.status = ExportStatus::Queued;
    retried.version += 1;
    store.update(&retried, retried.version - 1).await.unwrap();
    assert!(!raw(job.export_id.clone()).await.contains_key("expires_at"));
    assert_eq!(total(Some(ExportStatus::Queued), None).await, 1);
    assert_eq!(total(Some(ExportStatus::Cancelled), None).await, 0);

    // deleted: off the counters
    store.delete(&job.export_id).await.unwrap();
    assert_eq!(total(None, None).await, 0);
}

/// Stream image of an item, as DynamoDB Streams delivers it.
fn image(item: &std::collections::HashMap<String, AttributeValue>) -> Value {
    fn typed(v: &AttributeValue) -> Value {
        match v {
            AttributeValue::S(s) => json!({ "S": s }),
            AttributeValue::N(n) => json!({ "N": n }),
            AttributeValue::Bool(b) => json!({ "BOOL": b }),
            AttributeValue::Null(_) => json!({ "NULL": true }),
            AttributeValue::L(l) => json!({ "L": l.iter().map(typed).collect::<Vec<_>>() }),
            AttributeValue::M(m) => json!({ "M": m.iter().map(|(k, v)| (k.clone(), typed(v))).collect::<Map<_, _>>() }),
            other => panic!("unexpected {other:?}"),
        }
    }
    Value::Object(item.iter().map(|(k, v)| (k.clone(), typed(v))).collect())
}

/// A job that DynamoDB's TTL removes is taken off the counters by the
/// jobs-expired function, exactly once however often the record arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_removals_leave_the_totals() {
    let c = moto::clients().await;
    let table = moto::unique("exports");
    moto::create_exports_table(&c, &table).await;
    let store = DynamoJobStore::new(c.dynamodb.clone(), &table, chrono::Duration::days(90));
    let org = conformance::unique_org("ttl");
    let mut done = conformance::job(&org, Utc::now());
    done.status = ExportStatus::Completed;
    store.insert(&done).await.unwrap();
    let kept = conformance::job(&org, Utc::now());
    store.insert(&kept).await.unwrap();
    let q = JobQuery { scope: OrgScope::Only(vec![org.clone()]), status: None, format: None, page: 1, limit: 10 };
    assert_eq!(store.list(&q).await.unwrap().total, 2);

    // what TTL does: the item goes, the stream carries its old image
    let old = c
        .dynamodb
        .delete_item()
        .table_name(&table)
        .key("export_id", AttributeValue::S(done.export_id.to_string()))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let record = |name: &str, principal: &str| {
        json!({
            "eventName": name,
            "userIdentity": {"type": "Service", "principalId": principal},
            "dynamodb": {"OldImage": image(&old)}
        })
    };
    let batch = json!({ "Records": [record("REMOVE", "dynamodb.amazonaws.com")] });
    assert_eq!(handle_stream_batch(&store, &batch).await.unwrap(), 1);
    let page = store.list(&q).await.unwrap();
    assert_eq!((page.total, page.jobs.len()), (1, 1));
    // redelivered: counted once
    assert_eq!(handle_stream_batch(&store, &batch).await.unwrap(), 0);
    // a user's delete (already counted by the API) or another change is not a TTL removal
    let others = json!({ "Records": [record("REMOVE", "someone"), record("MODIFY", "dynamodb.amazonaws.com")] });
    assert_eq!(handle_stream_batch(&store, &others).await.unwrap(), 0);
    assert_eq!(store.list(&q).await.unwrap().total, 1);
}

/// Large reports go up in parts; the presigned link names the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_go_up_in_parts() {
    let c = moto::clients().await;
    let bucket = moto::unique("files");
    moto::create_bucket(&c, &bucket).await;
    let store = S3FileStore::new(c.s3.clone(), &bucket, "exports/");
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..(12 * 1024 * 1024 + 123)).map(|i| (i % 251) as u8).collect();
    let local = conformance::write_file(dir.path(), "big.xlsx", &body);
    let key = "org-big/exp-20260326-bigbig/a1/Bufdir-rapport 2025.xlsx".replace(' ', "-");
    assert_eq!(store.put(&key, &local, "application/octet-stream").await.unwrap(), body.len() as u64);
    let head = c.s3.head_object().bucket(&bucket).key(format!("exports/{key}")).send().await.unwrap();
    assert!(head.e_tag().unwrap_or("").contains("-2"), "two parts of 8 MiB and the rest: {:?}", head.e_tag());
    assert_eq!(head.content_type(), Some("application/octet-stream"));

    let back = dir.path().join("back");
    store.fetch(&key, &back).await.unwrap();
    assert!(std::fs::read(&back).unwrap() == body);

    let url =
        store.signed_url(&key, "Bufdir-rapport 2025 – Likepersonskurs.xlsx", Duration::from_secs(120)).await.unwrap();
    moto::verify_presigned(&url).unwrap();
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 200);
    let disposition = r.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"Bufdir-rapport 2025 _ Likepersonskurs.xlsx\""),
        "{disposition}"
    );
    assert!(
        disposition.contains("filename*=UTF-8''Bufdir-rapport%202025%20%E2%80%93%20Likepersonskurs.xlsx"),
        "{disposition}"
    );
    assert!(r.bytes().await.unwrap().to_vec() == body);
    let expires: u64 = url.split("X-Amz-Expires=").nth(1).unwrap().split('&').next().unwrap().parse().unwrap();
    assert_eq!(expires, 120, "the link lives minutes, as asked");
}

/// Starting an attempt twice is harmless; stop aborts that attempt's execution only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_functions_start_and_stop_executions() {
    let c = moto::clients().await;
    let sm = moto::create_state_machine(&c, &moto::unique("starter")).await;
    let starter = StepFunctionsStarter::new(c.sfn.clone(), &sm).unwrap();
    let id = ExportId::generate(Utc::now().date_naive());
    let mut job = ExportJob::queued(
        id.clone(),
        "org-starter".into(),
        shared::domain::ValidRequest {
            org_id: None,
            format: ExportFormat::Csv,
            period_from: "2025-01-01".parse().unwrap(),
            period_to: "2025-06-30".parse().unwrap(),
            activity_types: vec![],
            include_attachments: false,
            submit_to_bufdir_api: true,
            report_profile: "standard".into(),
        },
        "tester".into(),
        Utc::now(),
        60,
    );
    starter.start(&job).await.unwrap();
    starter.start(&job).await.unwrap();
    job.retry_count = 1;
    starter.start(&job).await.unwrap();
    let exec = |attempt: u32| execution_arn(&sm, &format!("{id}-a{attempt}")).unwrap();
    let d = c.sfn.describe_execution().execution_arn(exec(1)).send().await.unwrap();
    assert_eq!(d.status, ExecutionStatus::Running);
    let input: Value = serde_json::from_str(d.input().unwrap()).unwrap();
    let period = json!({"from": "2025-01-01", "to": "2025-06-30"});
    assert_eq!(
        input,
        json!({"export_id": id.to_string(), "attempt": 1, "org_id": "org-starter", "period": period,
               "format": "csv", "report_profile": "standard", "submit_to_bufdir_api": true}),
        "what an operator reads in the console"
    );
    let listed = c.sfn.list_executions().state_machine_arn(&sm).send().await.unwrap().executions;
    assert_eq!(listed.len(), 2, "one execution per attempt");

    // What the watchdog asks of a queued export's attempt.
    assert_eq!(starter.attempt_state(&id, 1).await.unwrap(), AttemptState::Started);
    assert_eq!(starter.attempt_state(&id, 3).await.unwrap(), AttemptState::NotStarted);

    starter.stop(&id, 1).await.unwrap();
    assert_eq!(
        c.sfn.describe_execution().execution_arn(exec(1)).send().await.unwrap().status,
        ExecutionStatus::Aborted
    );
    assert_eq!(
        c.sfn.describe_execution().execution_arn(exec(2)).send().await.unwrap().status,
        ExecutionStatus::Running
    );
    assert_eq!(starter.attempt_state(&id, 1).await.unwrap(), AttemptState::Ended);
    assert_eq!(starter.attempt_state(&id, 2).await.unwrap(), AttemptState::Started);
    // stopping an attempt that never started is not an error
    starter.stop(&id, 7).await.unwrap();
}

/// The Bufdir outbox files each attempt once and refuses a different file under a used key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bufdir_outbox_files_each_attempt_once() {
    use sha2::Digest;
    let c = moto::clients().await;
    let bucket = moto::unique("files");
    moto::create_bucket(&c, &bucket).await;
    let outbox = S3BufdirOutbox::new(c.s3.clone(), &bucket, "bufdir-outbox/");
    let dir = tempfile::tempdir().unwrap();
    let file = conformance::write_file(dir.path(), "r.xlsx", b"report one");
    let submission = Submission {
        export_id: "exp-20260326-xyz789".into(),
        attempt: 1,
        org_id: "org-demo".into(),
        organisation_name: Some("Foreningen for pårørende".into()),
        organisation_number: Some("974760673".into()),
        period_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        period_to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        report_profile: "standard".into(),
        filename: "bufdir-rapport-2025.xlsx".into(),
        content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".into(),
        sha256: hex::encode(sha2::Sha256::digest(b"report one")),
        idempotency_key: "exp-20260326-xyz789-a1".into(),
    };
    let first = outbox.submit(&submission, &file).await.unwrap();
    assert_eq!(outbox.submit(&submission, &file).await.unwrap(), first);
    let keys: Vec<String> =
        c.s3.list_objects_v2()
            .bucket(&bucket)
            .prefix("bufdir-outbox/")
            .send()
            .await
            .unwrap()
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
    assert_eq!(
        keys,
        [
            "bufdir-outbox/exp-20260326-xyz789-a1/bufdir-rapport-2025.xlsx",
            "bufdir-outbox/exp-20260326-xyz789-a1/submission.json"
        ]
    );
    let other = conformance::write_file(dir.path(), "o.xlsx", b"another report");
    let changed = Submission { sha256: hex::encode(sha2::Sha256::digest(b"another report")), ..submission.clone() };
    assert!(matches!(outbox.submit(&changed, &other).await, Err(PortError::Permanent(_))));
    let lying = Submission { idempotency_key: "exp-20260326-xyz789-a2".into(), ..submission.clone() };
    assert!(
        matches!(outbox.submit(&lying, &other).await, Err(PortError::Permanent(_))),
        "the checksum must match the file"
    );
    let escaping = Submission { idempotency_key: "../x".into(), ..submission };
    assert!(outbox.submit(&escaping, &file).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_attachment_uploads_conform() {
    let c = moto::clients().await;
    let (bucket, table) = (moto::unique("attachments"), moto::unique("activities"));
    moto::create_bucket(&c, &bucket).await;
    moto::create_activities_table(&c, &table).await;
    let attachments = S3Attachments::new(c.s3.clone(), &bucket, "attachments/");
    let waiting = S3FileStore::new(c.s3.clone(), &bucket, "attachment-uploads/");
    let uploads = S3AttachmentUploads::new(waiting, c.s3.clone(), "attachment-uploads/", &attachments);
    let activities = DynamoActivities::new(c.dynamodb.clone(), &table);
    conformance::attachment_uploads_suite(&uploads, &activities, |key| {
        let (s3, bucket) = (c.s3.clone(), bucket.clone());
        async move {
            let body = aws_sdk_s3::primitives::ByteStream::from_static(b"%PDF-1.4 liste");
            s3.put_object().bucket(bucket).key(format!("attachment-uploads/{key}")).body(body).send().await.unwrap();
        }
    })
    .await;
}
