//! Wires the embedded adapters into the service and the in-process
//! runner: the whole export service in one data directory. Used by the
//! `bufdir-exports` program and by tests.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{
    DataDir, DiskAttachmentUploads, DiskAttachments, DiskFileStore, JsonlEventOutbox, LocalBufdirReceiver,
    SqliteActivities, SqliteImportStore, SqliteJobStore, SqliteOrganisations, SqliteWebhookStore,
};
use crate::http::ApiState;
use crate::http::uploads::UploadListener;
use crate::ports::{AttachmentUploads, UploadRefused};
use crate::ports::{BufdirSubmitter, EventPublisher};
use crate::service::{
    ActivityService, AttachmentService, ErasurePorts, ErasureService, ExportService, FanOutPublisher, ImportPorts,
    ImportService, ImportSettings, OrganisationService, Ports, Settings, WebhookDeliverer, WebhookService,
};
use crate::workflow::{LocalRunner, RetryPolicy, RunnerHandle, WorkflowContext};
use crate::{LocalJwt, PrometheusMetrics, SqliteAuditLog};
use anyhow::Context;
use bufdir_import::local::{LocalImports, LocalImportsHandle};
use bufdir_import::run::ImportContext;
use bufdir_maskinporten::{BufdirApiConfig, HttpBufdirSubmitter};
use bufdir_webhooks::HttpWebhookSender;
use tokio::sync::Notify;

pub struct EmbeddedApp {
    pub data: DataDir,
    pub jobs: Arc<SqliteJobStore>,
    pub activities: Arc<SqliteActivities>,
    pub files: Arc<DiskFileStore>,
    /// Import files, uploaded through the local server's `/uploads/...`.
    pub uploads: Arc<DiskFileStore>,
    /// Attachment files, uploaded through `/attachment-uploads/...`.
    pub attachment_uploads: Arc<DiskFileStore>,
    pub attachment_service: Arc<AttachmentService>,
    pub runner: Arc<LocalRunner>,
    pub import_runner: Arc<LocalImports>,
    /// What an import runs with, for running one in the caller's task (the command-line tool).
    pub import_context: ImportContext,
    pub service: Arc<ExportService>,
    pub imports: Arc<ImportService>,
    pub activity_service: Arc<ActivityService>,
    pub organisations: Arc<OrganisationService>,
    pub erasure: Arc<ErasureService>,
    pub webhooks: Arc<WebhookService>,
    pub deliverer: Arc<WebhookDeliverer>,
    /// Notified when an event made deliveries, so they go out at once.
    pub webhook_wake: Arc<Notify>,
    pub jwt: Arc<LocalJwt>,
    /// What the local server renders at `GET /metrics`.
    pub metrics: Arc<PrometheusMetrics>,
    /// The exports' audit trail, which outlives a deleted export.
    pub audit: Arc<SqliteAuditLog>,
}

/// How often the local server looks for webhook retries that came due.
pub const WEBHOOK_TICK: Duration = Duration::from_millis(500);

/// How long an import run's claim lasts unrenewed here: it is renewed
/// four times a second, and a restarted server takes over a dead run's
/// import this long after it stopped.
pub const IMPORT_LEASE: Duration = Duration::from_secs(15);

/// Purposes of the keys derived from the data directory's secret.
const TOKEN_KEY: &str = "jwt-hs256";
const URL_KEY: &str = "download-urls";
const UPLOAD_KEY: &str = "upload-urls";
const ATTACHMENT_UPLOAD_KEY: &str = "attachment-upload-urls";

pub fn jwt_for(data_dir: &Path) -> anyhow::Result<LocalJwt> {
    let data = DataDir::open(data_dir).with_context(|| format!("opening data directory {}", data_dir.display()))?;
    Ok(LocalJwt::new(&data.secret(TOKEN_KEY)?))
}

impl EmbeddedApp {
    /// `base_url` is where the server answers; download links point there.
    pub fn open(data_dir: &Path, base_url: &str, concurrency: usize) -> anyhow::Result<EmbeddedApp> {
        Self::open_with(data_dir, base_url, concurrency, Settings::default())
    }

    pub fn open_with(
        data_dir: &Path,
        base_url: &str,
        concurrency: usize,
        settings: Settings,
    ) -> anyhow::Result<EmbeddedApp> {
        Self::open_submitting_to(data_dir, base_url, concurrency, settings, None)
    }

    /// As `open_with`, handing reports to `submitter` instead of the one
    /// the environment configures.
    pub fn open_submitting_to(
        data_dir: &Path,
        base_url: &str,
        concurrency: usize,
        settings: Settings,
        submitter: Option<Arc<dyn BufdirSubmitter>>,
    ) -> anyhow::Result<EmbeddedApp> {
        let data = DataDir::open(data_dir).with_context(|| format!("opening data directory {}", data_dir.display()))?;
        // Whatever was being written when the last process stopped is unusable.
        data.clear_tmp()?;
        let jobs = Arc::new(SqliteJobStore::open(&data.db_path())?.with_in_flight_cap(settings.max_in_flight));
        let activities = Arc::new(SqliteActivities::open(&data.activities_db_path())?);
        let files = Arc::new(DiskFileStore::new(data.files_dir(), base_url, data.secret(URL_KEY)?)?);
        let metrics = Arc::new(PrometheusMetrics::new());
        let audit = Arc::new(SqliteAuditLog::open(&data.db_path(), settings.audit_retention)?);
        let webhook_store = Arc::new(SqliteWebhookStore::open(&data.db_path())?);
        let webhooks = Arc::new(WebhookService::new(webhook_store.clone(), settings.webhooks.clone()));
        let sender = HttpWebhookSender::new(settings.webhooks.targets.clone(), settings.webhooks.timeout);
        let deliverer = Arc::new(
            WebhookDeliverer::new(webhook_store.clone(), Arc::new(sender), settings.webhooks.clone())
                .with_metrics(metrics.clone()),
        );
        let webhook_wake = Arc::new(Notify::new());
        // Events go to the outbox file, and each makes its webhook deliveries.
        let events: Arc<dyn EventPublisher> = Arc::new(FanOutPublisher {
            inner: Arc::new(JsonlEventOutbox::open(&data.events_path())?),
            webhooks: webhooks.clone(),
            wake: webhook_wake.clone(),
        });
        // A configured receiver (BUFDIR_RECEIVER_URL and the MASKINPORTEN_*
        // settings) gets the reports; otherwise the local receiver keeps them
        // in the data directory, since Bufdir publishes no API of its own.
        let submitter: Arc<dyn BufdirSubmitter> = match submitter {
            Some(given) => given,
            None => match BufdirApiConfig::from_env().map_err(|e| anyhow::anyhow!("{e}"))? {
                Some(config) => {
                    Arc::new(HttpBufdirSubmitter::from_config(&config).map_err(|e| anyhow::anyhow!("{e}"))?)
                }
                None => Arc::new(LocalBufdirReceiver::new(data.bufdir_outbox_dir())?),
            },
        };
        let organisation_store = Arc::new(SqliteOrganisations::open(&data.db_path())?);
        let runner = LocalRunner::new(
            WorkflowContext {
                jobs: jobs.clone(),
                activities: activities.clone(),
                attachments: Arc::new(DiskAttachments::new(data.attachments_dir())),
                files: files.clone(),
                events: events.clone(),
                metrics: metrics.clone(),
                audit: audit.clone(),
                submitter: submitter.clone(),
                organisations: organisation_store.clone(),
                work_dir: data.tmp_dir(),
                file_retention: settings.file_retention,
                heartbeat: Duration::from_millis(250),
                retry: RetryPolicy::default(),
            },
            concurrency,
        );
        let service = Arc::new(
            ExportService::new(
                Ports {
                    jobs: jobs.clone(),
                    activities: activities.clone(),
                    files: files.clone(),
                    workflow: Arc::new(RunnerHandle(runner.clone())),
                    events: events.clone(),
                    metrics: metrics.clone(),
                    audit: audit.clone(),
                    submitter,
                },
                settings,
            )
            .with_organisations(organisation_store.clone()),
        );
        let uploads =
            Arc::new(DiskFileStore::new(data.uploads_dir(), base_url, data.secret(UPLOAD_KEY)?)?.served_at("uploads"));
        let import_store = Arc::new(SqliteImportStore::open(&data.db_path())?);
        let attachment_uploads = Arc::new(
            DiskFileStore::new(data.attachment_uploads_dir(), base_url, data.secret(ATTACHMENT_UPLOAD_KEY)?)?
                .served_at("attachment-uploads"),
        );
        let claims: Arc<dyn AttachmentUploads> = Arc::new(DiskAttachmentUploads::new(
            attachment_uploads.clone(),
            data.attachment_uploads_dir(),
            data.attachments_dir(),
        ));
        let import_context = ImportContext {
            imports: import_store.clone(),
            activities: activities.clone(),
            uploads: uploads.clone(),
            work_dir: data.tmp_dir(),
            progress_every: Duration::from_millis(250),
            lease: IMPORT_LEASE,
            attachments: Some(claims.clone()),
            events: Some(events.clone()),
            metrics: metrics.clone(),
        };
        let import_runner = LocalImports::new(import_context.clone());
        let erasure = Arc::new(ErasureService::new(ErasurePorts {
            exports: service.clone(),
            activities: activities.clone(),
            attachments: claims.clone(),
            imports: import_store.clone(),
            import_files: uploads.clone(),
            webhooks: webhook_store,
            organisations: organisation_store.clone(),
        }));
        let imports = Arc::new(ImportService::new(
            ImportPorts {
                imports: import_store,
                uploads: uploads.clone(),
                runner: Arc::new(LocalImportsHandle(import_runner.clone())),
            },
            ImportSettings::default(),
        ));
        let activity_service = Arc::new(
            ActivityService::new(activities.clone(), organisation_store.clone())
                .with_attachment_uploads(claims.clone()),
        );
        let attachment_service = Arc::new(AttachmentService::new(claims));
        let organisations = Arc::new(OrganisationService::new(organisation_store));
        let jwt = Arc::new(LocalJwt::new(&data.secret(TOKEN_KEY)?));
        Ok(EmbeddedApp {
            data,
            jobs,
            activities,
            files,
            uploads,
            attachment_uploads,
            attachment_service,
            runner,
            import_runner,
            import_context,
            service,
            imports,
            activity_service,
            organisations,
            erasure,
            webhooks,
            deliverer,
            webhook_wake,
            jwt,
            metrics,
            audit,
        })
    }

    /// Delivers webhooks in this process, for ever: spawn it once.
    pub fn deliver_webhooks(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.deliverer.clone().run_deliveries(self.webhook_wake.clone(), WEBHOOK_TICK)
    }

    /// The same imports with other limits (the server's flags).
    pub fn with_import_settings(mut self, settings: ImportSettings) -> Self {
        self.imports = Arc::new(self.imports.reconfigured(settings));
        self
    }

    /// What the API's routes need, authenticating with the local tokens.
    pub fn api_state(&self) -> ApiState {
        ApiState {
            service: self.service.clone(),
            imports: self.imports.clone(),
            activities: self.activity_service.clone(),
            organisations: self.organisations.clone(),
            erasure: self.erasure.clone(),
            attachments: self.attachment_service.clone(),
            webhooks: self.webhooks.clone(),
            auth: self.jwt.clone(),
        }
    }

    /// What hears that an import's file arrived on the local server.
    pub fn upload_listener(&self) -> Arc<dyn UploadListener> {
        Arc::new(StartImport(self.imports.clone()))
    }
}

/// Starts the import a file arrived for.
pub struct StartImport(pub Arc<ImportService>);

#[async_trait::async_trait]
impl UploadListener for StartImport {
    async fn refuses(&self, key: &str) -> Option<UploadRefused> {
        self.0.upload_refused(key).await.unwrap_or_else(|e| {
            // The store still refuses a second file for a key it holds.
            tracing::warn!(error = %e, "an upload's import could not be looked up; the file is taken");
            None
        })
    }

    async fn uploaded(&self, key: &str) {
        if let Err(e) = self.0.uploaded(key).await {
            tracing::warn!(error = %e, "an uploaded import was not started; the next sweep starts it");
        }
    }
}
