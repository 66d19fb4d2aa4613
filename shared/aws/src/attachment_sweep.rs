//! One pass of the scheduled attachments-sweep function: claimed
//! attachment files no activity names go back to wait among the uploads,
//! where the bucket's lifecycle rule expires them unless an activity names
//! them again (see `release_unnamed_attachments`).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::AwsApp;
use crate::service::{ServiceError, release_unnamed_attachments};

/// What the pass did, as the function answers it.
pub async fn attachment_sweep(app: &AwsApp, now: DateTime<Utc>) -> Result<Value, ServiceError> {
    let done = release_unnamed_attachments(app.attachment_uploads.as_ref(), app.activities.as_ref(), now).await?;
    Ok(serde_json::to_value(done).unwrap_or_default())
}
