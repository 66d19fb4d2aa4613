//! Where the suites look for what the server stored: the data directory,
//! or, with `BUFDIR_E2E_BACKEND=aws`, S3 and DynamoDB on moto.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use bufdir_testing::moto;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Aws,
}

pub fn backend() -> Backend {
    match std::env::var("BUFDIR_E2E_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("embedded") => Backend::Embedded,
        Ok("aws") => Backend::Aws,
        Ok(other) => panic!("BUFDIR_E2E_BACKEND is embedded or aws, not {other:?}"),
    }
}

/// The AWS resources of one test, named after its data directory so the
/// command-line calls and the server of a test all find the same ones.
struct Stack {
    exports_table: String,
    activities_table: String,
    imports_table: String,
    webhooks_table: String,
    audit_table: String,
    bucket: String,
    queue: String,
    imports_queue: String,
}

const FILES_PREFIX: &str = "exports/";
const OUTBOX_PREFIX: &str = "bufdir-outbox/";

fn stack(data: &Path) -> Stack {
    let mut h = DefaultHasher::new();
    data.hash(&mut h);
    let tag = format!("{:016x}", h.finish());
    Stack {
        exports_table: format!("e2e-exports-{tag}"),
        activities_table: format!("e2e-activities-{tag}"),
        imports_table: format!("e2e-imports-{tag}"),
        webhooks_table: format!("e2e-webhooks-{tag}"),
        audit_table: format!("e2e-audit-{tag}"),
        bucket: format!("e2e-files-{tag}"),
        queue: format!("e2e-events-{tag}"),
        imports_queue: format!("e2e-imports-{tag}"),
    }
}

/// Environment for every process of a test: selects the backend and, for
/// AWS, names the stack and points the SDK at moto.
pub fn env(data: &Path) -> Vec<(String, String)> {
    if backend() == Backend::Embedded {
        return vec![];
    }
    let endpoint = moto::endpoint();
    let s = stack(data);
    [
        ("BUFDIR_BACKEND", "aws".to_string()),
        ("BUFDIR_AWS_PROVISION", "true".into()),
        ("BUFDIR_RUNNER", "local".into()),
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_REGION", moto::REGION.into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("EXPORTS_TABLE", s.exports_table),
        ("ACTIVITIES_TABLE", s.activities_table),
        ("FILES_BUCKET", s.bucket),
        ("FILES_PREFIX", FILES_PREFIX.into()),
        ("BUFDIR_OUTBOX_PREFIX", OUTBOX_PREFIX.into()),
        // The submit tests expect the outbox's `outbox-` references; without
        // this the server would refuse submissions (no receiver configured).
        ("BUFDIR_OUTBOX", "enabled".into()),
        ("EVENTS_QUEUE_URL", format!("{endpoint}/123456789012/{}", s.queue)),
        ("IMPORTS_TABLE", s.imports_table),
        ("WEBHOOKS_TABLE", s.webhooks_table),
        ("AUDIT_TABLE", s.audit_table),
        ("IMPORTS_QUEUE_URL", format!("{endpoint}/123456789012/{}", s.imports_queue)),
        // Short pages keep a long export running (and cancellable between
        // pages) for the whole of a test's calls, as 150 000 rows do on
        // the embedded store.
        ("ACTIVITIES_PAGE_SIZE", ACTIVITIES_PAGE_SIZE.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

async fn clients() -> shared::adapters::aws::Clients {
    moto::clients_for(moto::endpoint()).await
}

async fn s3_keys(bucket: &str, prefix: &str) -> Vec<String> {
    let c = clients().await;
    let out = c.s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.expect("list objects");
    out.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect()
}

fn files_under(dir: PathBuf) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() { stack.push(p) } else { out.push(p) }
            }
        }
    }
    out
}

/// Every stored file of an export (paths, or S3 keys as paths).
pub async fn files_of(data: &Path, org: &str, id: &str) -> Vec<PathBuf> {
    match backend() {
        Backend::Embedded => files_under(data.join("files").join(org).join(id)),
        Backend::Aws => s3_keys(&stack(data).bucket, &format!("{FILES_PREFIX}{org}/{id}/"))
            .await
            .into_iter()
            .map(PathBuf::from)
            .collect(),
    }
}

/// File names the Bufdir receiver holds under an idempotency key, and its record.
pub async fn received_submission(data: &Path, key: &str) -> (Vec<String>, Value) {
    match backend() {
        Backend::Embedded => {
            let folder = data.join("bufdir-outbox").join(key);
            let names = files_under(folder.clone())
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect();
            (names, serde_json::from_slice(&std::fs::read(folder.join("submission.json")).unwrap()).unwrap())
        }
        Backend::Aws => {
            let bucket = stack(data).bucket;
            let prefix = format!("{OUTBOX_PREFIX}{key}/");
            let names = s3_keys(&bucket, &prefix).await.iter().map(|k| k[prefix.len()..].to_string()).collect();
            let record = clients()
                .await
                .s3
                .get_object()
                .bucket(&bucket)
                .key(format!("{prefix}submission.json"))
                .send()
                .await
                .unwrap();
            (names, serde_json::from_slice(&record.body.collect().await.unwrap().into_bytes()).unwrap())
        }
    }
}

/// The names in the outbox under a submission's key; none once it is forgotten.
pub async fn outbox_copy(data: &Path, key: &str) -> Vec<String> {
    match backend() {
        Backend::Embedded => files_under(data.join("bufdir-outbox").join(key))
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect(),
        Backend::Aws => s3_keys(&stack(data).bucket, &format!("{OUTBOX_PREFIX}{key}/")).await,
    }
}

/// How soon after a cancel an export's working files must be gone. A
/// cancel stops the writer at once, but not an upload already under way:
/// on moto, one of the exports the cancel test cancels can be storing its
/// file, and its working copy goes when the upload has ended.
pub fn cancel_cleanup_limit() -> std::time::Duration {
    match backend() {
        Backend::Embedded => std::time::Duration::from_secs(2),
        Backend::Aws => std::time::Duration::from_secs(30),
    }
}

/// Items per DynamoDB activities page on the AWS backend.
const ACTIVITIES_PAGE_SIZE: u32 = 60;

/// Activities that keep an export running for some seconds, long enough
/// to cancel, delete or kill it mid-way while the test makes other calls.
/// Moto stores about 1 000 a second, and answers each Query page in time
/// that grows with the whole table, so an export on moto takes time that
/// grows with rows squared over the page size: 7 500 rows in pages of 60
/// run as long as 15 000 in pages of 250 did, and take half the seeding.
pub fn long_export_rows() -> u64 {
    match backend() {
        Backend::Embedded => 150_000,
        Backend::Aws => 7_500,
    }
}

/// When a download link stops working (unix seconds): the local server's
/// signed links carry `expires`, S3's presigned ones a date and a lifetime.
pub fn link_expiry(url: &str) -> i64 {
    let param = |name: &str| url.split(&format!("{name}=")).nth(1).map(|v| v.split('&').next().unwrap().to_string());
    if let Some(at) = param("expires") {
        return at.parse().unwrap();
    }
    let signed = param("X-Amz-Date").unwrap_or_else(|| panic!("no expiry in {url}"));
    let signed = chrono::NaiveDateTime::parse_from_str(&signed, "%Y%m%dT%H%M%SZ").unwrap().and_utc().timestamp();
    signed + param("X-Amz-Expires").unwrap().parse::<i64>().unwrap()
}

/// Download links come from the local server (signed with its key), not S3.
pub fn server_signs_links() -> bool {
    backend() == Backend::Embedded
}

/// The receipt references the backend's Bufdir receiver hands out start with this.
pub fn receipt_prefix() -> &'static str {
    match backend() {
        Backend::Embedded => "local-",
        Backend::Aws => "outbox-",
    }
}

/// Puts an attachment file where the server looks for `key` (the data
/// directory's `attachments/`, or the stack's bucket under
/// `attachments/`). On AWS the server must have started (it makes the bucket).
pub async fn put_attachment(data: &Path, key: &str, body: &[u8]) {
    match backend() {
        Backend::Embedded => {
            let path = data.join("attachments").join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        Backend::Aws => {
            let c = clients().await;
            c.s3.put_object()
                .bucket(stack(data).bucket)
                .key(format!("attachments/{key}"))
                .body(body.to_vec().into())
                .send()
                .await
                .expect("put attachment");
        }
    }
}

/// Breaks the stored record of one of `org`'s activities (the same one
/// every time), so reading it fails; seeding again repairs it.
pub async fn corrupt_one_activity(data: &Path, org: &str) {
    match backend() {
        Backend::Embedded => {
            let db = rusqlite::Connection::open(data.join("activities.sqlite3")).unwrap();
            let sql = "UPDATE activities SET body = '{broken' WHERE org_id = ?1 AND activity_id = \
                       (SELECT min(activity_id) FROM activities WHERE org_id = ?1)";
            assert_eq!(db.execute(sql, [org]).unwrap(), 1);
        }
        Backend::Aws => {
            let c = clients().await;
            let table = stack(data).activities_table;
            // Dated items sort before the `id#` pointer items.
            let first = c
                .dynamodb
                .query()
                .table_name(&table)
                .key_condition_expression("org_id = :o AND sk < :p")
                .expression_attribute_values(":o", AttributeValue::S(org.into()))
                .expression_attribute_values(":p", AttributeValue::S("A".into()))
                .limit(1)
                .send()
                .await
                .unwrap();
            let sk = first.items()[0]["sk"].clone();
            c.dynamodb
                .update_item()
                .table_name(&table)
                .key("org_id", AttributeValue::S(org.into()))
                .key("sk", sk)
                .update_expression("SET doc = :d")
                .expression_attribute_values(":d", AttributeValue::S("{broken".into()))
                .send()
                .await
                .unwrap();
        }
    }
}

/// How many of `org`'s exports storage holds as queued or running, read in
/// one request (one SQLite statement; one DynamoDB query, which moto
/// answers whole), so a count never mixes two moments.
pub async fn in_flight(data: &Path, org: &str) -> u64 {
    match backend() {
        Backend::Embedded => {
            let db = rusqlite::Connection::open_with_flags(
                data.join("bufdir.sqlite3"),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap();
            let sql = "SELECT COUNT(*) FROM jobs WHERE org_id = ?1 AND status IN ('queued', 'running')";
            db.query_row(sql, [org], |r| r.get::<_, i64>(0)).unwrap() as u64
        }
        Backend::Aws => {
            let out = clients()
                .await
                .dynamodb
                .query()
                .table_name(stack(data).exports_table)
                .index_name("by_org")
                .key_condition_expression("org_id = :o")
                .filter_expression("#s IN (:q, :r)")
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":o", AttributeValue::S(org.into()))
                .expression_attribute_values(":q", AttributeValue::S("queued".into()))
                .expression_attribute_values(":r", AttributeValue::S("running".into()))
                .send()
                .await
                .unwrap();
            assert!(out.last_evaluated_key().is_none(), "one page holds an organisation's exports in these tests");
            out.count() as u64
        }
    }
}

/// The audit entries the store holds for an export (oldest first), read
/// from the store itself: they outlive the export.
pub async fn audit_entries(data: &Path, id: &str) -> Vec<Value> {
    match backend() {
        Backend::Embedded => {
            let db = rusqlite::Connection::open_with_flags(
                data.join("bufdir.sqlite3"),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap();
            let mut stmt = db.prepare("SELECT entry FROM audit WHERE export_id = ?1 ORDER BY seq").unwrap();
            let rows = stmt.query_map([id], |r| r.get::<_, String>(0)).unwrap();
            rows.map(|r| serde_json::from_str(&r.unwrap()).unwrap()).collect()
        }
        Backend::Aws => {
            let out = clients()
                .await
                .dynamodb
                .query()
                .table_name(stack(data).audit_table)
                .key_condition_expression("export_id = :id")
                .expression_attribute_values(":id", AttributeValue::S(id.into()))
                .send()
                .await
                .unwrap();
            out.items().iter().map(|item| serde_json::from_str(item["entry"].as_s().unwrap()).unwrap()).collect()
        }
    }
}

/// Moves an export's `file_expires_at` into the past, as if its 30 days
/// were over and the file about to be deleted.
pub async fn expire_file(data: &Path, id: &str) {
    let past = "2020-01-01T00:00:00Z";
    match backend() {
        Backend::Embedded => {
            let db = rusqlite::Connection::open(data.join("bufdir.sqlite3")).unwrap();
            let sql = "UPDATE jobs SET body = json_set(body, '$.file_expires_at', ?2) WHERE export_id = ?1";
            assert_eq!(db.execute(sql, [id, past]).unwrap(), 1);
        }
        Backend::Aws => {
            clients()
                .await
                .dynamodb
                .update_item()
                .table_name(stack(data).exports_table)
                .key("export_id", AttributeValue::S(id.into()))
                .condition_expression("attribute_exists(export_id)")
                .update_expression("SET file_expires_at = :t")
                .expression_attribute_values(":t", AttributeValue::S(past.into()))
                .send()
                .await
                .unwrap();
        }
    }
}

/// Everywhere `org` still shows in what the server stores: file and folder
/// names and file contents under the data directory (the SQLite files
/// byte for byte, freed pages and WAL included), or every item of every
/// table and every object's key and body in the bucket. The events queue
/// is left out: its messages cannot be picked out and expire by themselves.
pub async fn traces_of(data: &Path, org: &str) -> Vec<String> {
    let needle = org.as_bytes();
    let holds = |bytes: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    let mut found = Vec::new();
    match backend() {
        Backend::Embedded => {
            let mut stack = vec![data.to_path_buf()];
            while let Some(dir) = stack.pop() {
                for e in std::fs::read_dir(&dir).unwrap().flatten() {
                    let path = e.path();
                    let shown = path.strip_prefix(data).unwrap().display().to_string();
                    if shown.contains(org) {
                        found.push(format!("path {shown}"));
                    }
                    if path.is_dir() {
                        stack.push(path);
                    } else if std::fs::read(&path).is_ok_and(|b| holds(&b)) {
                        found.push(format!("inside {shown}"));
                    }
                }
            }
        }
        Backend::Aws => {
            let s = stack(data);
            let c = clients().await;
            for table in [s.exports_table, s.activities_table, s.imports_table, s.webhooks_table, s.audit_table] {
                let mut start = None;
                loop {
                    let out = c.dynamodb.scan().table_name(&table).set_exclusive_start_key(start).send().await.unwrap();
                    for item in out.items() {
                        let text = format!("{item:?}");
                        if text.contains(org) {
                            found.push(format!("{table}: {text}"));
                        }
                    }
                    start = out.last_evaluated_key;
                    if start.is_none() {
                        break;
                    }
                }
            }
            for key in s3_keys(&s.bucket, "").await {
                if key.contains(org) {
                    found.push(format!("object {key}"));
                    continue;
                }
                let body = c.s3.get_object().bucket(&s.bucket).key(&key).send().await.unwrap().body;
                if holds(&body.collect().await.unwrap().into_bytes()) {
                    found.push(format!("inside object {key}"));
                }
            }
        }
    }
    found
}
