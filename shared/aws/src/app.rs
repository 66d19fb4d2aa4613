//! Wires the AWS adapters into the service, as every API Lambda, the
//! watchdog and `serve --backend aws` use them; the step Lambdas add the
//! workflow on top (`bufdir-aws-steps`). Built once per cold start.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::config::{self, AwsNames, BufdirReceiver, Clients, ConfigError, STATE_MACHINE_ARN};
use super::{
    ApiGatewayAuthenticator, DynamoActivities, DynamoAuditLog, DynamoImportStore, DynamoJobStore, DynamoOrganisations,
    DynamoWebhookStore, S3AttachmentUploads, S3Attachments, S3BufdirOutbox, S3FileStore, SqsEventPublisher,
    SqsImportRunner, StepFunctionsStarter,
};
use crate::domain::{FailureCode, encode_failure};
use crate::http::{ApiState, ClaimRules};
use crate::metrics::EmfMetrics;
use crate::ports::{BufdirSubmitter, Metrics, NoMetrics, PortError, PortResult, Receipt, Submission, WorkflowStarter};
use crate::service::{
    ActivityService, AttachmentService, ErasurePorts, ErasureService, ExportService, ImportPorts, ImportRunner,
    ImportService, ImportSettings, OrganisationService, Ports, Settings, WebhookService, WebhookSettings,
};

#[derive(Clone)]
pub struct AwsApp {
    pub names: AwsNames,
    pub clients: Clients,
    pub settings: Settings,
    pub import_settings: ImportSettings,
    pub jobs: Arc<DynamoJobStore>,
    pub imports: Arc<DynamoImportStore>,
    pub organisations: Arc<DynamoOrganisations>,
    /// Import files, uploaded straight to S3 with a presigned POST.
    pub uploads: Arc<S3FileStore>,
    /// Attachment files uploaded through the API, until an activity claims them.
    pub attachment_uploads: Arc<S3AttachmentUploads>,
    pub activities: Arc<DynamoActivities>,
    pub files: Arc<S3FileStore>,
    pub events: Arc<SqsEventPublisher>,
    pub webhook_store: Arc<DynamoWebhookStore>,
    pub audit: Arc<DynamoAuditLog>,
    pub outbox: Arc<S3BufdirOutbox>,
    /// Where the Submit step hands reports: the S3 outbox, or Bufdir's
    /// receiver over HTTP once `bufdir-aws-steps` has built it.
    pub submitter: Arc<dyn BufdirSubmitter>,
    /// Where the API finds a caller's organisations and admin role.
    pub claim_rules: ClaimRules,
    /// Where measurements go: EMF lines on stdout in a Lambda (`from_env`),
    /// nowhere unless a caller says otherwise.
    pub metrics: Arc<dyn Metrics>,
}

impl AwsApp {
    pub fn new(names: AwsNames, clients: Clients, settings: Settings) -> Self {
        let import_settings = ImportSettings::default();
        let jobs = Arc::new(
            DynamoJobStore::new(clients.dynamodb.clone(), &names.exports_table, names.job_retention)
                .with_in_flight_cap(settings.max_in_flight),
        );
        let mut activities = DynamoActivities::new(clients.dynamodb.clone(), &names.activities_table);
        if let Some(items) = names.activities_page_size {
            activities = activities.with_page_size(items as i32);
        }
        let activities = Arc::new(activities);
        let files = Arc::new(S3FileStore::new(clients.s3.clone(), &names.files_bucket, &names.files_prefix));
        let events = Arc::new(SqsEventPublisher::new(clients.sqs.clone(), &names.events_queue_url));
        let outbox = Arc::new(S3BufdirOutbox::new(clients.s3.clone(), &names.files_bucket, &names.outbox_prefix));
        let imports =
            Arc::new(DynamoImportStore::new(clients.dynamodb.clone(), &names.imports_table, names.job_retention));
        let organisations = Arc::new(DynamoOrganisations::new(clients.dynamodb.clone(), &names.activities_table));
        let webhook_store = Arc::new(DynamoWebhookStore::new(clients.dynamodb.clone(), &names.webhooks_table));
        let audit =
            Arc::new(DynamoAuditLog::new(clients.dynamodb.clone(), &names.audit_table, settings.audit_retention));
        let uploads = Arc::new(
            S3FileStore::new(clients.s3.clone(), &names.files_bucket, &names.uploads_prefix)
                .with_uploads_signed_by(&clients.sdk),
        );
        let attachment_uploads = Arc::new(S3AttachmentUploads::new(
            S3FileStore::new(clients.s3.clone(), &names.attachments_bucket, config::ATTACHMENT_UPLOADS_PREFIX)
                .with_uploads_signed_by(&clients.sdk),
            clients.s3.clone(),
            config::ATTACHMENT_UPLOADS_PREFIX,
            &S3Attachments::new(clients.s3.clone(), &names.attachments_bucket, &names.attachments_prefix),
        ));
        AwsApp {
            names,
            clients,
            settings,
            import_settings,
            jobs,
            imports,
            organisations,
            uploads,
            attachment_uploads,
            activities,
            files,
            events,
            webhook_store,
            audit,
            submitter: outbox.clone(),
            outbox,
            claim_rules: ClaimRules::default(),
            metrics: Arc::new(NoMetrics),
        }
    }

    /// The limits a local server was given on its command line in place of
    /// the environment's: the in-flight cap (in the service's answers and
    /// in the job store that enforces it) and the watchdog's stall limit.
    pub fn with_limits(mut self, max_in_flight: u32, stall_limit: Duration) -> Self {
        self.settings.max_in_flight = max_in_flight;
        self.settings.stall_limit = stall_limit;
        self.jobs = Arc::new((*self.jobs).clone().with_in_flight_cap(max_in_flight));
        self
    }

    /// Webhook targets and retries from a local server's flags.
    pub fn with_webhook_settings(mut self, webhooks: WebhookSettings) -> Self {
        self.settings.webhooks = webhooks;
        self
    }

    pub fn with_import_settings(mut self, import_settings: ImportSettings) -> Self {
        self.import_settings = import_settings;
        self
    }

    /// Records measurements in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<dyn Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Submits to `submitter` instead of the S3 outbox.
    pub fn with_submitter(mut self, submitter: Arc<dyn BufdirSubmitter>) -> Self {
        self.submitter = submitter;
        self
    }

    /// Names and settings from the environment, clients from the SDK's chain.
    /// Submissions go to the outbox when `BUFDIR_OUTBOX=enabled`; a process
    /// that submits over HTTP adds the receiver (`bufdir-aws-steps`).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let names = AwsNames::from_env()?;
        let settings = config::settings_from_env()?;
        let mut app = AwsApp::new(names, Clients::from_env().await, settings)
            .with_import_settings(config::import_settings_from_env()?);
        app.claim_rules = config::claim_rules_from_env()?;
        app.metrics = Arc::new(EmfMetrics::stdout(&config::metrics_namespace_from_env()));
        Ok(match BufdirReceiver::from_env()? {
            BufdirReceiver::Outbox => app,
            BufdirReceiver::Http => app.with_submitter(Arc::new(NoReceiver(
                "this process was started without the Bufdir receiver's settings; only the Submit step submits",
            ))),
            BufdirReceiver::None => app.with_submitter(Arc::new(NoReceiver(
                "no Bufdir receiver is configured (BUFDIR_RECEIVER_URL is empty and BUFDIR_OUTBOX is not enabled)",
            ))),
        })
    }

    /// The Step Functions starter for the stack's state machine.
    pub fn step_functions(&self) -> Result<StepFunctionsStarter, ConfigError> {
        let arn = self.names.state_machine_arn.clone().ok_or(ConfigError::Missing(STATE_MACHINE_ARN))?;
        StepFunctionsStarter::new(self.clients.sfn.clone(), arn)
            .map_err(|e| ConfigError::Invalid(STATE_MACHINE_ARN, e.to_string()))
    }

    /// The service's ports, with `workflow` running the exports (Step
    /// Functions in the stack, or the in-process runner for `--runner local`).
    pub fn ports(&self, workflow: Arc<dyn WorkflowStarter>) -> Ports {
        Ports {
            jobs: self.jobs.clone(),
            activities: self.activities.clone(),
            files: self.files.clone(),
            workflow,
            events: self.events.clone(),
            metrics: self.metrics.clone(),
            audit: self.audit.clone(),
            submitter: self.submitter.clone(),
        }
    }

    pub fn service(&self, workflow: Arc<dyn WorkflowStarter>) -> Arc<ExportService> {
        Arc::new(
            ExportService::new(self.ports(workflow), self.settings.clone())
                .with_organisations(self.organisations.clone()),
        )
    }

    /// Imports, started by `runner` when the sweep finds one to start
    /// again (the imports queue in the stack, the in-process runner for
    /// `--runner local`).
    pub fn import_service(&self, runner: Arc<dyn ImportRunner>) -> Arc<ImportService> {
        Arc::new(ImportService::new(
            ImportPorts { imports: self.imports.clone(), uploads: self.uploads.clone(), runner },
            self.import_settings.clone(),
        ))
    }

    /// Webhook endpoints; events make their deliveries here too.
    pub fn webhooks(&self) -> Arc<WebhookService> {
        Arc::new(WebhookService::new(self.webhook_store.clone(), self.settings.webhooks.clone()))
    }

    /// Starts imports by putting them on the imports queue.
    pub fn import_queue(&self) -> Arc<SqsImportRunner> {
        Arc::new(SqsImportRunner::new(self.clients.sqs.clone(), self.names.imports_queue_url.clone()))
    }

    /// What the API's routes need, with exports run by `workflow` and
    /// imports started again by `imports`; the caller comes from the JWT
    /// authorizer's claims.
    pub fn api_state_with(&self, workflow: Arc<dyn WorkflowStarter>, imports: Arc<dyn ImportRunner>) -> ApiState {
        let service = self.service(workflow);
        ApiState {
            service: service.clone(),
            imports: self.import_service(imports),
            activities: Arc::new(
                ActivityService::new(self.activities.clone(), self.organisations.clone())
                    .with_attachment_uploads(self.attachment_uploads.clone()),
            ),
            organisations: Arc::new(OrganisationService::new(self.organisations.clone())),
            erasure: Arc::new(ErasureService::new(ErasurePorts {
                exports: service.clone(),
                activities: self.activities.clone(),
                attachments: self.attachment_uploads.clone(),
                imports: self.imports.clone(),
                import_files: self.uploads.clone(),
                webhooks: self.webhook_store.clone(),
                organisations: self.organisations.clone(),
            })),
            attachments: Arc::new(AttachmentService::new(self.attachment_uploads.clone())),
            webhooks: self.webhooks(),
            auth: Arc::new(ApiGatewayAuthenticator::new(self.claim_rules.clone())),
        }
    }

    /// The API behind API Gateway: exports run in Step Functions, imports
    /// in the import function (the bucket's notification starts them).
    pub fn api_state(&self) -> Result<ApiState, ConfigError> {
        Ok(self.api_state_with(Arc::new(self.step_functions()?), self.import_queue()))
    }
}

/// Everything an API Lambda needs, from the environment.
pub async fn api_state_from_env() -> Result<ApiState, ConfigError> {
    AwsApp::from_env().await?.api_state()
}

/// The submitter of a process that has no receiver to submit to. The API
/// refuses such exports when they are created; this catches one created
/// before the configuration changed, and says why instead of pretending.
pub struct NoReceiver(pub &'static str);

#[async_trait]
impl BufdirSubmitter for NoReceiver {
    async fn submit(&self, _: &Submission, _: &Path) -> PortResult<Receipt> {
        Err(PortError::Permanent(encode_failure(FailureCode::ReceiverNotConfigured, self.0)))
    }
}
