//! Attachments uploaded through the API: a caller announces a file (name,
//! type, size) and gets a signed link to upload it to; an activity then
//! names its key, and writing that activity claims the file so it is kept
//! (see `AttachmentUploads`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::ServiceError;
use super::access::acting_for;
use crate::domain::{Activity, AttachmentId, Caller, CreateAttachmentRequest};
use crate::ports::{AttachmentUploads, UploadTarget};

/// How long an attachment's upload link works.
pub const ATTACHMENT_UPLOAD_TTL: Duration = Duration::from_secs(3600);

pub struct AttachmentView {
    pub attachment_id: AttachmentId,
    pub org_id: String,
    /// What the activity's attachment names as its `key`.
    pub key: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
    pub upload: UploadTarget,
    pub created_at: DateTime<Utc>,
}

pub struct AttachmentService {
    uploads: Arc<dyn AttachmentUploads>,
}

impl AttachmentService {
    pub fn new(uploads: Arc<dyn AttachmentUploads>) -> Self {
        AttachmentService { uploads }
    }

    pub async fn create(
        &self,
        caller: &Caller,
        request: &CreateAttachmentRequest,
    ) -> Result<AttachmentView, ServiceError> {
        let valid = request.validate().map_err(ServiceError::Validation)?;
        let org_id = acting_for(caller, valid.org_id.clone())?;
        let now = Utc::now();
        let attachment_id = AttachmentId::generate(now.date_naive());
        let key = format!("{org_id}/{attachment_id}/{}", valid.key_name());
        let upload = self.uploads.signed_upload(&key, valid.size_bytes, ATTACHMENT_UPLOAD_TTL).await?;
        info!(attachment_id = %attachment_id, org_id = %org_id, "attachment upload link made");
        Ok(AttachmentView {
            attachment_id,
            org_id,
            key,
            filename: valid.filename,
            content_type: valid.content_type,
            size_bytes: valid.size_bytes,
            upload,
            created_at: now,
        })
    }
}

impl AttachmentService {
    /// Removes uploads no activity claimed within [`UNCLAIMED_TTL`].
    pub async fn expire_unclaimed(&self, now: DateTime<Utc>) -> Result<u64, ServiceError> {
        let cutoff = now - chrono::Duration::from_std(UNCLAIMED_TTL).unwrap_or(chrono::Duration::days(7));
        Ok(self.uploads.expire_unclaimed(cutoff).await?)
    }
}

/// How long an uploaded attachment waits for an activity to name it (the
/// bucket's lifecycle rule on AWS says the same).
pub const UNCLAIMED_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Claims every uploaded file the activities name. A claim that fails
/// leaves the file where it was; the activity is stored either way, and an
/// export that bundles attachments names any file it cannot find.
pub async fn claim_attachments(uploads: &dyn AttachmentUploads, activities: &[Activity]) {
    for a in activities {
        for attachment in &a.attachments {
            if let Err(e) = uploads.claim(&attachment.key).await {
                warn!(activity_id = %a.activity_id, error = %e, "an uploaded attachment was not claimed");
            }
        }
    }
}
