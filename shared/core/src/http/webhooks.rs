//! `/api/v1/webhook-endpoints`: where an organisation is told that its
//! exports and imports ended, and what was sent there.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::dto::ts;
use super::extract::{AuthCaller, KnownFields, OptionalJson, StrictJson};
use super::problem::{ApiError, ProblemBody};
use crate::domain::{
    CreateWebhookRequest, DeliveryAttempt, DeliveryStatus, EndpointStatus, FieldError, RotateSecretRequest,
    UpdateWebhookRequest, WebhookDelivery, WebhookEndpoint,
};
use crate::service::{MAX_DELIVERIES_LISTED, ServiceError, WithSecret};

pub const WEBHOOKS_PATH: &str = "/api/v1/webhook-endpoints";

impl KnownFields for CreateWebhookRequest {
    const FIELDS: &'static [&'static str] = &["org_id", "url", "event_types", "description"];
}

impl KnownFields for UpdateWebhookRequest {
    const FIELDS: &'static [&'static str] = &["url", "event_types", "description", "enabled"];
}

impl KnownFields for RotateSecretRequest {
    const FIELDS: &'static [&'static str] = &["expire_current_in_seconds"];
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookEndpointBody {
    pub id: String,
    pub org_id: String,
    pub url: String,
    pub event_types: Vec<String>,
    #[schema(required = true)]
    pub description: Option<String>,
    /// `disabled` after a delivery failed for the whole retry window (72 hours), or by request.
    pub status: EndpointStatus,
    #[schema(required = true)]
    pub disabled_reason: Option<String>,
    #[schema(format = DateTime, required = true)]
    pub disabled_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Until when the secret before the last rotation still signs, if it does.
    #[schema(format = DateTime, required = true)]
    pub previous_secret_expires_at: Option<String>,
}

impl From<&WebhookEndpoint> for WebhookEndpointBody {
    fn from(e: &WebhookEndpoint) -> Self {
        let now = chrono::Utc::now();
        WebhookEndpointBody {
            id: e.id.clone(),
            org_id: e.org_id.clone(),
            url: e.url.clone(),
            event_types: e.event_types.clone(),
            description: e.description.clone(),
            status: e.status,
            disabled_reason: e.disabled_reason.clone(),
            disabled_at: e.disabled_at.map(ts),
            created_at: ts(e.created_at),
            updated_at: ts(e.updated_at),
            previous_secret_expires_at: e
                .secrets
                .iter()
                .filter_map(|s| s.expires_at)
                .filter(|at| *at > now)
                .max()
                .map(ts),
        }
    }
}

/// An endpoint with its signing secret: shown in this answer only.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookSecretBody {
    #[serde(flatten)]
    pub endpoint: WebhookEndpointBody,
    /// `whsec_...`: verify `Bufdir-Signature` with it. Not shown again.
    pub secret: String,
}

impl From<WithSecret> for WebhookSecretBody {
    fn from(w: WithSecret) -> Self {
        WebhookSecretBody { endpoint: (&w.endpoint).into(), secret: w.secret }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookEndpointListBody {
    pub data: Vec<WebhookEndpointBody>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookDeliveryBody {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    /// The export or import the event is about.
    pub subject: String,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    /// The newest attempts (at most 10), oldest first; the last is the last answer.
    pub attempts: Vec<DeliveryAttempt>,
    /// When the next attempt is due, while pending.
    #[schema(format = DateTime, required = true)]
    pub next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime, required = true)]
    pub delivered_at: Option<String>,
    #[schema(required = true)]
    pub failed_reason: Option<String>,
    /// The body every attempt sent: `{id, type, created_at, data}`.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<WebhookDelivery> for WebhookDeliveryBody {
    fn from(d: WebhookDelivery) -> Self {
        WebhookDeliveryBody {
            next_attempt_at: (d.status == DeliveryStatus::Pending).then(|| ts(d.next_attempt_at)),
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            subject: d.subject,
            status: d.status,
            attempt_count: d.attempt_count,
            attempts: d.attempts,
            created_at: ts(d.created_at),
            delivered_at: d.delivered_at.map(ts),
            failed_reason: d.failed_reason,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookDeliveryListBody {
    pub data: Vec<WebhookDeliveryBody>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeletedWebhookBody {
    pub deleted: bool,
    pub id: String,
}

fn problem(e: ServiceError) -> ApiError {
    match e {
        ServiceError::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            "webhook_endpoint_not_found",
            "Webhook endpoint not found",
            "No webhook endpoint with this id exists for your organisations.",
        ),
        ServiceError::Validation(errors) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Invalid webhook endpoint request",
            "One or more fields are invalid; see errors.",
        )
        .with_errors(errors),
        other => other.into(),
    }
}

fn endpoint_id(id: Result<Path<String>, axum::extract::rejection::PathRejection>) -> Result<String, ApiError> {
    id.map(|Path(id)| id).map_err(|_| problem(ServiceError::NotFound))
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Register an endpoint; the answer holds its signing secret, shown only here.
#[utoipa::path(
    post,
    path = "/api/v1/webhook-endpoints",
    tag = "webhooks",
    operation_id = "create_webhook_endpoint",
    request_body(content = CreateWebhookRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered.", body = WebhookSecretBody,
            headers(("Location" = String, description = "The endpoint's URL."))),
        (status = 400, description = "`invalid_json`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 403, description = "`organisation_forbidden`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 409, description = "`webhook_endpoint_limit_reached`: the organisation has 16.", content_type = "application/problem+json", body = ProblemBody),
        (status = 413, description = "`payload_too_large`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 415, description = "`unsupported_media_type`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 422, description = "`invalid_body` or `validation_failed` (a URL that is not https, or leads to a private address).", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn create_webhook_endpoint(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    StrictJson(request): StrictJson<CreateWebhookRequest>,
) -> Result<Response, ApiError> {
    let created = state.webhooks.create(&caller, &request).await.map_err(problem)?;
    let location = format!("{WEBHOOKS_PATH}/{}", created.endpoint.id);
    let mut response = (StatusCode::CREATED, Json(WebhookSecretBody::from(created))).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(no_store(response))
}

/// The endpoints of the organisation named, or of the token's organisations.
#[utoipa::path(
    get,
    path = "/api/v1/webhook-endpoints",
    tag = "webhooks",
    operation_id = "list_webhook_endpoints",
    params(("org_id" = Option<String>, Query, description = "Required for an administrator or a token naming more than 20 organisations.")),
    responses(
        (status = 200, description = "The endpoints, oldest first.", body = WebhookEndpointListBody),
        (status = 400, description = "`invalid_query`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 403, description = "`organisation_forbidden`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 422, description = "`validation_failed`: no org_id where one is needed.", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn list_webhook_endpoints(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<WebhookEndpointListBody>, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::invalid_query(vec![FieldError::new("query", e.body_text())]))?;
    let mut org_id = None;
    let mut errors = Vec::new();
    for (name, value) in pairs {
        match name.as_str() {
            "org_id" => match crate::domain::OrgId::parse(&value) {
                Ok(org) => org_id = Some(org.into_string()),
                Err(e) => errors.push(FieldError::new("org_id", e.to_string())),
            },
            other => errors.push(FieldError::new(other, "is not a known query parameter (org_id)")),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_query(errors));
    }
    let endpoints = state.webhooks.list(&caller, org_id).await.map_err(problem)?;
    Ok(Json(WebhookEndpointListBody { data: endpoints.iter().map(Into::into).collect() }))
}

/// One endpoint.
#[utoipa::path(
    get,
    path = "/api/v1/webhook-endpoints/{endpoint_id}",
    tag = "webhooks",
    operation_id = "get_webhook_endpoint",
    params(("endpoint_id" = String, Path, pattern = r"^whe-[0-9]{8}-[a-z0-9]{6}$")),
    responses(
        (status = 200, description = "The endpoint.", body = WebhookEndpointBody),
        (status = 404, description = "`webhook_endpoint_not_found` (also for another organisation's).", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn get_webhook_endpoint(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Json<WebhookEndpointBody>, ApiError> {
    let endpoint = state.webhooks.get(&caller, &endpoint_id(id)?).await.map_err(problem)?;
    Ok(Json((&endpoint).into()))
}

/// Change the URL, the event types or the description, or enable a disabled endpoint (`enabled: true`).
#[utoipa::path(
    patch,
    path = "/api/v1/webhook-endpoints/{endpoint_id}",
    tag = "webhooks",
    operation_id = "update_webhook_endpoint",
    params(("endpoint_id" = String, Path, pattern = r"^whe-[0-9]{8}-[a-z0-9]{6}$")),
    request_body(content = UpdateWebhookRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Changed.", body = WebhookEndpointBody),
        (status = 400, description = "`invalid_json`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 404, description = "`webhook_endpoint_not_found`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 413, description = "`payload_too_large`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 415, description = "`unsupported_media_type`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 422, description = "`invalid_body` or `validation_failed`.", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn update_webhook_endpoint(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    StrictJson(request): StrictJson<UpdateWebhookRequest>,
) -> Result<Json<WebhookEndpointBody>, ApiError> {
    let endpoint = state.webhooks.update(&caller, &endpoint_id(id)?, &request).await.map_err(problem)?;
    Ok(Json((&endpoint).into()))
}

/// Remove the endpoint and its deliveries.
#[utoipa::path(
    delete,
    path = "/api/v1/webhook-endpoints/{endpoint_id}",
    tag = "webhooks",
    operation_id = "delete_webhook_endpoint",
    params(("endpoint_id" = String, Path, pattern = r"^whe-[0-9]{8}-[a-z0-9]{6}$")),
    responses(
        (status = 200, description = "Removed.", body = DeletedWebhookBody),
        (status = 404, description = "`webhook_endpoint_not_found`.", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn delete_webhook_endpoint(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Json<DeletedWebhookBody>, ApiError> {
    let id = endpoint_id(id)?;
    state.webhooks.delete(&caller, &id).await.map_err(problem)?;
    Ok(Json(DeletedWebhookBody { deleted: true, id }))
}

/// A new signing secret; the current one keeps signing beside it for
/// `expire_current_in_seconds` (default a day), so receivers can switch.
#[utoipa::path(
    post,
    path = "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
    tag = "webhooks",
    operation_id = "rotate_webhook_secret",
    params(("endpoint_id" = String, Path, pattern = r"^whe-[0-9]{8}-[a-z0-9]{6}$")),
    request_body(content = Option<RotateSecretRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "Rotated; the new secret, shown only here.", body = WebhookSecretBody),
        (status = 400, description = "`invalid_json`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 404, description = "`webhook_endpoint_not_found`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 413, description = "`payload_too_large`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 422, description = "`invalid_body` or `validation_failed`.", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn rotate_webhook_secret(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    OptionalJson(request): OptionalJson<RotateSecretRequest>,
) -> Result<Response, ApiError> {
    let rotated =
        state.webhooks.rotate(&caller, &endpoint_id(id)?, &request.unwrap_or_default()).await.map_err(problem)?;
    Ok(no_store(Json(WebhookSecretBody::from(rotated)).into_response()))
}

/// What was sent to the endpoint, newest first, with each delivery's attempts and last answer.
#[utoipa::path(
    get,
    path = "/api/v1/webhook-endpoints/{endpoint_id}/deliveries",
    tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    params(
        ("endpoint_id" = String, Path, pattern = r"^whe-[0-9]{8}-[a-z0-9]{6}$"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Deliveries to list, 1 to 100 (default 20)."),
    ),
    responses(
        (status = 200, description = "The newest deliveries.", body = WebhookDeliveryListBody),
        (status = 400, description = "`invalid_query`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 404, description = "`webhook_endpoint_not_found`.", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn list_webhook_deliveries(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let id = endpoint_id(id)?;
    let Query(pairs) = query.map_err(|e| ApiError::invalid_query(vec![FieldError::new("query", e.body_text())]))?;
    let mut limit = 20usize;
    let mut errors = Vec::new();
    for (name, value) in pairs {
        match name.as_str() {
            "limit" => match value.parse::<usize>() {
                Ok(l) if (1..=MAX_DELIVERIES_LISTED).contains(&l) => limit = l,
                _ => errors.push(FieldError::new("limit", "must be a whole number from 1 to 100")),
            },
            other => errors.push(FieldError::new(other, "is not a known query parameter (limit)")),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_query(errors));
    }
    let deliveries = state.webhooks.deliveries(&caller, &id, limit).await.map_err(problem)?;
    let body = WebhookDeliveryListBody { data: deliveries.into_iter().map(Into::into).collect() };
    Ok(no_store(Json(body).into_response()))
}
