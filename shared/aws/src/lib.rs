//! AWS adapters: jobs and activities in DynamoDB, reports in S3, events on
//! SQS, the workflow in Step Functions, callers from API Gateway's JWT
//! authorizer. Configured only from the environment (see [`config`]).
//! What the API Lambdas link: no report writer, no SQLite, no RSA.

mod activities;
mod api_function;
mod app;
mod attachment_files;
pub mod attachment_sweep;
pub mod attr;
mod audit_log;
mod auth;
mod bufdir_outbox;
pub mod config;
pub mod console;
mod erase;
mod errors;
mod events;
pub mod expired;
mod file_store;
mod import_queue;
mod import_store;
mod index_query;
mod job_store;
pub mod logging;
pub mod metrics;
mod organisations;
mod presigned_post;
pub mod provision;
mod transact;
pub mod watchdog;
mod webhook_store;
mod workflow;
pub mod xray;

pub use activities::{DynamoActivities, DynamoActivityWriter, MONTHS_IN_FLIGHT, Reads, activity_item, months};
pub use api_function::{api_function, run_api};
pub use app::{AwsApp, NoReceiver, api_state_from_env};
pub use attachment_files::{S3AttachmentUploads, S3Attachments};
pub use audit_log::DynamoAuditLog;
pub use auth::{ApiGatewayAuthenticator, verified_claims};
pub use bufdir_outbox::{S3BufdirOutbox, reference_for};
pub use config::{AwsNames, BufdirReceiver, Clients, ConfigError};
pub use events::SqsEventPublisher;
pub use file_store::{MULTIPART_THRESHOLD, PART_SIZE, S3FileStore};
pub use import_queue::{SqsImportRunner, imports_in_message, relay_imports};
pub use import_store::{DynamoImportStore, IMPORTS_BY_ALL, IMPORTS_BY_ORG, IMPORTS_OPEN};
pub use job_store::{DynamoJobStore, INDEX_ACTIVE, INDEX_BY_ALL, INDEX_BY_ORG, SHARDS};
pub use metrics::EmfMetrics;
pub use organisations::DynamoOrganisations;
pub use webhook_store::{DynamoWebhookStore, WEBHOOKS_BY_ORG, WEBHOOKS_DUE, WEBHOOKS_PENDING_BY_SUBJECT};
pub use workflow::{StepFunctionsStarter, execution_arn, execution_name};

use bufdir_core::{backoff, domain, http, ports, service};
