//! Ports: the narrow traits the services need from the outside world.
//! Each has an embedded implementation (SQLite, files on disk, the
//! in-process runner) and an AWS one (DynamoDB, S3, Step Functions, SQS);
//! the services never know which.

mod activity_source;
mod attachment_files;
mod attachment_uploads;
mod audit_log;
mod bufdir_submitter;
mod event_publisher;
mod file_store;
mod import_store;
mod job_store;
mod metrics;
mod organisation_store;
mod webhook_sender;
mod webhook_store;
mod workflow_starter;

pub use activity_source::*;
pub use attachment_files::*;
pub use attachment_uploads::*;
pub use audit_log::*;
pub use bufdir_submitter::*;
pub use event_publisher::*;
pub use file_store::*;
pub use import_store::*;
pub use job_store::*;
pub use metrics::*;
pub use organisation_store::*;
pub use webhook_sender::*;
pub use webhook_store::*;
pub use workflow_starter::*;

/// How an adapter call went wrong, in the terms the services act on.
#[derive(Clone, Debug, thiserror::Error)]
pub enum PortError {
    /// A conditional write lost: the record changed or already exists.
    #[error("conflict: the record changed or already exists")]
    Conflict,
    /// The write would give an organisation more exports queued or running
    /// than the job store's cap; nothing was written.
    #[error("the organisation has the most exports queued or running")]
    InFlightCapReached,
    /// The write would take an organisation over a store-enforced count
    /// (its webhook endpoints); nothing was written.
    #[error("the organisation has the most it may have")]
    LimitReached,
    /// Worth trying again (a busy database, a dropped connection, throttling).
    #[error("transient: {0}")]
    Transient(String),
    /// Trying again will not help.
    #[error("{0}")]
    Permanent(String),
}

pub type PortResult<T> = Result<T, PortError>;
