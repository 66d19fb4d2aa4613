//! The port conformance suites against the embedded adapters, plus what
//! only the embedded adapters promise (download link checks, the local
//! Bufdir receiver).

use crate::conformance;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use sha2::{Digest, Sha256};
use shared::adapters::embedded::{
    DataDir, DiskAttachmentUploads, DiskFileStore, JsonlEventOutbox, LocalBufdirReceiver, SqliteActivities,
    SqliteImportStore, SqliteJobStore, SqliteOrganisations, SqliteWebhookStore,
};
use shared::ports::{BufdirSubmitter, DownloadRefused, FileStore, PortError, SignedLink, Submission};

const BASE_URL: &str = "http://127.0.0.1:3000";

fn data_dir() -> (tempfile::TempDir, DataDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(tmp.path().join("data")).unwrap();
    (tmp, dir)
}

fn file_store(dir: &DataDir) -> DiskFileStore {
    DiskFileStore::new(dir.files_dir(), BASE_URL, dir.secret("download-url").unwrap()).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The parts of a download link, decoded as the local server would.
struct Link {
    key: String,
    expires: i64,
    name: String,
    sig: String,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn parse_link(url: &str) -> Option<Link> {
    let rest = url.strip_prefix(&format!("{BASE_URL}/files/"))?;
    let (key, query) = rest.split_once('?')?;
    let params: HashMap<&str, String> =
        query.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k, percent_decode(v))).collect();
    Some(Link {
        key: key.to_string(),
        expires: params.get("expires")?.parse().ok()?,
        name: params.get("name")?.clone(),
        sig: params.get("sig")?.clone(),
    })
}

fn download(store: &DiskFileStore, url: &str) -> Option<Vec<u8>> {
    let l = parse_link(url)?;
    let link = SignedLink { key: &l.key, expires: l.expires, name: &l.name, sig: &l.sig };
    let path = store.verify_download(link, now()).ok()?;
    std::fs::read(path).ok()
}

#[tokio::test]
async fn sqlite_job_store_conforms() {
    let (_tmp, dir) = data_dir();
    let store = SqliteJobStore::open(&dir.db_path()).unwrap();
    conformance::job_store_suite(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_activities_conform() {
    let (_tmp, dir) = data_dir();
    let store = SqliteActivities::open(&dir.db_path()).unwrap();
    let writer = store.clone();
    conformance::activity_source_suite(
        Arc::new(store),
        move |items| {
            let writer = writer.clone();
            async move {
                writer.insert_all(items).await.unwrap();
            }
        },
        200_000,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_activity_store_conforms() {
    let (_tmp, dir) = data_dir();
    let store = SqliteActivities::open(&dir.activities_db_path()).unwrap();
    conformance::activity_store_suite(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_import_store_conforms() {
    let (_tmp, dir) = data_dir();
    let store = SqliteImportStore::open(&dir.db_path()).unwrap();
    conformance::import_store_suite(Arc::new(store)).await;
}

#[tokio::test]
async fn sqlite_webhooks_conform() {
    let (_tmp, dir) = data_dir();
    conformance::webhook_store_suite(Arc::new(SqliteWebhookStore::open(&dir.db_path()).unwrap())).await;
}

#[tokio::test]
async fn sqlite_organisations_conform() {
    let (_tmp, dir) = data_dir();
    let store = SqliteOrganisations::open(&dir.db_path()).unwrap();
    conformance::organisation_store_suite(&store).await;
}

#[tokio::test]
async fn disk_file_store_conforms() {
    let (_tmp, dir) = data_dir();
    let store = file_store(&dir);
    let verifier = store.clone();
    conformance::file_store_suite(Arc::new(store), move |url| {
        let body = download(&verifier, &url);
        async move { body }
    })
    .await;
}

#[tokio::test]
async fn jsonl_outbox_conforms() {
    let (_tmp, dir) = data_dir();
    let outbox = JsonlEventOutbox::open(&dir.events_path()).unwrap();
    let reader = outbox.clone();
    conformance::event_publisher_suite(Arc::new(outbox), move || {
        let events = reader.read_all().unwrap();
        async move { events }
    })
    .await;
    // one JSON object per line, with the contract's event type names
    let text = std::fs::read_to_string(dir.events_path()).unwrap();
    assert_eq!(text.lines().count(), 22);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "export.completed");
}

#[tokio::test]
async fn download_links_refuse_tampering_and_expiry() {
    let (_tmp, dir) = data_dir();
    let store = file_store(&dir);
    let src = conformance::write_file(dir.tmp_dir().as_path(), "r.xlsx", b"report");
    let key = "org-a/exp-20260326-aaaaaa/a1/rapport.xlsx";
    let other = "org-b/exp-20260326-bbbbbb/a1/rapport.xlsx";
    store.put(key, &src, "application/octet-stream").await.unwrap();
    store.put(other, &src, "application/octet-stream").await.unwrap();

    let url = store.signed_url(key, "Bufdir rapport & vedlegg (2025).xlsx", Duration::from_secs(60)).await.unwrap();
    assert!(url.starts_with(&format!("{BASE_URL}/files/{key}?expires=")), "{url}");
    assert!(url.contains("&name=Bufdir%20rapport%20%26%20vedlegg%20%282025%29.xlsx&sig="), "{url}");
    let l = parse_link(&url).unwrap();
    assert!(l.expires > now() && l.expires <= now() + 61);
    assert_eq!(l.name, "Bufdir rapport & vedlegg (2025).xlsx");

    let verify = |key: &str, expires: i64, name: &str, sig: &str, at: i64| {
        store.verify_download(SignedLink { key, expires, name, sig }, at)
    };
    assert_eq!(verify(&l.key, l.expires, &l.name, &l.sig, now()).unwrap(), dir.files_dir().join(key));

    let mut flipped = l.sig.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    assert_eq!(verify(other, l.expires, &l.name, &l.sig, now()), Err(DownloadRefused::BadSignature));
    assert_eq!(verify(&l.key, l.expires, "evil.exe", &l.sig, now()), Err(DownloadRefused::BadSignature));
    assert_eq!(verify(&l.key, l.expires + 3600, &l.name, &l.sig, now()), Err(DownloadRefused::BadSignature));
    assert_eq!(verify(&l.key, l.expires, &l.name, &flipped, now()), Err(DownloadRefused::BadSignature));
    assert_eq!(verify(&l.key, l.expires, &l.name, "not hex", now()), Err(DownloadRefused::BadSignature));
    assert_eq!(verify(&l.key, l.expires, &l.name, "", now()), Err(DownloadRefused::BadSignature));
    assert_eq!(verify(&l.key, l.expires, &l.name, &l.sig, l.expires), Err(DownloadRefused::Expired));
    assert_eq!(verify(&l.key, l.expires, &l.name, &l.sig, l.expires + 1), Err(DownloadRefused::Expired));
    assert_eq!(verify("../secret.key", l.expires, &l.name, &l.sig, now()), Err(DownloadRefused::InvalidKey));

    // a link minted by another data directory (another key) is worthless
    let (_tmp2, dir2) = data_dir();
    let foreign = file_store(&dir2).signed_url(key, "x.xlsx", Duration::from_secs(60)).await.unwrap();
    let f = parse_link(&foreign).unwrap();
    assert_eq!(verify(&f.key, f.expires, &f.name, &f.sig, now()), Err(DownloadRefused::BadSignature));

    // a valid link for a deleted file
    store.delete_prefix("org-a/").await.unwrap();
    assert_eq!(verify(&l.key, l.expires, &l.name, &l.sig, now()), Err(DownloadRefused::NotFound));
    assert!(!dir.files_dir().join("org-a").exists(), "empty folders are pruned");
    assert!(store.delete_prefix("").await.is_err(), "an empty prefix would delete everything");
    assert_eq!(store.list("").await.unwrap(), vec![other.to_string()]);
}

#[tokio::test]
async fn put_never_leaves_temporary_files_behind() {
    let (_tmp, dir) = data_dir();
    let store = file_store(&dir);
    let src = conformance::write_file(dir.tmp_dir().as_path(), "r", &vec![7u8; 1 << 20]);
    let key = "org/exp-20260326-aaaaaa/a1/big.bin";
    for _ in 0..3 {
        assert_eq!(store.put(key, &src, "application/octet-stream").await.unwrap(), 1 << 20);
    }
    let folder = dir.files_dir().join("org/exp-20260326-aaaaaa/a1");
    let names: Vec<String> =
        std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names, vec!["big.bin"]);
    assert!(store.put(key, &dir.tmp_dir().join("missing"), "x").await.is_err());
    assert!(store.signed_url("../x", "x", Duration::from_secs(1)).await.is_err());
}

/// An import reads its upload where the store keeps it: that is safe only
/// because a stored file is replaced whole, never changed under a reader.
#[tokio::test]
async fn a_stored_file_is_read_in_place_and_replaced_whole() {
    use std::io::Read;
    let (_tmp, dir) = data_dir();
    let store = file_store(&dir);
    let key = "org-a/imp-20260326-aaaaaa/upload/activities.jsonl";
    let first = conformance::write_file(dir.tmp_dir().as_path(), "first", b"first file");
    store.put(key, &first, "application/octet-stream").await.unwrap();
    let path = store.local_path(key).unwrap();
    assert_eq!(path, dir.files_dir().join(key));
    let mut reading = std::fs::File::open(&path).unwrap();

    let second = conformance::write_file(dir.tmp_dir().as_path(), "second", b"second");
    store.put(key, &second, "application/octet-stream").await.unwrap();
    let mut seen = String::new();
    reading.read_to_string(&mut seen).unwrap();
    assert_eq!(seen, "first file", "a reader keeps the file it opened");
    assert_eq!(std::fs::read(store.local_path(key).unwrap()).unwrap(), b"second");

    assert_eq!(store.local_path("../outside"), None);
    assert_eq!(store.local_path(""), None);
}

fn submission(dir: &DataDir, key: &str, body: &[u8]) -> (Submission, std::path::PathBuf) {
    let path = conformance::write_file(dir.tmp_dir().as_path(), &format!("{key}.xlsx"), body);
    let s = Submission {
        export_id: "exp-20260326-xyz789".into(),
        attempt: 1,
        org_id: "org-demo".into(),
        organisation_name: Some("Foreningen for pårørende".into()),
        organisation_number: Some("974760673".into()),
        period_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        period_to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        report_profile: "likeperson".into(),
        filename: "bufdir-rapport-2025.xlsx".into(),
        content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".into(),
        sha256: hex::encode(Sha256::digest(body)),
        idempotency_key: key.into(),
    };
    (s, path)
}

#[tokio::test]
async fn local_receiver_files_each_submission_once() {
    let (_tmp, dir) = data_dir();
    let receiver = LocalBufdirReceiver::new(dir.bufdir_outbox_dir()).unwrap();
    let (s, file) = submission(&dir, "exp-20260326-xyz789-a1", b"report one");

    let first = receiver.submit(&s, &file).await.unwrap();
    assert!(first.reference.starts_with("local-") && first.reference.len() == "local-".len() + 12, "{first:?}");
    let again = receiver.submit(&s, &file).await.unwrap();
    assert_eq!(again, first);

    let folder = dir.bufdir_outbox_dir().join("exp-20260326-xyz789-a1");
    let mut names: Vec<String> =
        std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, vec!["bufdir-rapport-2025.xlsx", "submission.json"]);
    assert_eq!(std::fs::read(folder.join("bufdir-rapport-2025.xlsx")).unwrap(), b"report one");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("submission.json")).unwrap()).unwrap();
    assert_eq!(record["export_id"], "exp-20260326-xyz789");
    assert_eq!(record["sha256"], s.sha256.as_str());
    assert_eq!(record["reference"], first.reference.as_str());

    // concurrent repeats of one attempt still file it once
    let (s2, file2) = submission(&dir, "exp-20260326-xyz789-a2", b"report two");
    let receiver = Arc::new(receiver);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (r, s, f) = (receiver.clone(), s2.clone(), file2.clone());
            tokio::spawn(async move { r.submit(&s, &f).await.unwrap() })
        })
        .collect();
    let mut refs = Vec::new();
    for t in tasks {
        refs.push(t.await.unwrap().reference);
    }
    refs.dedup();
    assert_eq!(refs.len(), 1);
    assert_ne!(refs[0], first.reference, "another attempt gets its own reference");

    // a different file under a used key, a wrong checksum and unsafe names are refused
    let (mut reused, other_file) = submission(&dir, "exp-20260326-xyz789-a1", b"changed report");
    assert!(matches!(receiver.submit(&reused, &other_file).await, Err(PortError::Permanent(_))));
    reused.idempotency_key = "exp-20260326-xyz789-a3".into();
    reused.sha256 = "00".repeat(32);
    assert!(matches!(receiver.submit(&reused, &other_file).await, Err(PortError::Permanent(_))));
    assert!(!dir.bufdir_outbox_dir().join("exp-20260326-xyz789-a3").join("submission.json").exists());
    let (mut escape, f) = submission(&dir, "k4", b"x");
    escape.idempotency_key = "../escape".into();
    assert!(receiver.submit(&escape, &f).await.is_err());
    let (mut escape, f) = submission(&dir, "k5", b"x");
    escape.filename = "../../secret.key".into();
    assert!(receiver.submit(&escape, &f).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_committed_activities_while_an_import_is_open() {
    use futures::StreamExt;
    use shared::ports::{ActivityQuery, ActivitySource};

    let (_tmp, dir) = data_dir();
    let store = SqliteActivities::open(&dir.db_path()).unwrap();
    store.insert_all(shared::demo::generate("org-a", 10, 2025..=2025, 1)).await.unwrap();
    let query = ActivityQuery {
        org_id: "org-a".into(),
        from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        types: vec![],
    };

    // an import that has written 100 rows and is still going
    let (written_tx, written_rx) = tokio::sync::oneshot::channel();
    let (finish_tx, finish_rx) = std::sync::mpsc::channel::<bool>();
    let writer = store.clone();
    let import = tokio::spawn(async move {
        writer
            .write(move |w| {
                for a in shared::demo::generate("org-a", 100, 2025..=2025, 2) {
                    w.upsert(&a)?;
                }
                written_tx.send(()).unwrap();
                if finish_rx.recv().unwrap() { Ok(w.written()) } else { Err(PortError::Permanent("abandoned".into())) }
            })
            .await
    });
    written_rx.await.unwrap();

    // readers neither wait for it nor see its rows
    let count = tokio::time::timeout(Duration::from_secs(2), store.count(&query)).await.unwrap().unwrap();
    assert_eq!(count, 10);
    let streamed = tokio::time::timeout(Duration::from_secs(2), store.stream(query.clone()).count()).await.unwrap();
    assert_eq!(streamed, 10);

    // an abandoned import leaves no trace; a finished one is seen whole
    finish_tx.send(false).unwrap();
    assert!(import.await.unwrap().is_err());
    assert_eq!(store.count(&query).await.unwrap(), 10);
    let writer = store.clone();
    let n = writer
        .write(|w| {
            for a in shared::demo::generate("org-a", 100, 2025..=2025, 2) {
                w.upsert(&a)?;
            }
            Ok::<_, PortError>(w.written())
        })
        .await
        .unwrap();
    assert_eq!(n, 100);
    assert_eq!(store.count(&query).await.unwrap(), 110);

    // records that fail their own checks are refused by the writer itself
    let mut bad = shared::demo::generate("org-a", 1, 2025..=2025, 3).next().unwrap();
    bad.participants.new = bad.participants.total + 1;
    assert!(matches!(store.insert_all(vec![bad]).await, Err(PortError::Permanent(_))));
    assert_eq!(store.count(&query).await.unwrap(), 110);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_attachment_uploads_conform() {
    let (_tmp, dir) = data_dir();
    let waiting = Arc::new(DiskFileStore::new(dir.attachment_uploads_dir(), BASE_URL, vec![7; 32]).unwrap());
    let uploads = DiskAttachmentUploads::new(waiting, dir.attachment_uploads_dir(), dir.attachments_dir());
    let activities = SqliteActivities::open(&dir.activities_db_path()).unwrap();
    let root = dir.attachment_uploads_dir();
    conformance::attachment_uploads_suite(&uploads, &activities, |key| {
        let path = root.join(&key);
        async move {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"%PDF-1.4 liste").unwrap();
        }
    })
    .await;
}
