//! Faults injected into the real embedded adapters: the file store failing
//! mid-write and the activity source failing mid-read, once (the workflow
//! retries and completes) and for good (the export fails, can be retried,
//! and nothing half-made is left). The fault wrappers are the only stand-ins
//! here: a disk or a database that fails on cue cannot be had for real.
//! (A process killed mid-export is tests/restart_recovery.rs.)

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use shared::adapters::embedded::{
    DataDir, DiskAttachments, DiskFileStore, JsonlEventOutbox, LocalBufdirReceiver, SqliteActivities, SqliteJobStore,
    SqliteOrganisations,
};
use shared::domain::{Activity, Caller, CreateExportRequest, ExportJob, ExportStatus};
use shared::ports::{ActivityQuery, ActivitySource, FileStore, PortError, PortResult, UploadTarget};
use shared::service::{ExportService, Ports, Settings};
use shared::workflow::{LocalRunner, RetryPolicy, RunnerHandle, WorkflowContext};

/// Fails the next `n` calls, then behaves.
#[derive(Default)]
struct Faults(AtomicU32);

impl Faults {
    fn set(&self, n: u32) {
        self.0.store(n, Ordering::SeqCst);
    }
    fn left(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
    fn trip(&self) -> bool {
        self.0.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

/// A file store whose upload dies half way: half the bytes land under the
/// key (a worse case than S3, which never shows a partial object), then an error.
struct FailingFiles {
    inner: Arc<DiskFileStore>,
    faults: Faults,
}

#[async_trait]
impl FileStore for FailingFiles {
    async fn put(&self, key: &str, local: &Path, content_type: &str) -> PortResult<u64> {
        if !self.faults.trip() {
            return self.inner.put(key, local, content_type).await;
        }
        let bytes = std::fs::read(local).unwrap();
        let half = local.with_extension("half");
        std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
        self.inner.put(key, &half, content_type).await?;
        Err(PortError::Transient("connection reset while uploading".into()))
    }
    async fn fetch(&self, key: &str, local: &Path) -> PortResult<()> {
        self.inner.fetch(key, local).await
    }
    async fn delete_prefix(&self, prefix: &str) -> PortResult<u64> {
        self.inner.delete_prefix(prefix).await
    }
    async fn list(&self, prefix: &str) -> PortResult<Vec<String>> {
        self.inner.list(prefix).await
    }
    async fn signed_url(&self, key: &str, filename: &str, ttl: Duration) -> PortResult<String> {
        self.inner.signed_url(key, filename, ttl).await
    }
    async fn signed_upload(&self, key: &str, max_bytes: u64, ttl: Duration) -> PortResult<UploadTarget> {
        self.inner.signed_upload(key, max_bytes, ttl).await
    }
    async fn size_of(&self, key: &str) -> PortResult<Option<u64>> {
        self.inner.size_of(key).await
    }
}

/// An activity source whose connection drops after `after` rows; it also
/// counts what it is asked, and can hide its index's count (as DynamoDB).
struct FailingSource {
    inner: Arc<SqliteActivities>,
    faults: Faults,
    after: usize,
    hide_count: AtomicBool,
    counts: AtomicU32,
    streams: AtomicU32,
    rows_read: Arc<AtomicU64>,
}

#[async_trait]
impl ActivitySource for FailingSource {
    async fn count(&self, query: &ActivityQuery) -> PortResult<u64> {
        self.counts.fetch_add(1, Ordering::SeqCst);
        self.inner.count(query).await
    }
    async fn known_count(&self, query: &ActivityQuery) -> PortResult<Option<u64>> {
        if self.hide_count.load(Ordering::SeqCst) { Ok(None) } else { self.inner.known_count(query).await }
    }
    fn stream(&self, query: ActivityQuery) -> BoxStream<'static, PortResult<Activity>> {
        self.streams.fetch_add(1, Ordering::SeqCst);
        let read = self.rows_read.clone();
        let rows = self
            .inner
            .stream(query)
            .inspect(move |_| {
                read.fetch_add(1, Ordering::SeqCst);
            })
            .boxed();
        if !self.faults.trip() {
            return rows;
        }
        let dropped: PortResult<Activity> = Err(PortError::Transient("connection to the activity store lost".into()));
        rows.take(self.after).chain(stream::iter([dropped])).boxed()
    }
}

struct World {
    _dir: tempfile::TempDir,
    data: DataDir,
    service: ExportService,
    runner: Arc<LocalRunner>,
    files: Arc<FailingFiles>,
    source: Arc<FailingSource>,
}

const ROWS: u64 = 3_000;

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path()).unwrap();
    let jobs = Arc::new(SqliteJobStore::open(&data.db_path()).unwrap());
    let activities = Arc::new(SqliteActivities::open(&data.activities_db_path()).unwrap());
    let disk = Arc::new(DiskFileStore::new(data.files_dir(), "http://127.0.0.1:1", b"test key".to_vec()).unwrap());
    let files = Arc::new(FailingFiles { inner: disk, faults: Faults::default() });
    let source = Arc::new(FailingSource {
        inner: activities,
        faults: Faults::default(),
        after: 1_000,
        hide_count: AtomicBool::new(false),
        counts: AtomicU32::new(0),
        streams: AtomicU32::new(0),
        rows_read: Arc::new(AtomicU64::new(0)),
    });
    let events = Arc::new(JsonlEventOutbox::open(&data.events_path()).unwrap());
    let audit = Arc::new(
        shared::adapters::embedded::SqliteAuditLog::open(&data.db_path(), chrono::Duration::days(400)).unwrap(),
    );
    let submitter = Arc::new(LocalBufdirReceiver::new(data.bufdir_outbox_dir()).unwrap());
    let ctx = WorkflowContext {
        jobs: jobs.clone(),
        activities: source.clone(),
        attachments: Arc::new(DiskAttachments::new(data.attachments_dir())),
        files: files.clone(),
        events: events.clone(),
        metrics: Arc::new(shared::ports::NoMetrics),
        audit: audit.clone(),
        submitter: submitter.clone(),
        organisations: Arc::new(SqliteOrganisations::open(&data.db_path()).unwrap()),
        work_dir: data.tmp_dir(),
        file_retention: chrono::Duration::days(30),
        heartbeat: Duration::from_millis(50),
        retry: RetryPolicy {
            max_attempts: 3,
            backoff: shared::backoff::Backoff::new(Duration::from_millis(10), 2, Duration::from_secs(1)),
        },
    };
    let runner = LocalRunner::new(ctx, 1);
    let ports = Ports {
        jobs,
        activities: source.clone(),
        files: files.clone(),
        workflow: Arc::new(RunnerHandle(runner.clone())),
        events,
        metrics: Arc::new(shared::ports::NoMetrics),
        audit,
        submitter,
    };
    let service = ExportService::new(ports, Settings::default());
    World { _dir: dir, data, service, runner, files, source }
}

impl World {
    async fn seed(&self) {
        self.source.inner.insert_all(shared::demo::generate("org-a", ROWS, 2025..=2025, 4)).await.unwrap();
    }

    async fn export(&self) -> ExportJob {
        let request = CreateExportRequest {
            org_id: Some("org-a".into()),
            period_from: Some("2025-01-01".into()),
            period_to: Some("2025-12-31".into()),
            ..Default::default()
        };
        let job = self.service.create(&Caller::operator(), &request).await.unwrap();
        self.settled(&job).await
    }

    async fn settled(&self, job: &ExportJob) -> ExportJob {
        self.runner.wait_idle().await;
        let job = self.service.get(&Caller::operator(), &job.export_id).await.unwrap().job;
        assert!(!job.status.is_active(), "nothing stays queued or running: {:?}", job.status);
        assert!(std::fs::read_dir(self.data.tmp_dir()).map(|d| d.count()).unwrap_or(0) == 0, "no working file left");
        job
    }

    async fn stored(&self, job: &ExportJob) -> Vec<String> {
        self.files.list(&job.file_prefix()).await.unwrap()
    }

    /// The one stored file is whole: its size and sha256 are the job's.
    async fn assert_whole(&self, job: &ExportJob) {
        let file = job.file.clone().expect("a completed export has a file");
        assert_eq!(self.stored(job).await, vec![file.key.clone()], "exactly the recorded file is stored");
        let local = self.data.root().join("check.bin");
        self.files.fetch(&file.key, &local).await.unwrap();
        let bytes = std::fs::read(&local).unwrap();
        assert_eq!(bytes.len() as u64, file.size_bytes);
        use sha2::Digest;
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), file.sha256);
        assert_eq!((job.progress.rows_done, job.progress.rows_total), (ROWS, ROWS));
    }
}

/// An export reads its rows once: the total comes from SQLite's index, or,
/// where a store cannot tell it without reading (DynamoDB), is estimated
/// on the way and exact at the end.
#[tokio::test]
async fn an_export_reads_its_rows_once_whether_or_not_the_store_can_count_them() {
    let w = world();
    w.seed().await;
    for hidden in [false, true] {
        w.source.hide_count.store(hidden, Ordering::SeqCst);
        let (streams, rows) = (w.source.streams.load(Ordering::SeqCst), w.source.rows_read.load(Ordering::SeqCst));
        let job = w.export().await;
        assert_eq!(job.status, ExportStatus::Completed, "{:?}", job.error_message);
        w.assert_whole(&job).await;
        assert_eq!(w.source.streams.load(Ordering::SeqCst) - streams, 1, "one read (count hidden: {hidden})");
        assert_eq!(w.source.rows_read.load(Ordering::SeqCst) - rows, ROWS, "each row read once");
    }
    assert_eq!(w.source.counts.load(Ordering::SeqCst), 0, "no export counted by reading");
}

#[tokio::test]
async fn an_upload_that_dies_once_is_retried_and_the_stored_file_is_whole() {
    let w = world();
    w.seed().await;
    w.files.faults.set(1);
    let job = w.export().await;
    assert_eq!(w.files.faults.left(), 0, "the fault fired");
    assert_eq!(job.status, ExportStatus::Completed, "{:?}", job.error_message);
    w.assert_whole(&job).await;
}

#[tokio::test]
async fn uploads_that_keep_dying_fail_the_export_with_nothing_stored_and_a_retry_completes_it() {
    let w = world();
    w.seed().await;
    w.files.faults.set(u32::MAX);
    let job = w.export().await;
    assert_eq!(job.status, ExportStatus::Failed);
    assert!(
        job.error_message.as_deref().unwrap().contains("connection reset while uploading"),
        "{:?}",
        job.error_message
    );
    assert!(w.stored(&job).await.is_empty(), "no half-uploaded file stays");

    w.files.faults.set(0);
    w.service.retry(&Caller::operator(), &job.export_id).await.unwrap();
    let job = w.settled(&job).await;
    assert_eq!((job.status, job.retry_count), (ExportStatus::Completed, 1));
    w.assert_whole(&job).await;
}

#[tokio::test]
async fn a_source_that_drops_mid_read_once_is_read_again_from_the_start() {
    let w = world();
    w.seed().await;
    w.source.faults.set(1);
    let job = w.export().await;
    assert_eq!(w.source.faults.left(), 0, "the fault fired");
    assert_eq!(job.status, ExportStatus::Completed, "{:?}", job.error_message);
    w.assert_whole(&job).await;
}

#[tokio::test]
async fn a_source_that_keeps_dropping_fails_the_export_with_nothing_stored_and_a_retry_completes_it() {
    let w = world();
    w.seed().await;
    w.source.faults.set(u32::MAX);
    let job = w.export().await;
    assert_eq!(job.status, ExportStatus::Failed);
    assert!(
        job.error_message.as_deref().unwrap().contains("connection to the activity store lost"),
        "{:?}",
        job.error_message
    );
    assert!(w.stored(&job).await.is_empty());
    assert_eq!(job.file, None);

    w.source.faults.set(0);
    w.service.retry(&Caller::operator(), &job.export_id).await.unwrap();
    let job = w.settled(&job).await;
    assert_eq!(job.status, ExportStatus::Completed);
    w.assert_whole(&job).await;
}
