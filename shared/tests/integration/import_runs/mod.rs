//! Imports run on both backends, the way the API and the command-line
//! tool run them: the import service makes the import, the file goes
//! where an upload goes, and `run_import` checks every row before it
//! writes any (`from_file::import_file` does all three). Every scenario
//! runs on the embedded wiring (`EmbeddedApp`: SQLite, the data
//! directory, the in-process runner) as `import_runs::embedded::*` and on
//! the AWS wiring against moto (`AwsApp` and the import function's
//! context: DynamoDB, S3, the imports queue) as `import_runs::aws::*`.

mod failures;
mod redelivery;
mod scenarios;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bufdir_testing::moto;
use chrono::NaiveDate;
use futures::StreamExt;
use shared::adapters::aws::AwsApp;
use shared::adapters::aws::imports::import_context;
use shared::adapters::embedded::EmbeddedApp;
use shared::domain::{
    Activity, ActivityType, Caller, CreateImportRequest, ImportFormat, ImportId, ImportJob, OrgScope, PeriodRequest,
};
use shared::import::from_file::import_file;
use shared::import::local::LocalImports;
use shared::import::run::{ImportContext, run_import};
use shared::ports::{ActivityQuery, ImportQuery, PortResult};
use shared::service::{ImportRunner, ImportService, Settings};

use failures::*;
use redelivery::*;
use scenarios::*;

/// One backend's import path, as a test drives it.
pub struct Backend {
    pub service: Arc<ImportService>,
    pub ctx: ImportContext,
    restarts: Restarts,
    dir: tempfile::TempDir,
}

/// Where the sweep's restarts go.
enum Restarts {
    /// The embedded server's in-process runner runs them.
    Local(Arc<LocalImports>),
    /// The imports queue; [`Backend::settle`] runs them as the import function would.
    Queued(Arc<Queue>),
}

#[derive(Default)]
struct Queue(Mutex<Vec<ImportId>>);

#[async_trait]
impl ImportRunner for Queue {
    async fn start(&self, id: &ImportId) -> PortResult<()> {
        self.0.lock().unwrap().push(id.clone());
        Ok(())
    }
}

impl Backend {
    pub async fn embedded() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let app = EmbeddedApp::open(&dir.path().join("data"), "http://127.0.0.1:3000", 1).unwrap();
        let restarts = Restarts::Local(app.import_runner.clone());
        Backend { service: app.imports.clone(), ctx: app.import_context.clone(), restarts, dir }
    }

    pub async fn aws() -> Backend {
        let c = moto::clients().await;
        let names = moto::stack(&c, None).await;
        let app = AwsApp::new(names, c, Settings::default());
        let dir = tempfile::tempdir().unwrap();
        let queue = Arc::new(Queue::default());
        let ctx = import_context(&app, dir.path().join("work"));
        Backend { service: app.import_service(queue.clone()), ctx, restarts: Restarts::Queued(queue), dir }
    }

    /// A file of `body` in this test's own folder.
    pub fn file(&self, name: &str, body: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    }

    /// Imports `body` for `org` as the command-line tool does; the import as it ended.
    pub async fn import(&self, org: &str, format: ImportFormat, replace: Option<(i32, i32)>, body: &[u8]) -> ImportJob {
        // a name of its own: a random one could, however rarely, overwrite an earlier file
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = self.file(&format!("file-{}.{}", NEXT.fetch_add(1, Ordering::Relaxed), format.as_str()), body);
        let replace = replace.map(|(from, to)| (format!("{from}-01-01"), format!("{to}-12-31")));
        let uploads = self.ctx.uploads.as_ref();
        import_file(&self.service, uploads, &self.ctx, org, format, replace, &path).await.unwrap()
    }

    /// An import made through the service, its file not yet uploaded.
    pub async fn create(&self, service: &ImportService, org: &str, replace: Option<i32>) -> ImportJob {
        let request = CreateImportRequest {
            org_id: Some(org.to_string()),
            format: Some("jsonl".into()),
            replace_period: replace
                .map(|y| PeriodRequest { from: Some(format!("{y}-01-01")), to: Some(format!("{y}-12-31")) }),
        };
        let view = service.create(&Caller::operator(), &request, None).await.unwrap();
        assert!(view.upload.is_some(), "a new import comes with somewhere to upload");
        view.job
    }

    /// Puts `body` where the import's file is uploaded.
    pub async fn upload(&self, job: &ImportJob, body: &[u8]) {
        let path = self.file(&format!("{}.upload", job.import_id), body);
        self.ctx.uploads.put(&job.upload_key, &path, "application/octet-stream").await.unwrap();
    }

    pub async fn get(&self, id: &ImportId) -> ImportJob {
        self.ctx.imports.get_import(id).await.unwrap().unwrap()
    }

    /// Every activity the organisation has, in report order.
    pub async fn stored(&self, org: &str) -> Vec<Activity> {
        let q = ActivityQuery { org_id: org.into(), from: day(2000, 1, 1), to: day(2099, 12, 31), types: vec![] };
        self.ctx.activities.stream(q).map(|r| r.unwrap()).collect().await
    }

    pub async fn count(&self, org: &str) -> u64 {
        let q = ActivityQuery { org_id: org.into(), from: day(2000, 1, 1), to: day(2099, 12, 31), types: vec![] };
        self.ctx.activities.count(&q).await.unwrap()
    }

    /// The organisation's imports, newest first.
    pub async fn listed(&self, org: &str) -> Vec<ImportJob> {
        let q = ImportQuery { scope: OrgScope::Only(vec![org.to_string()]), status: None, page: 1, limit: 100 };
        self.ctx.imports.list_imports(&q).await.unwrap().imports
    }

    /// Lets the imports the sweep started again run to their end.
    pub async fn settle(&self) {
        match &self.restarts {
            Restarts::Local(runner) => runner.wait_idle().await,
            Restarts::Queued(queue) => {
                let started: Vec<ImportId> = std::mem::take(&mut *queue.0.lock().unwrap());
                for id in started {
                    run_import(&self.ctx, &id).await.unwrap();
                }
            }
        }
    }
}

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A valid activity; Oslo's kommunenummer is valid on every date.
pub fn activity(org: &str, id: &str, date: NaiveDate) -> Activity {
    let mut a = crate::conformance::activity(org, id, date, ActivityType::GroupSession);
    a.kommunenummer = "0301".into();
    a
}

pub fn jsonl(activities: &[Activity]) -> Vec<u8> {
    activities.iter().flat_map(|a| serde_json::to_string(a).unwrap().into_bytes().into_iter().chain([b'\n'])).collect()
}

pub fn sorted(mut v: Vec<Activity>) -> Vec<Activity> {
    v.sort_by(|a, b| (a.date, &a.activity_id).cmp(&(b.date, &b.activity_id)));
    v
}

/// Each scenario as a test on each backend.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(&super::Backend::embedded().await).await;
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(&super::Backend::aws().await).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_good_file_imports_whole,
    the_served_templates_import_as_they_are,
    replace_period_removes_what_the_file_left_out,
    bad_rows_fail_the_import_and_write_nothing,
    a_bad_row_after_written_batches_leaves_nothing,
    a_workbook_broken_part_way_changes_nothing,
    problems_past_the_kept_hundred_are_counted,
    a_redelivered_import_changes_nothing,
    a_claimed_import_is_left_alone_and_a_dead_run_taken_over,
    an_upload_that_never_arrives_expires,
);
