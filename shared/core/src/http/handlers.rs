//! The six endpoints. Each checks its input, asks the service, and shapes
//! the answer; the rules live in the service and the domain.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiState;
use super::dto::*;
use super::extract::{AuthCaller, ExportIdParam, OptionalJson, StrictJson};
use super::problem::{ApiError, ProblemBody};
use crate::domain::{CreateExportRequest, ExportFormat, ExportStatus, FieldError};
use crate::service::{Created, IdempotencyKey, ListParams, MAX_KEY_LEN};

pub const BASE_PATH: &str = "/api/v1/bufdir-exports";
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;
const MAX_PAGE: u32 = 100_000;
const MAX_REASON_CHARS: usize = 500;
pub(super) const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on an answer that repeats an earlier one, as Stripe does.
pub(super) const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The `Idempotency-Key` header, or the problem with it.
pub(super) fn idempotency_key(raw: &HeaderValue) -> Result<IdempotencyKey, ApiError> {
    IdempotencyKey::parse(raw.as_bytes()).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Invalid Idempotency-Key",
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters."),
        )
    })
}

/// The `{export_id}` of the export routes, for the OpenAPI document (the
/// handlers read it with [`ExportIdParam`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct ExportPath {
    /// The export's id. A malformed id answers 404 like an unknown one, before any storage is asked.
    #[param(pattern = r"^exp-[0-9]{8}-[a-z0-9]{6}$", example = "exp-20260301-abc123")]
    export_id: String,
}

fn list_params(query: &[(String, String)]) -> Result<ListParams, ApiError> {
    let mut params = ListParams { page: 1, limit: DEFAULT_LIMIT, status: None, format: None };
    let mut errors = Vec::new();
    for (name, value) in query {
        match name.as_str() {
            "page" => match value.parse::<u32>() {
                Ok(p) if (1..=MAX_PAGE).contains(&p) => params.page = p,
                _ => errors.push(FieldError::new("page", format!("must be a whole number from 1 to {MAX_PAGE}"))),
            },
            "limit" => match value.parse::<u32>() {
                Ok(l) if (1..=MAX_LIMIT).contains(&l) => params.limit = l,
                _ => errors.push(FieldError::new("limit", format!("must be a whole number from 1 to {MAX_LIMIT}"))),
            },
            "status" => match ExportStatus::parse(value) {
                Some(s) => params.status = Some(s),
                None => errors
                    .push(FieldError::new("status", "must be one of queued, running, completed, failed, cancelled")),
            },
            "format" => match ExportFormat::parse(value) {
                Some(f) => params.format = Some(f),
                None => errors.push(FieldError::new("format", "must be one of excel, csv, json")),
            },
            other => {
                errors.push(FieldError::new(other, "is not a known query parameter (page, limit, status, format)"))
            }
        }
    }
    if errors.is_empty() { Ok(params) } else { Err(ApiError::invalid_query(errors)) }
}

/// List the caller's exports, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/bufdir-exports",
    tag = "exports",
    operation_id = "list_exports",
    params(
        ("page" = Option<u32>, Query, minimum = 1, maximum = 100_000, description = "Page number, from 1 (default 1)."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Exports per page, 1 to 100 (default 20)."),
        ("status" = Option<ExportStatus>, Query, description = "Only exports in this status."),
        ("format" = Option<ExportFormat>, Query, description = "Only exports of this format."),
    ),
    responses(
        (status = 200, description = "One page of exports and the total.", body = ExportListBody),
        (status = 400, description = "`invalid_query`: a parameter is out of bounds or unknown; `errors` names each.", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn list_exports(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ExportListBody>, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::invalid_query(vec![FieldError::new("query", e.body_text())]))?;
    let params = list_params(&pairs)?;
    let page = state.service.list(&caller, &params).await?;
    Ok(Json(ExportListBody::new(&page, params.page, params.limit)))
}

/// Start an export. It runs in the background; watch it with GET.
#[utoipa::path(
    post,
    path = "/api/v1/bufdir-exports",
    tag = "exports",
    operation_id = "create_export",
    params(
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]{1,255}$",
            example = "8e03978e-40d5-43e8-bc93-6894a57f9324",
            description = "Makes the request safe to repeat. Keys belong to the organisation the export is for and are \
                remembered for 24 hours: the same key with the same request answers the first 202 again (same export), \
                never creating a second export, also when the requests arrive at once; with a different request 422 \
                `idempotency_key_reused`."),
    ),
    request_body(content = CreateExportRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted and queued, or the first answer to this Idempotency-Key again.", body = CreatedBody,
            headers(("Location" = String, description = "The export's URL."),
                ("Idempotent-Replayed" = String, description = "`true` when this answer repeats the first one for the Idempotency-Key."))),
        (status = 400, description = "`invalid_json`: the body is not JSON; `invalid_idempotency_key`: the Idempotency-Key header is not 1 to 255 visible ASCII characters.", content_type = "application/problem+json", body = ProblemBody),
        (status = 403, description = "`organisation_forbidden`: the token does not allow this organisation.", content_type = "application/problem+json", body = ProblemBody),
        (status = 413, description = "`payload_too_large`: the body is over 16 KiB.", content_type = "application/problem+json", body = ProblemBody),
        (status = 415, description = "`unsupported_media_type`: the body is not sent as application/json.", content_type = "application/problem+json", body = ProblemBody),
        (status = 422, description = "`invalid_body` (wrong types; unknown fields, each named in `errors`), `validation_failed` (`errors` lists every bad field) or `idempotency_key_reused` (the Idempotency-Key came with a different request before).", content_type = "application/problem+json", body = ProblemBody),
        (status = 429, description = "`too_many_exports_in_flight`: the organisation has the most exports queued or running (3 unless configured). The cap holds exactly, also for many requests at once; nothing is created and an Idempotency-Key is not used up.", content_type = "application/problem+json", body = ProblemBody,
            headers(("Retry-After" = u64, description = "Seconds until a slot is likely free."))),
    )
)]
pub async fn create_export(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    headers: HeaderMap,
    StrictJson(request): StrictJson<CreateExportRequest>,
) -> Result<Response, ApiError> {
    let created = match headers.get(IDEMPOTENCY_KEY) {
        None => Created::first(&state.service.create(&caller, &request).await?),
        Some(raw) => state.service.create_keyed(&caller, &request, &idempotency_key(raw)?).await?,
    };
    let location = format!("{BASE_PATH}/{}", created.export_id);
    let body = CreatedBody {
        export_id: created.export_id.to_string(),
        status: created.status.to_string(),
        estimated_duration_seconds: created.estimated_duration_seconds,
        created_at: created.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if created.replayed {
        response.headers_mut().insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// An export's status, progress and, once completed, a freshly signed download link.
#[utoipa::path(
    get,
    path = "/api/v1/bufdir-exports/{export_id}",
    tag = "exports",
    operation_id = "get_export",
    params(ExportPath),
    responses(
        (status = 200, description = "The export. `file_url` is signed on this request and valid for minutes.", body = ExportDetailBody,
            headers(("Cache-Control" = String, description = "`no-store`: the body holds a signed link."))),
        (status = 404, description = "`export_not_found`: no such export for your organisations (also for a malformed id).", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn get_export(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    ExportIdParam(id): ExportIdParam,
) -> Result<Response, ApiError> {
    let view = state.service.get(&caller, &id).await?;
    let history = state.service.history(&view.job).await?;
    let mut response =
        Json(ExportDetailBody::new(&view.job, view.file_url, view.file_url_expires_at, history)).into_response();
    // The body holds a signed URL: no cache may keep it.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The export's file: a redirect to a freshly signed link. Unlike `file_url`,
/// this address never expires while the file exists, so it can be stored in
/// another system or sent in an e-mail (whoever follows it needs a token).
#[utoipa::path(
    get,
    path = "/api/v1/bufdir-exports/{export_id}/file",
    tag = "exports",
    operation_id = "get_export_file",
    params(ExportPath),
    responses(
        (status = 302, description = "To the file, by a link signed on this request (as `file_url`).",
            headers(("Location" = String, description = "The signed link; it needs no token."),
                ("Cache-Control" = String, description = "`no-store`."))),
        (status = 404, description = "`export_not_found`: no such export for your organisations (also after it was deleted).", content_type = "application/problem+json", body = ProblemBody),
        (status = 409, description = "`file_not_ready`: the export has not completed (queued, running, failed or cancelled).", content_type = "application/problem+json", body = ProblemBody),
        (status = 410, description = "`file_gone`: the export completed, but its file expired and was deleted.", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn get_export_file(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    ExportIdParam(id): ExportIdParam,
) -> Result<Response, ApiError> {
    let (url, _) = state.service.file_link(&caller, &id).await?;
    let location = HeaderValue::from_str(&url).map_err(|_| ApiError::internal())?;
    let mut response = StatusCode::FOUND.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Cancel a queued or running export.
#[utoipa::path(
    put,
    path = "/api/v1/bufdir-exports/{export_id}/cancel",
    tag = "exports",
    operation_id = "cancel_export",
    params(ExportPath),
    request_body(content = Option<CancelRequest>, content_type = "application/json", description = "Optional; the reason is kept on the export."),
    responses(
        (status = 200, description = "Cancelled; its files are removed.", body = CancelledBody),
        (status = 400, description = "`invalid_json`: the body is not JSON.", content_type = "application/problem+json", body = ProblemBody),
        (status = 404, description = "`export_not_found`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 409, description = "`invalid_transition`: the export is not queued or running.", content_type = "application/problem+json", body = ProblemBody),
        (status = 413, description = "`payload_too_large`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 422, description = "`invalid_body` (wrong types; unknown fields, each named in `errors`) or `validation_failed` (reason over 500 characters).", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn cancel_export(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    ExportIdParam(id): ExportIdParam,
    OptionalJson(body): OptionalJson<CancelRequest>,
) -> Result<Json<CancelledBody>, ApiError> {
    let reason = body.and_then(|b| b.reason).map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Invalid cancel request",
            "One or more fields are invalid; see errors.",
        )
        .with_errors(vec![FieldError::new("reason", format!("must be at most {MAX_REASON_CHARS} characters"))]));
    }
    let job = state.service.cancel(&caller, &id, reason).await?;
    Ok(Json(CancelledBody::from(&job)))
}

/// Queue a failed or cancelled export again, at most 5 times.
#[utoipa::path(
    post,
    path = "/api/v1/bufdir-exports/{export_id}/retry",
    tag = "exports",
    operation_id = "retry_export",
    params(ExportPath),
    responses(
        (status = 200, description = "Queued again.", body = RetriedBody),
        (status = 404, description = "`export_not_found`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 409, description = "`invalid_transition` (not failed or cancelled) or `retry_limit_reached`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 429, description = "`too_many_exports_in_flight`: a retry queues the export again, so it needs a free slot like a create; the export stays as it was.", content_type = "application/problem+json", body = ProblemBody,
            headers(("Retry-After" = u64, description = "Seconds until a slot is likely free."))),
    )
)]
pub async fn retry_export(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    ExportIdParam(id): ExportIdParam,
) -> Result<Json<RetriedBody>, ApiError> {
    let job = state.service.retry(&caller, &id).await?;
    Ok(Json(RetriedBody::from(&job)))
}

/// Delete an export and every file; a queued or running one is cancelled first.
#[utoipa::path(
    delete,
    path = "/api/v1/bufdir-exports/{export_id}",
    tag = "exports",
    operation_id = "delete_export",
    params(ExportPath),
    responses(
        (status = 200, description = "Deleted.", body = DeletedBody),
        (status = 404, description = "`export_not_found`.", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn delete_export(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    ExportIdParam(id): ExportIdParam,
) -> Result<Json<DeletedBody>, ApiError> {
    state.service.delete(&caller, &id).await?;
    Ok(Json(DeletedBody { deleted: true, export_id: id.to_string() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn list_defaults_and_bounds() {
        let p = list_params(&[]).unwrap();
        assert_eq!((p.page, p.limit), (1, 20));
        let p = list_params(&q(&[("page", "3"), ("limit", "100"), ("status", "failed"), ("format", "csv")])).unwrap();
        assert_eq!(
            (p.page, p.limit, p.status, p.format),
            (3, 100, Some(ExportStatus::Failed), Some(ExportFormat::Csv))
        );
        for bad in [
            ("limit", "0"),
            ("limit", "101"),
            ("page", "0"),
            ("page", "-1"),
            ("status", "done"),
            ("format", "pdf"),
            ("sort", "x"),
        ] {
            let e = list_params(&q(&[bad])).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad:?}");
            assert_eq!(e.errors[0].field, bad.0);
        }
    }
}
