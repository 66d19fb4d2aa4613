//! Attachments uploaded through the API: a caller announces a file (name,
//! type, size) and gets a signed link to upload it to; an activity then
//! names its key, and writing that activity claims the file so it is kept
//! (see `AttachmentUploads`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use tracing::{info, warn};

use super::ServiceError;
use super::access::acting_for;
use crate::domain::{Activity, AttachmentId, Caller, CreateAttachmentRequest};
use crate::ports::{ActivityQuery, ActivitySource, AttachmentUploads, UploadTarget};

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

    /// [`release_unnamed_attachments`] over this service's uploads.
    pub async fn release_unnamed(
        &self,
        activities: &dyn ActivitySource,
        now: DateTime<Utc>,
    ) -> Result<ReleasedAttachments, ServiceError> {
        release_unnamed_attachments(self.uploads.as_ref(), activities, now).await
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

/// How long a claimed file is left alone before a sweep may find it
/// unnamed: longer than any write that stores an activity and then claims
/// what it names.
pub const RELEASE_GRACE: Duration = Duration::from_secs(24 * 3600);

/// What one sweep of the claimed attachment files did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReleasedAttachments {
    /// Organisations whose activities were read.
    pub organisations: u64,
    /// Claimed files old enough to be looked at.
    pub checked: u64,
    /// Of those, the files no activity names, moved back to wait.
    pub released: u64,
}

/// Moves every claimed file that no activity names any more (its activity
/// was deleted, replaced without it, or removed by an import's
/// `replace_period`) back among the waiting uploads, where it expires
/// after [`UNCLAIMED_TTL`] unless an activity names it again. Moving rather
/// than deleting means a file caught between an activity's removal and a
/// write naming it again is not lost. Each organisation's activities are
/// read once, as a stream, and only when it has files to check; what is
/// kept in memory is those files' keys.
pub async fn release_unnamed_attachments(
    uploads: &dyn AttachmentUploads,
    activities: &dyn ActivitySource,
    now: DateTime<Utc>,
) -> Result<ReleasedAttachments, ServiceError> {
    let cutoff = now - chrono::Duration::from_std(RELEASE_GRACE).unwrap_or(chrono::Duration::days(1));
    let mut done = ReleasedAttachments::default();
    let mut failure = None;
    // A folder that is no organisation's id holds no file an activity can
    // name: someone else's, left alone.
    let owners = uploads.claimed_owners().await?.into_iter().filter(|o| crate::domain::OrgId::parse(o).is_ok());
    for org_id in owners {
        // One organisation's failure does not hold up the others'.
        if let Err(e) = release_for(uploads, activities, &org_id, cutoff, &mut done).await {
            warn!(org_id = %org_id, error = %e, "attachment files of an organisation not swept");
            failure = Some(e);
        }
    }
    if done.released > 0 {
        info!(
            released = done.released,
            checked = done.checked,
            "attachment files no activity names moved back to wait"
        );
    }
    failure.map_or(Ok(done), |e| Err(e.into()))
}

/// Releases the files of `org_id` claimed before `cutoff` that none of its
/// activities names.
async fn release_for(
    uploads: &dyn AttachmentUploads,
    activities: &dyn ActivitySource,
    org_id: &str,
    cutoff: DateTime<Utc>,
    done: &mut ReleasedAttachments,
) -> Result<(), crate::ports::PortError> {
    let mut unnamed: HashSet<String> =
        uploads.claimed_before(&format!("{org_id}/"), cutoff).await?.into_iter().collect();
    if unnamed.is_empty() {
        return Ok(());
    }
    done.organisations += 1;
    done.checked += unnamed.len() as u64;
    let (from, to) = (*crate::domain::YEARS.start(), *crate::domain::YEARS.end());
    let every = ActivityQuery {
        org_id: org_id.to_string(),
        from: NaiveDate::from_ymd_opt(from, 1, 1).unwrap_or(NaiveDate::MIN),
        to: NaiveDate::from_ymd_opt(to, 12, 31).unwrap_or(NaiveDate::MAX),
        types: vec![],
    };
    let mut stream = activities.stream(every);
    while let Some(activity) = stream.next().await {
        for attachment in &activity?.attachments {
            unnamed.remove(&attachment.key);
        }
        if unnamed.is_empty() {
            break;
        }
    }
    for key in unnamed {
        if uploads.release(&key).await? {
            done.released += 1;
        }
    }
    Ok(())
}
