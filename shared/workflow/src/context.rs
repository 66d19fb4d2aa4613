use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::ports::{
    ActivitySource, AttachmentFiles, AuditLog, BufdirSubmitter, EventPublisher, FileStore, JobStore, Metrics,
    OrganisationStore,
};

use super::RetryPolicy;

/// What the workflow steps need: the ports, a private working directory
/// for files being written, and timing.
#[derive(Clone)]
pub struct WorkflowContext {
    pub jobs: Arc<dyn JobStore>,
    pub activities: Arc<dyn ActivitySource>,
    /// Read only when an export includes the attachment files.
    pub attachments: Arc<dyn AttachmentFiles>,
    pub files: Arc<dyn FileStore>,
    pub events: Arc<dyn EventPublisher>,
    pub metrics: Arc<dyn Metrics>,
    pub audit: Arc<dyn AuditLog>,
    pub submitter: Arc<dyn BufdirSubmitter>,
    /// The organisation's name and number, for the report and the submission.
    pub organisations: Arc<dyn OrganisationStore>,
    /// Reports are written here and moved to the file store when whole.
    pub work_dir: PathBuf,
    /// How long a finished file is kept.
    pub file_retention: chrono::Duration,
    /// How often a running step records progress and checks it still owns the job.
    pub heartbeat: Duration,
    pub retry: RetryPolicy,
}
