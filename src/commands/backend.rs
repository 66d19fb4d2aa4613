//! Which adapters a command runs on: the embedded ones in the data
//! directory, or the AWS ones (DynamoDB, S3, SQS, Step Functions) named
//! by the environment, exactly as the Lambdas use them. The service and
//! workflow code is the same on either.

use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use clap::ValueEnum;
use shared::adapters::aws::WorkflowWiring;
use shared::adapters::aws::imports::import_context;
use shared::adapters::aws::webhooks::{self, relay_events};
use shared::adapters::aws::{AwsApp, DynamoActivities, provision, relay_imports};
use shared::adapters::embedded::{
    DataDir, EmbeddedApp, IMPORT_LEASE, LocalJwt, PrometheusMetrics, SqliteActivities, WEBHOOK_TICK, jwt_for,
};
use shared::demo::generate;
use shared::http::ApiState;
use shared::http::downloads::downloads_router;
use shared::http::uploads::uploads_router;
use shared::import::local::{LocalImports, LocalImportsHandle};
use shared::import::run::ImportContext;
use shared::ports::{ActivityQuery, ActivitySource, PortResult};
use shared::service::{ImportRunner, ImportSettings, Settings};
use shared::workflow::{LocalRunner, RunnerHandle};

/// How often the in-process runner records progress in DynamoDB, as the
/// step Lambdas do: each beat is a paid write.
const AWS_LOCAL_HEARTBEAT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// SQLite and files in the data directory.
    Embedded,
    /// The AWS stack named by EXPORTS_TABLE, ACTIVITIES_TABLE, FILES_BUCKET,
    /// EVENTS_QUEUE_URL (and STATE_MACHINE_ARN unless `--runner local`).
    Aws,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Runner {
    /// Exports run in this process.
    Local,
    /// Exports run in the stack's Step Functions state machine.
    StepFunctions,
}

#[derive(clap::Args, Clone, Debug)]
pub struct BackendArgs {
    /// Where jobs, activities and files are kept.
    #[arg(long, value_enum, default_value = "embedded", env = "BUFDIR_BACKEND")]
    pub backend: Backend,
    /// With `--backend aws`: create the tables, bucket and queue the
    /// environment names when they are missing. For a local emulator such
    /// as moto; in an AWS account the SAM template creates them.
    #[arg(long, env = "BUFDIR_AWS_PROVISION")]
    pub provision: bool,
}

impl BackendArgs {
    /// The AWS stack from the environment, provisioned if asked.
    async fn aws(&self) -> anyhow::Result<AwsApp> {
        // The local runner submits in this process, so it needs the receiver too.
        let app = AwsApp::from_env()
            .await
            .context("configuring the AWS backend")?
            .with_receiver_from_env()
            .await
            .context("configuring the Bufdir receiver")?;
        if self.provision {
            provision::create_resources(&app.clients, &app.names).await.context("creating the AWS resources")?;
        }
        Ok(app)
    }

    /// The import path of the chosen backend, for the command-line import.
    pub async fn importer(&self, data_dir: &Path) -> anyhow::Result<Importer> {
        Ok(match self.backend {
            Backend::Embedded => {
                // No server is listening: upload links are never handed out.
                let app = EmbeddedApp::open(data_dir, "http://127.0.0.1", 1)?;
                Importer {
                    service: for_local_files(&app.imports),
                    uploads: app.uploads.clone(),
                    ctx: app.import_context.clone(),
                }
            }
            Backend::Aws => {
                let app = self.aws().await?;
                let data = DataDir::open(data_dir)
                    .with_context(|| format!("opening data directory {}", data_dir.display()))?;
                Importer {
                    service: for_local_files(&app.import_service(app.import_queue())),
                    uploads: app.uploads.clone(),
                    ctx: import_context(&app, data.tmp_dir()),
                }
            }
        })
    }

    /// The activity store of the chosen backend.
    pub async fn activities(&self, data_dir: &Path) -> anyhow::Result<Activities> {
        Ok(match self.backend {
            Backend::Embedded => {
                let dir = DataDir::open(data_dir)
                    .with_context(|| format!("opening data directory {}", data_dir.display()))?;
                Activities::Sqlite(Arc::new(SqliteActivities::open(&dir.activities_db_path())?))
            }
            Backend::Aws => Activities::Dynamo(self.aws().await?.activities),
        })
    }
}

/// What `activities import` runs on: the import service, the store its
/// files are uploaded to, and what a run needs.
/// The largest file `activities import` takes: S3's largest single upload.
/// The 200 MB of an upload link guards the server against what strangers
/// send; a file on this machine is the operator's own choice.
pub const LOCAL_IMPORT_MAX_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// Imports from this machine, with [`LOCAL_IMPORT_MAX_BYTES`] as the limit.
fn for_local_files(service: &shared::service::ImportService) -> Arc<shared::service::ImportService> {
    let settings = ImportSettings { max_upload_bytes: LOCAL_IMPORT_MAX_BYTES, ..service.settings().clone() };
    Arc::new(service.reconfigured(settings))
}

pub struct Importer {
    pub service: Arc<shared::service::ImportService>,
    pub uploads: Arc<dyn shared::ports::FileStore>,
    pub ctx: ImportContext,
}

/// Either backend's activity store, for the commands that write activities.
pub enum Activities {
    Sqlite(Arc<SqliteActivities>),
    Dynamo(Arc<DynamoActivities>),
}

impl Activities {
    pub async fn put_all(
        &self,
        activities: impl Iterator<Item = shared::domain::Activity> + Send + 'static,
    ) -> PortResult<u64> {
        match self {
            Activities::Sqlite(s) => s.insert_all(activities).await,
            Activities::Dynamo(d) => d.writer().put_all(activities).await,
        }
    }

    pub fn source(&self) -> Arc<dyn ActivitySource> {
        match self {
            Activities::Sqlite(s) => s.clone(),
            Activities::Dynamo(d) => d.clone(),
        }
    }

    /// Generates `count` activities for `org` unless it already has some in `years`.
    pub async fn seed_if_empty(
        &self,
        org: &str,
        count: u64,
        years: RangeInclusive<i32>,
        seed: u64,
    ) -> PortResult<Option<u64>> {
        let query = ActivityQuery {
            org_id: org.to_string(),
            from: chrono::NaiveDate::from_ymd_opt(*years.start(), 1, 1).expect("a valid year"),
            to: chrono::NaiveDate::from_ymd_opt(*years.end(), 12, 31).expect("a valid year"),
            types: vec![],
        };
        if self.source().count(&query).await? > 0 {
            return Ok(None);
        }
        self.put_all(generate(org, count, years, seed)).await.map(Some)
    }
}

/// Everything `serve` runs, on either backend.
/// Work a server runs for ever beside its API.
pub type Task = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

pub struct Wired {
    /// The API's services, authenticating with the local tokens (API
    /// Gateway's authorizer is not in front of this server).
    pub state: ApiState,
    pub jwt: Arc<LocalJwt>,
    /// Routes the backend needs besides the API (signed downloads from
    /// disk, signed uploads to it).
    pub extra_routes: Option<Router>,
    /// The in-process runner, when exports run here.
    pub runner: Option<Arc<LocalRunner>>,
    pub activities: Activities,
    /// Where the data is, for the start-up line.
    pub location: String,
    /// What the server runs beside the API (delivering webhooks).
    pub background: Vec<Task>,
    /// What `GET /metrics` shows.
    pub metrics: Arc<PrometheusMetrics>,
}

pub async fn wire(
    args: &BackendArgs,
    runner: Option<Runner>,
    data_dir: &Path,
    base_url: &str,
    concurrency: usize,
    settings: Settings,
    import_settings: ImportSettings,
) -> anyhow::Result<Wired> {
    match (args.backend, runner.unwrap_or(default_runner(args.backend))) {
        (Backend::Embedded, Runner::StepFunctions) => bail!("--runner step-functions needs --backend aws"),
        (Backend::Embedded, Runner::Local) => {
            let app = EmbeddedApp::open_with(data_dir, base_url, concurrency, settings)?
                .with_import_settings(import_settings);
            let uploads = uploads_router("uploads", app.uploads.clone(), Some(app.upload_listener()))
                .merge(uploads_router("attachment-uploads", app.attachment_uploads.clone(), None));
            Ok(Wired {
                state: app.api_state(),
                jwt: app.jwt.clone(),
                extra_routes: Some(downloads_router(app.files.clone()).merge(uploads)),
                runner: Some(app.runner.clone()),
                activities: Activities::Sqlite(app.activities.clone()),
                location: format!("data in {}", app.data.root().display()),
                background: vec![Box::pin(app.deliver_webhooks())],
                metrics: app.metrics.clone(),
            })
        }
        (Backend::Aws, runner) => {
            let app = args
                .aws()
                .await?
                .with_limits(settings.max_in_flight, settings.stall_limit)
                .with_webhook_settings(settings.webhooks.clone())
                .with_import_settings(import_settings);
            // This process's own measurements, as on the embedded backend
            // (the functions in the stack write theirs to CloudWatch).
            let metrics = Arc::new(PrometheusMetrics::new());
            let app = app.with_metrics(metrics.clone());
            let data =
                DataDir::open(data_dir).with_context(|| format!("opening data directory {}", data_dir.display()))?;
            let location =
                format!("jobs in DynamoDB table {}, files in s3://{}", app.names.exports_table, app.names.files_bucket);
            let jwt = Arc::new(jwt_for(data_dir)?);
            let mut background: Vec<Task> = Vec::new();
            let (state, runner) = match runner {
                Runner::Local => {
                    // Whatever a killed process was writing is unusable.
                    data.clear_tmp()?;
                    let local =
                        LocalRunner::new(app.workflow_context(data.tmp_dir(), AWS_LOCAL_HEARTBEAT), concurrency);
                    // Imports run here too: this process reads the queue the
                    // bucket's notifications go to, as the import function would.
                    // Renewed often, so a restarted server soon takes over
                    // what the last one left (the import function's lease is
                    // its whole timeout).
                    let ctx = ImportContext {
                        progress_every: Duration::from_secs(1),
                        lease: IMPORT_LEASE,
                        ..import_context(&app, data.tmp_dir())
                    };
                    let imports: Arc<dyn ImportRunner> = Arc::new(LocalImportsHandle(LocalImports::new(ctx)));
                    if let Some(queue) = app.names.imports_queue_url.clone() {
                        let (sqs, prefix) = (app.clients.sqs.clone(), app.names.uploads_prefix.clone());
                        tokio::spawn(relay_imports(sqs, queue, prefix, imports.clone(), Duration::from_secs(1)));
                    }
                    // Webhooks too: this process reads the events queue as the
                    // delivery function would, and attempts the retries.
                    background.push(Box::pin(relay_events(
                        app.clients.sqs.clone(),
                        app.names.events_queue_url.clone(),
                        app.webhooks(),
                        Arc::new(webhooks::deliverer(&app)),
                        WEBHOOK_TICK,
                    )));
                    (app.api_state_with(Arc::new(RunnerHandle(local.clone())), imports), Some(local))
                }
                Runner::StepFunctions => (app.api_state()?, None),
            };
            Ok(Wired {
                state: ApiState { auth: jwt.clone(), ..state },
                jwt,
                extra_routes: None,
                runner,
                activities: Activities::Dynamo(app.activities.clone()),
                location,
                background,
                metrics,
            })
        }
    }
}

fn default_runner(backend: Backend) -> Runner {
    match backend {
        Backend::Embedded => Runner::Local,
        Backend::Aws => Runner::StepFunctions,
    }
}
