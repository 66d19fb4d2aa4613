//! Downloads for the local server: the file store's signed links point
//! here. The signature, not a bearer token, authorises the download, as
//! with an S3 presigned URL: the link can be handed to a browser.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio_util::io::ReaderStream;

use super::problem::{ApiError, ProblemBody};
use crate::ports::{SignedDownloads, SignedLink, content_disposition};

#[derive(Deserialize)]
pub(super) struct LinkParams {
    expires: i64,
    name: String,
    sig: String,
}

/// The `/files/...` route of a store whose links point at this server.
pub fn downloads_router(store: Arc<dyn SignedDownloads>) -> Router {
    Router::new().route("/files/{*key}", get(download)).with_state(store)
}

fn refused() -> ApiError {
    // Expired, tampered and unknown links look the same from outside.
    ApiError::new(
        StatusCode::FORBIDDEN,
        "download_link_invalid",
        "Download link not valid",
        "The link is invalid or has expired; GET the export again for a fresh link.",
    )
}

/// Download an export's file with the signed link from `file_url`. Local
/// server only: on AWS, `file_url` is an S3 presigned URL.
#[utoipa::path(
    get,
    path = "/files/{key}",
    tag = "downloads",
    operation_id = "download_file",
    security(()),
    params(
        ("key" = String, Path, min_length = 1, description = "The file's key, exactly as in `file_url` (it holds slashes)."),
        ("expires" = i64, Query, description = "Unix time the link stops working."),
        ("name" = String, Query, description = "The name the file is saved as."),
        ("sig" = String, Query, description = "The link's signature (hex HMAC-SHA256 of key, expires and name)."),
    ),
    responses(
        (status = 200, description = "The file; its type follows the export's format.",
            content(
                ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                ("application/zip"),
                ("application/json"),
                ("text/csv; charset=utf-8"),
                ("application/octet-stream"),
            ),
            headers(("Content-Disposition" = String, description = "`attachment` with the file name."))),
        (status = 403, description = "`download_link_invalid`: the link was altered, has expired, or its file is gone. One answer for all.",
            content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub(super) async fn download(
    State(store): State<Arc<dyn SignedDownloads>>,
    key: Result<Path<String>, axum::extract::rejection::PathRejection>,
    params: Result<Query<LinkParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    // A key that is not UTF-8 (`%FF`) or a query that does not parse is
    // one more link that is not ours: the same answer as a bad signature.
    let (Ok(Path(key)), Ok(Query(params))) = (key, params) else { return Err(refused()) };
    let link = SignedLink { key: &key, expires: params.expires, name: &params.name, sig: &params.sig };
    let file = store.open_signed(link, chrono::Utc::now().timestamp()).await.map_err(|reason| {
        tracing::info!(reason = %reason, "download refused");
        refused()
    })?;
    let mut response = Body::from_stream(ReaderStream::new(file.body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&params.name)));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.size));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&params.name)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "zip" => "application/zip",
        "json" => "application/json",
        "csv" => "text/csv; charset=utf-8",
        _ => "application/octet-stream",
    }
}
