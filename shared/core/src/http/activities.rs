//! `/api/v1/activities`: small writes for systems that sync as they go,
//! and a look at exactly what a report will count.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ApiState;
use super::extract::{AuthCaller, KnownFields, StrictJson};
use super::problem::{ApiError, ProblemBody};
use crate::domain::{ActivityType, FieldError, parse_iso_date};
use crate::ports::Stored;
use crate::service::{MAX_PAGE, PageRequest, ServiceError};

pub const ACTIVITIES_PATH: &str = "/api/v1/activities";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PutActivitiesRequest {
    /// May be left out when the token names exactly one organisation.
    #[serde(default)]
    pub org_id: Option<String>,
    /// 1 to 1000 activities in the shape `docs/activity.schema.json` describes.
    #[schema(value_type = Vec<Object>)]
    pub activities: Vec<Value>,
}

impl KnownFields for PutActivitiesRequest {
    const FIELDS: &'static [&'static str] = &["org_id", "activities"];
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PutResult {
    pub activity_id: String,
    pub outcome: Stored,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PutActivitiesBody {
    pub org_id: String,
    /// One per activity sent, in the same order.
    pub results: Vec<PutResult>,
}

/// Store up to 1000 activities at once, all or nothing: one bad activity
/// refuses the lot (each problem named as `activities[i].field`). An
/// activity whose id is stored already replaces it.
#[utoipa::path(
    put,
    path = "/api/v1/activities",
    tag = "activities",
    operation_id = "put_activities",
    request_body(content = PutActivitiesRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Every activity stored.", body = PutActivitiesBody),
        (status = 400, description = "`invalid_json`, or `body_incomplete` (the body did not arrive whole).", content_type = "application/problem+json", body = ProblemBody),
        (status = 403, description = "`organisation_forbidden`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 413, description = "`payload_too_large`: over 4 MiB.", content_type = "application/problem+json", body = ProblemBody),
        (status = 415, description = "`unsupported_media_type`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 422, description = "`invalid_body` or `validation_failed` (nothing was stored). `errors` names each problem as `activities[i].field`, the first 100; past that a last entry on `activities` says how many more there were.", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn put_activities(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    StrictJson(request): StrictJson<PutActivitiesRequest>,
) -> Result<Json<PutActivitiesBody>, ApiError> {
    let (org_id, stored) = state.activities.put(&caller, request.org_id, request.activities).await?;
    let results = stored.into_iter().map(|(activity_id, outcome)| PutResult { activity_id, outcome }).collect();
    Ok(Json(PutActivitiesBody { org_id, results }))
}

#[derive(Debug, Deserialize)]
pub(super) struct OrgQuery {
    org_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeletedActivityBody {
    pub deleted: bool,
    pub activity_id: String,
}

/// Remove one activity.
#[utoipa::path(
    delete,
    path = "/api/v1/activities/{activity_id}",
    tag = "activities",
    operation_id = "delete_activity",
    params(
        ("activity_id" = String, Path, description = "The organisation's id of the activity."),
        ("org_id" = Option<String>, Query, description = "May be left out when the token names exactly one organisation."),
    ),
    responses(
        (status = 200, description = "Removed.", body = DeletedActivityBody),
        (status = 403, description = "`organisation_forbidden`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 404, description = "`activity_not_found`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 422, description = "`validation_failed` (no organisation named, or an `org_id` no organisation has).", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn delete_activity(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    query: Result<Query<OrgQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DeletedActivityBody>, ApiError> {
    let Ok(Path(activity_id)) = id else { return Err(activity_not_found()) };
    let Query(q) = query.map_err(|e| ApiError::invalid_query(vec![FieldError::new("query", e.body_text())]))?;
    state.activities.delete(&caller, q.org_id, &activity_id).await.map_err(|e| match e {
        ServiceError::NotFound => activity_not_found(),
        other => other.into(),
    })?;
    Ok(Json(DeletedActivityBody { deleted: true, activity_id }))
}

fn activity_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "activity_not_found",
        "Activity not found",
        "No activity with this id is stored for the organisation.",
    )
}

/// One activity and what the report profile makes of it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JudgedActivityBody {
    /// The stored record (`docs/activity.schema.json`).
    #[schema(value_type = Object)]
    pub activity: Value,
    /// Whether the profile counts it in the report.
    pub counts: bool,
    /// Why not: `for_kort` (too short), `for_faa_deltakere` (too few
    /// participants), `telefon`, `utlandet` (abroad), ...
    #[schema(required = true)]
    pub not_counted_reason: Option<String>,
    #[schema(required = true)]
    pub not_counted_explanation: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActivityPageBody {
    pub org_id: String,
    pub profile: String,
    pub data: Vec<JudgedActivityBody>,
    /// Pass as `cursor` for the next page; `null` after the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// The organisation's activities in a period, in report order, each with
/// whether the report profile counts it: what a report of the period holds.
#[utoipa::path(
    get,
    path = "/api/v1/activities",
    tag = "activities",
    operation_id = "list_activities",
    params(
        ("from" = String, Query, format = Date, description = "First day, YYYY-MM-DD."),
        ("to" = String, Query, format = Date, description = "Last day, YYYY-MM-DD."),
        ("type" = Option<ActivityType>, Query, description = "Only this activity type (may be repeated)."),
        ("org_id" = Option<String>, Query, description = "May be left out when the token names exactly one organisation."),
        ("profile" = Option<String>, Query, description = "The report profile to judge by (default: the organisation's, else `standard`)."),
        ("cursor" = Option<String>, Query, description = "From the previous page's `next_cursor`."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Activities per page (default 100)."),
    ),
    responses(
        (status = 200, description = "One page.", body = ActivityPageBody),
        (status = 400, description = "`invalid_query` (a parameter, an unknown profile, a cursor not given out for this organisation, period and types).", content_type = "application/problem+json", body = ProblemBody),
        (status = 403, description = "`organisation_forbidden`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 422, description = "`validation_failed` (no organisation named, or an `org_id` no organisation has).", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn list_activities(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ActivityPageBody>, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::invalid_query(vec![FieldError::new("query", e.body_text())]))?;
    let mut request = PageRequest {
        org_id: None,
        from: chrono::NaiveDate::MIN,
        to: chrono::NaiveDate::MIN,
        types: Vec::new(),
        cursor: None,
        limit: 100,
        profile: None,
    };
    let mut errors = Vec::new();
    let (mut from, mut to) = (None, None);
    for (name, value) in &pairs {
        match name.as_str() {
            "from" | "to" => match parse_iso_date(value) {
                Ok(d) if name == "from" => from = Some(d),
                Ok(d) => to = Some(d),
                Err(e) => errors.push(FieldError::new(name, e.message(value))),
            },
            "type" => match ActivityType::parse(value) {
                Some(t) => request.types.push(t),
                None => errors.push(FieldError::new("type", format!("unknown activity type {value:?}"))),
            },
            "org_id" => request.org_id = Some(value.clone()),
            "profile" => request.profile = Some(value.clone()),
            "cursor" => request.cursor = Some(value.clone()),
            "limit" => match value.parse::<u32>() {
                Ok(l) if (1..=MAX_PAGE).contains(&l) => request.limit = l,
                _ => errors.push(FieldError::new("limit", format!("must be a whole number from 1 to {MAX_PAGE}"))),
            },
            other => errors.push(FieldError::new(other, "is not a known query parameter")),
        }
    }
    match (from, to) {
        (Some(f), Some(t)) if f <= t => (request.from, request.to) = (f, t),
        (Some(_), Some(_)) => errors.push(FieldError::new("to", "must not be before from")),
        _ => errors.extend(
            [("from", from.is_none()), ("to", to.is_none())]
                .into_iter()
                .filter(|(_, missing)| *missing)
                .map(|(f, _)| FieldError::new(f, "is required (YYYY-MM-DD)")),
        ),
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_query(errors));
    }
    let page = state.activities.page(&caller, request).await?;
    let data = page
        .activities
        .into_iter()
        .map(|j| JudgedActivityBody {
            activity: serde_json::to_value(&j.activity).unwrap_or(Value::Null),
            counts: j.counts,
            not_counted_reason: j.reason.map(|r| r.code().to_string()),
            not_counted_explanation: j.reason.map(|r| r.explanation_nb().to_string()),
        })
        .collect();
    Ok(Json(ActivityPageBody { org_id: page.org_id, profile: page.profile, data, next_cursor: page.next_cursor }))
}

/// The largest PUT body: a thousand activities of a few kilobytes each.
pub const MAX_PUT_BODY: usize = 4 * 1024 * 1024;
