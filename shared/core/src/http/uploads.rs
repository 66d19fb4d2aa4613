//! Uploads to the local server: the upload links a store hands out point
//! here (`PUT /{route}/{key}`). As with an S3 presigned POST, the link's
//! signature is the authorisation, it works once (also after its import
//! read the file and removed it), and the size it names
//! is enforced while the body arrives: a larger file is never stored.

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::put;
use axum::{Json, Router};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::problem::{ApiError, ProblemBody};
use crate::ports::{SignedUploadLink, SignedUploads, UploadRefused};

/// Asked before a file is taken, told of every file that arrived (the
/// import service starts its import).
#[async_trait]
pub trait UploadListener: Send + Sync {
    /// Why a genuine link's file is not wanted any more (its import
    /// already had its file, which was read and removed), if it is not.
    async fn refuses(&self, key: &str) -> Option<UploadRefused>;

    async fn uploaded(&self, key: &str);
}

#[derive(Clone)]
pub(super) struct Uploads {
    store: Arc<dyn SignedUploads>,
    listener: Option<Arc<dyn UploadListener>>,
}

#[derive(Deserialize)]
pub(super) struct UploadParams {
    expires: i64,
    max: u64,
    sig: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadedBody {
    pub key: String,
    pub size_bytes: u64,
}

/// The `PUT /{route}/{*key}` route of a store whose upload links point here.
pub fn uploads_router(route: &str, store: Arc<dyn SignedUploads>, listener: Option<Arc<dyn UploadListener>>) -> Router {
    Router::new().route(&format!("/{route}/{{*key}}"), put(upload)).with_state(Uploads { store, listener })
}

fn refused(e: UploadRefused) -> ApiError {
    match e {
        UploadRefused::Link => ApiError::new(
            StatusCode::FORBIDDEN,
            "upload_link_invalid",
            "Upload link not valid",
            "The upload link is invalid or has expired. GET the import for a fresh link while it awaits its file; \
             once it has expired, make a new import.",
        ),
        UploadRefused::TooLarge(max) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "upload_too_large",
            "File too large",
            format!("The file is larger than the {max} bytes this link takes; nothing was stored."),
        ),
        UploadRefused::AlreadyUploaded => ApiError::new(
            StatusCode::CONFLICT,
            "already_uploaded",
            "Already uploaded",
            "A file was already uploaded with this link; ask for a new link (a new import or attachment) to send another.",
        ),
        UploadRefused::Store(reason) => {
            tracing::warn!(reason = %reason, "upload not stored");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "Temporarily unavailable",
                "The upload could not be stored; try again.",
            )
        }
    }
}

/// Upload a file with the link from an import's `upload` (local server only;
/// on AWS the link is an S3 presigned POST).
#[utoipa::path(
    put,
    path = "/uploads/{key}",
    tag = "imports",
    operation_id = "upload_file",
    security(()),
    params(
        ("key" = String, Path, description = "As in the upload link."),
        ("expires" = i64, Query, description = "Unix time the link stops working."),
        ("max" = u64, Query, description = "The most bytes the link takes."),
        ("sig" = String, Query, description = "The link's signature."),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes."),
    responses(
        (status = 201, description = "Stored; the import starts.", body = UploadedBody),
        (status = 403, description = "`upload_link_invalid`: altered, expired or not a link of ours, or its import expired or was erased (also while the file arrived: nothing keeps it).", content_type = "application/problem+json", body = ProblemBody),
        (status = 409, description = "`already_uploaded`: the link was used (also once its import read the file and removed it).", content_type = "application/problem+json", body = ProblemBody),
        (status = 413, description = "`upload_too_large`: larger than the link takes; nothing stored.", content_type = "application/problem+json", body = ProblemBody),
        (status = 503, description = "`service_unavailable`.", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub(super) async fn upload(
    State(uploads): State<Uploads>,
    key: Result<Path<String>, axum::extract::rejection::PathRejection>,
    params: Result<Query<UploadParams>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Result<(StatusCode, Json<UploadedBody>), ApiError> {
    let (Ok(Path(key)), Ok(Query(params))) = (key, params) else { return Err(refused(UploadRefused::Link)) };
    let link = SignedUploadLink { key: &key, expires: params.expires, max_bytes: params.max, sig: &params.sig };
    // Only a genuine link learns what became of its import.
    uploads.store.check_upload(link, chrono::Utc::now().timestamp()).map_err(refused)?;
    if let Some(listener) = &uploads.listener
        && let Some(refusal) = listener.refuses(&key).await
    {
        return Err(refused(refusal));
    }
    let stream = body.into_data_stream().map_ok(|b| b.to_vec()).map_err(std::io::Error::other);
    let size =
        uploads.store.accept_upload(link, Box::pin(stream), chrono::Utc::now().timestamp()).await.map_err(refused)?;
    if let Some(listener) = &uploads.listener {
        // The import may have expired (or been erased) while a long body
        // arrived: the run this starts removes the file unread, and the
        // client must not be told it was taken.
        let too_late = matches!(listener.refuses(&key).await, Some(UploadRefused::Link));
        listener.uploaded(&key).await;
        if too_late {
            return Err(refused(UploadRefused::Link));
        }
    }
    Ok((StatusCode::CREATED, Json(UploadedBody { key, size_bytes: size })))
}
