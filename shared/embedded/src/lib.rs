//! Embedded adapters: everything in one data directory on one machine.
//! SQLite for jobs and activities, plain files for reports, a JSON Lines
//! outbox for events, a local receiver standing in for Bufdir, the local
//! server's own tokens, and the demo data it can seed.

mod activity_body;
mod activity_import;
mod activity_store;
mod app;
mod attachment_files;
mod attachment_uploads;
mod audit_log;
mod bufdir_receiver;
mod data_dir;
pub mod demo;
mod event_outbox;
mod file_store;
mod import_store;
mod job_store;
mod jwt;
mod metrics;
mod organisations;
pub mod sqlite;
mod webhook_store;

pub use activity_store::{ActivityWriter, SqliteActivities};
pub use app::{EmbeddedApp, IMPORT_LEASE, StartImport, WEBHOOK_TICK, jwt_for};
pub use attachment_files::DiskAttachments;
pub use attachment_uploads::DiskAttachmentUploads;
pub use audit_log::SqliteAuditLog;
pub use bufdir_receiver::LocalBufdirReceiver;
pub use data_dir::DataDir;
pub use event_outbox::JsonlEventOutbox;
pub use file_store::DiskFileStore;
pub use import_store::SqliteImportStore;
pub use job_store::SqliteJobStore;
pub use jwt::{LOCAL_AUDIENCE, LOCAL_ISSUER, LocalJwt};
pub use metrics::PrometheusMetrics;
pub use organisations::SqliteOrganisations;
pub use webhook_store::SqliteWebhookStore;

use bufdir_core::{domain, http, ports, service};
use bufdir_workflow as workflow;
