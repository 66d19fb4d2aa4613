//! Services: what the API and the command-line tool can ask for. They
//! speak only to ports, so the same code runs on SQLite and on AWS.

mod access;
mod activities;
mod attachments;
pub mod audit;
mod erasure;
mod error;
mod estimate;
mod exports;
mod housekeeping;
mod idempotency;
mod imports;
pub mod measure;
mod organisations;
mod webhook_delivery;
mod webhook_target;
mod webhooks;

pub use activities::{ActivityPage, ActivityService, Judged, MAX_PAGE, MAX_PUT, PageRequest};
pub use attachments::{
    ATTACHMENT_UPLOAD_TTL, AttachmentService, AttachmentView, RELEASE_GRACE, ReleasedAttachments, UNCLAIMED_TTL,
    claim_attachments, release_unnamed_attachments,
};
pub use erasure::{Erased, ErasurePorts, ErasureService};
pub use error::ServiceError;
pub use estimate::{DEFAULT_ROWS_PER_SECOND, estimate_seconds};
pub use exports::*;
pub use housekeeping::{WATCHDOG_ACTED, WatchdogReport};
pub use idempotency::{Created, IdempotencyKey, KEY_TTL_HOURS, MAX_KEY_LEN};
pub use imports::{ImportPorts, ImportRunner, ImportService, ImportSettings, ImportView, import_of_upload, upload_key};
pub use organisations::OrganisationService;
pub use webhook_delivery::{Attempted, FanOutPublisher, WebhookDeliverer, envelope};
pub use webhooks::{MAX_DELIVERIES_LISTED, TargetError, WebhookService, WebhookSettings, WithSecret, resolve_target};
