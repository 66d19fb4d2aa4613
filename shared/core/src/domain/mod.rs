//! The export domain: no storage, no HTTP, no AWS.

mod activity;
mod caller;
mod date;
mod export_id;
mod job;
mod org_id;
mod profile;
mod request;
pub mod status;
mod submission;

pub use activity::*;
pub use caller::{Caller, OrgScope};
pub use date::{DateError, YEARS, parse_iso_date};
pub use export_id::ExportId;
pub use job::*;
pub use org_id::{OrgId, OrgIdError};
pub use profile::{
    MissingAttachments, NotCountedReason, Profile, ProfileError, TypeRule, find_profile, known_profiles, load_builtin,
};
pub use request::*;
pub use status::{ExportStatus, Transition};
pub use submission::{BufdirSubmission, SubmissionStatus};

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
