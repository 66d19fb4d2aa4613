//! The export domain: no storage, no HTTP, no AWS.

mod activity;
mod activity_check;
mod activity_shape;
mod attachment_request;
mod audit;
mod caller;
mod date;
mod failure;
mod ids;
mod import;
mod import_request;
mod job;
mod kommune;
mod org_id;
mod organisation;
mod profile;
mod request;
pub mod status;
mod submission;
mod webhook;
mod webhook_signature;
mod webhook_target;

pub use activity::*;
pub use activity_check::{Checker, checked_again};
pub use attachment_request::{ATTACHMENT_TYPES, CreateAttachmentRequest, MAX_ATTACHMENT_BYTES, ValidAttachmentRequest};
pub use audit::{AuditAction, AuditEntry, SYSTEM_WATCHDOG, SYSTEM_WORKFLOW};
pub use caller::{Caller, OrgScope};
pub use date::{DateError, YEARS, parse_iso_date};
pub use failure::{FailureCode, Fault, decode_failure, encode_failure, split_failure};
pub use ids::{AttachmentId, ExportId, ImportId, WebhookEndpointId};
pub use import::{
    IMPORT_TRANSITIONS, ImportFormat, ImportJob, ImportMove, ImportMoveRefused, ImportStatus, MAX_IMPORT_RUNS,
    MAX_KEPT_ERRORS, Period, RowError, next_import_status,
};
pub use import_request::{CreateImportRequest, PeriodRequest, ValidImportRequest};
pub use job::*;
pub use kommune::{KommuneError, check_kommunenummer, fylke_name, kommune_name};
pub use org_id::{OrgId, OrgIdError};
pub use organisation::{Organisation, OrganisationRequest, ValidOrganisation, parse_organisation_number};
pub use profile::{
    MissingAttachments, NotCountedReason, Profile, ProfileError, TypeRule, find_profile, known_profiles, load_builtin,
};
pub use request::*;
pub use status::{ExportStatus, Transition};
pub use submission::{BufdirSubmission, SubmissionStatus};
pub use webhook::*;
pub use webhook_signature::{SIGNATURE_HEADER, SIGNATURE_TOLERANCE_SECS, SignatureError, sign, verify};
pub use webhook_target::{MAX_URL_LEN, WebhookTargets, check_url, is_public};

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
