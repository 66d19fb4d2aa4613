//! The six endpoints. Each checks its input, asks the service, and shapes
//! the answer; the rules live in the service and the domain.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::dto::*;
use super::extract::{AuthCaller, ExportIdParam, OptionalJson, StrictJson};
use super::problem::ApiError;
use super::ApiState;
use crate::domain::{CreateExportRequest, ExportFormat, ExportStatus, FieldError};
use crate::service::ListParams;

pub const BASE_PATH: &str = "/api/v1/bufdir-exports";
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;
const MAX_PAGE: u32 = 100_000;
const MAX_REASON_CHARS: usize = 500;

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
                None => errors.push(FieldError::new("status", "must be one of queued, running, completed, failed, cancelled")),
            },
            "format" => match ExportFormat::parse(value) {
                Some(f) => params.format = Some(f),
                None => errors.push(FieldError::new("format", "must be one of excel, csv, json")),
            },
            other => errors.push(FieldError::new(other, "is not a known query parameter (page, limit, status, format)")),
        }
    }
    if errors.is_empty() { Ok(params) } else { Err(ApiError::invalid_query(errors)) }
}

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

pub async fn create_export(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    StrictJson(request): StrictJson<CreateExportRequest>,
) -> Result<Response, ApiError> {
    let job = state.service.create(&caller, &request).await?;
    let location = format!("{BASE_PATH}/{}", job.export_id);
    let mut response = (StatusCode::ACCEPTED, Json(CreatedBody::from(&job))).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

pub async fn get_export(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    ExportIdParam(id): ExportIdParam,
) -> Result<Response, ApiError> {
    let view = state.service.get(&caller, &id).await?;
    let mut response = Json(ExportDetailBody::new(&view.job, view.file_url)).into_response();
    // The body holds a signed URL: no cache may keep it.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

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

pub async fn retry_export(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    ExportIdParam(id): ExportIdParam,
) -> Result<Json<RetriedBody>, ApiError> {
    let job = state.service.retry(&caller, &id).await?;
    Ok(Json(RetriedBody::from(&job)))
}

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
        assert_eq!((p.page, p.limit, p.status, p.format), (3, 100, Some(ExportStatus::Failed), Some(ExportFormat::Csv)));
        for bad in [("limit", "0"), ("limit", "101"), ("page", "0"), ("page", "-1"), ("status", "done"), ("format", "pdf"), ("sort", "x")] {
            let e = list_params(&q(&[bad])).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad:?}");
            assert_eq!(e.errors[0].field, bad.0);
        }
    }
}
