//! `/api/v1/activity-imports`: make an import and get a place to upload
//! its file, watch it, list them, and download the templates to fill.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::dto::{PaginationBody, UploadBody, ts};
use super::extract::{AuthCaller, StrictJson};
use super::handlers::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, idempotency_key};
use super::problem::{ApiError, ProblemBody};
use crate::domain::{
    CreateImportRequest, FieldError, ImportFormat, ImportId, ImportJob, ImportStatus, Period, RowError,
};
use crate::service::{ImportView, ServiceError};

pub const IMPORTS_PATH: &str = "/api/v1/activity-imports";

/// The templates the API serves, made by `bufdir-import` (and checked there
/// to be current).
const TEMPLATE_XLSX: &[u8] = include_bytes!("../../templates/activities.xlsx");
const TEMPLATE_CSV: &[u8] = include_bytes!("../../templates/activities.csv");

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportBody {
    pub import_id: String,
    pub org_id: String,
    pub status: ImportStatus,
    pub format: ImportFormat,
    #[schema(required = true)]
    pub replace_period: Option<Period>,
    /// While the file may still come: where to send it (signed now).
    #[schema(required = true)]
    pub upload: Option<UploadBody>,
    /// The same URL as `upload.url`, for clients that only PUT.
    #[schema(required = true)]
    pub upload_url: Option<String>,
    #[schema(format = DateTime)]
    pub upload_expires_at: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime, required = true)]
    pub uploaded_at: Option<String>,
    #[schema(format = DateTime, required = true)]
    pub finished_at: Option<String>,
    /// Rows read so far (checking), then every row of the file.
    pub rows_total: u64,
    pub rows_written: u64,
    /// Activities of `replace_period` the file did not name, removed.
    pub rows_removed: u64,
    /// Every problem found; `errors` holds the first 100, in file order.
    pub error_count: u64,
    pub errors: Vec<RowError>,
    /// Why the import failed as a whole: `invalid_rows`, `upload_too_large`,
    /// `unknown_columns`, `missing_columns`, `unreadable_file`, `invalid_utf8`,
    /// `line_too_long`, `workbook_too_large`, `empty_file`, `upload_expired`, `import_stalled`.
    #[schema(required = true)]
    pub error_code: Option<String>,
    #[schema(required = true)]
    pub error_message: Option<String>,
}

impl ImportBody {
    pub fn new(view: &ImportView) -> Self {
        let j: &ImportJob = &view.job;
        let upload = view.upload.as_ref().map(UploadBody::of);
        ImportBody {
            import_id: j.import_id.to_string(),
            org_id: j.org_id.clone(),
            status: j.status,
            format: j.format,
            replace_period: j.replace_period,
            upload_url: upload.as_ref().map(|u| u.url.clone()),
            upload,
            upload_expires_at: ts(j.upload_expires_at),
            created_at: ts(j.created_at),
            uploaded_at: j.uploaded_at.map(ts),
            finished_at: j.finished_at.map(ts),
            rows_total: j.rows_total,
            rows_written: j.rows_written,
            rows_removed: j.rows_removed,
            error_count: j.error_count,
            errors: j.errors.clone(),
            error_code: j.error_code.clone(),
            error_message: j.error_message.clone(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportListBody {
    pub data: Vec<ImportBody>,
    pub pagination: PaginationBody,
}

fn not_found(e: ServiceError) -> ApiError {
    match e {
        ServiceError::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            "import_not_found",
            "Import not found",
            "No import with this id exists for your organisations.",
        ),
        other => other.into(),
    }
}

/// Start an import: answers where to upload the file; the import runs once it has arrived.
#[utoipa::path(
    post,
    path = "/api/v1/activity-imports",
    tag = "imports",
    operation_id = "create_import",
    params(
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]{1,255}$",
            description = "As for exports: the same key with the same request answers the same import again (with a fresh upload link)."),
    ),
    request_body(content = CreateImportRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Made; upload the file to `upload`.", body = ImportBody,
            headers(("Location" = String, description = "The import's URL."),
                ("Idempotent-Replayed" = String, description = "`true` when this answer repeats the first one for the Idempotency-Key."))),
        (status = 400, description = "`invalid_json` or `invalid_idempotency_key`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 403, description = "`organisation_forbidden`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 413, description = "`payload_too_large`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 415, description = "`unsupported_media_type`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 422, description = "`invalid_body`, `validation_failed` or `idempotency_key_reused`.", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn create_import(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    headers: HeaderMap,
    StrictJson(request): StrictJson<CreateImportRequest>,
) -> Result<Response, ApiError> {
    let key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(raw) => Some(idempotency_key(raw)?),
    };
    let view = state.imports.create(&caller, &request, key.as_ref()).await?;
    let mut response = (StatusCode::CREATED, Json(ImportBody::new(&view))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{IMPORTS_PATH}/{}", view.job.import_id)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if view.replayed {
        response.headers_mut().insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The import's status, progress and problems.
#[utoipa::path(
    get,
    path = "/api/v1/activity-imports/{import_id}",
    tag = "imports",
    operation_id = "get_import",
    params(("import_id" = String, Path, pattern = r"^imp-[0-9]{8}-[a-z0-9]{6}$", example = "imp-20260301-abc123",
        description = "The import's id. A malformed id answers 404 like an unknown one.")),
    responses(
        (status = 200, description = "The import.", body = ImportBody),
        (status = 404, description = "`import_not_found`.", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn get_import(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    let id = id.ok().and_then(|Path(raw)| ImportId::parse(&raw)).ok_or_else(|| not_found(ServiceError::NotFound))?;
    let view = state.imports.get(&caller, &id).await.map_err(not_found)?;
    let mut response = Json(ImportBody::new(&view)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The caller's imports, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/activity-imports",
    tag = "imports",
    operation_id = "list_imports",
    params(
        ("page" = Option<u32>, Query, minimum = 1, maximum = 100_000, description = "Page number, from 1."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Imports per page, 1 to 100 (default 20)."),
        ("status" = Option<ImportStatus>, Query, description = "Only imports in this status."),
    ),
    responses(
        (status = 200, description = "One page of imports and the total.", body = ImportListBody),
        (status = 400, description = "`invalid_query`.", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn list_imports(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ImportListBody>, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::invalid_query(vec![FieldError::new("query", e.body_text())]))?;
    let (mut page, mut limit, mut status) = (1u32, 20u32, None);
    let mut errors = Vec::new();
    for (name, value) in &pairs {
        match name.as_str() {
            "page" => match value.parse::<u32>() {
                Ok(p) if (1..=100_000).contains(&p) => page = p,
                _ => errors.push(FieldError::new("page", "must be a whole number from 1 to 100000")),
            },
            "limit" => match value.parse::<u32>() {
                Ok(l) if (1..=100).contains(&l) => limit = l,
                _ => errors.push(FieldError::new("limit", "must be a whole number from 1 to 100")),
            },
            "status" => match ImportStatus::parse(value) {
                Some(s) => status = Some(s),
                None => errors.push(FieldError::new("status", "must be an import status")),
            },
            other => errors.push(FieldError::new(other, "is not a known query parameter (page, limit, status)")),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_query(errors));
    }
    let found = state.imports.list(&caller, status, page, limit).await?;
    let data = found
        .imports
        .into_iter()
        .map(|job| ImportBody::new(&ImportView { job, upload: None, replayed: false }))
        .collect();
    Ok(Json(ImportListBody { data, pagination: PaginationBody { page, limit, total: found.total } }))
}

/// A template to fill: `activities.xlsx` (with drop-down lists and
/// instructions) or `activities.csv`. Needs no particular organisation.
#[utoipa::path(
    get,
    path = "/api/v1/activity-imports/templates/{name}",
    tag = "imports",
    operation_id = "get_import_template",
    params(("name" = String, Path, description = "`activities.xlsx` or `activities.csv`.")),
    responses(
        (status = 200, description = "The template.",
            content(("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ("text/csv; charset=utf-8")),
            headers(("Content-Disposition" = String, description = "`attachment` with the file name."))),
        (status = 404, description = "`template_not_found`.", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn get_template(
    AuthCaller(_caller): AuthCaller,
    name: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    let (bytes, content_type): (&'static [u8], &'static str) = match name.as_ref().map(|Path(n)| n.as_str()) {
        Ok("activities.xlsx") => (TEMPLATE_XLSX, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        Ok("activities.csv") => (TEMPLATE_CSV, "text/csv; charset=utf-8"),
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "template_not_found",
                "Template not found",
                "The templates are activities.xlsx and activities.csv.",
            ));
        }
    };
    let filename = name.map(|Path(n)| n).unwrap_or_default();
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&crate::ports::content_disposition(&filename)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
