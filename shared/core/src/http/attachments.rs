//! `POST /api/v1/attachments`: a signed link to upload a file an activity
//! will name (attendance list, course certificate). The answer's `key` is
//! what the activity's attachment gives as its `key`; writing that
//! activity claims the file, and a file no activity claims is removed
//! after a week.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::dto::{UploadBody, ts};
use super::extract::{AuthCaller, KnownFields, StrictJson};
use super::problem::{ApiError, ProblemBody};
use crate::domain::CreateAttachmentRequest;

pub const ATTACHMENTS_PATH: &str = "/api/v1/attachments";

impl KnownFields for CreateAttachmentRequest {
    const FIELDS: &'static [&'static str] = &["org_id", "filename", "content_type", "size_bytes"];
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttachmentBody {
    pub attachment_id: String,
    pub org_id: String,
    /// Give this as the attachment's `key` in the activity.
    #[schema(example = "org-bufdir-042/att-20260301-abc123/oppmoteliste_mars.pdf")]
    pub key: String,
    /// Give this as the attachment's `name`.
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
    /// Where and how to send the file; it takes at most `size_bytes`.
    pub upload: UploadBody,
    /// The same URL as `upload.url`.
    pub upload_url: String,
    #[schema(format = DateTime)]
    pub upload_expires_at: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Get a signed link to upload an attachment file.
#[utoipa::path(
    post,
    path = "/api/v1/attachments",
    tag = "attachments",
    operation_id = "create_attachment",
    request_body(content = CreateAttachmentRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Upload the file to `upload`, then name `key` in an activity.", body = AttachmentBody),
        (status = 400, description = "`invalid_json`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 403, description = "`organisation_forbidden`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 413, description = "`payload_too_large`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 415, description = "`unsupported_media_type`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 422, description = "`invalid_body` or `validation_failed` (type, name or size).", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn create_attachment(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    StrictJson(request): StrictJson<CreateAttachmentRequest>,
) -> Result<Response, ApiError> {
    let view = state.attachments.create(&caller, &request).await?;
    let body = AttachmentBody {
        attachment_id: view.attachment_id.to_string(),
        org_id: view.org_id,
        key: view.key,
        filename: view.filename,
        content_type: view.content_type,
        size_bytes: view.size_bytes,
        upload_url: view.upload.url.clone(),
        upload_expires_at: ts(view.upload.expires_at),
        upload: UploadBody::of(&view.upload),
        created_at: ts(view.created_at),
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
