//! RFC 9457 problem details: every error the API returns has a stable
//! `code`, a human `detail`, the request id, and for validation errors
//! the list of bad fields. Internal details are logged, never returned.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::request_context::current_request;
use crate::domain::FieldError;
use crate::service::ServiceError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Every `code` the API answers with, published as the Problem schema's
/// enum so clients can match on them. A test keeps it complete.
pub(super) const PROBLEM_CODES: &[&str] = &[
    "validation_failed",
    "invalid_json",
    "invalid_body",
    "body_incomplete",
    "unsupported_media_type",
    "payload_too_large",
    "invalid_query",
    "unauthorized",
    "organisation_forbidden",
    "export_not_found",
    "route_not_found",
    "method_not_allowed",
    "invalid_transition",
    "retry_limit_reached",
    "too_many_exports_in_flight",
    "idempotency_key_reused",
    "invalid_idempotency_key",
    "download_link_invalid",
    "service_unavailable",
    "internal_error",
    "import_not_found",
    "template_not_found",
    "activity_not_found",
    "organisation_not_found",
    "upload_link_invalid",
    "upload_too_large",
    "already_uploaded",
    "file_not_ready",
    "file_gone",
    "webhook_endpoint_not_found",
    "webhook_endpoint_limit_reached",
    "admin_required",
    "import_running",
];

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after: Option<u64>,
}

/// An RFC 9457 problem. `code` is stable and meant for programs; `title`
/// and `detail` are for people and may change.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub(super) struct ProblemBody<'a> {
    /// `urn:problem:bufdir-exports:{code}`.
    #[serde(rename = "type")]
    problem_type: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    /// The path of the request.
    instance: String,
    #[schema(example = "validation_failed")]
    code: &'a str,
    /// Also in the `X-Request-Id` header.
    request_id: String,
    /// Every bad field, for `validation_failed`, `invalid_query`.
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    #[schema(value_type = Vec<FieldError>)]
    errors: &'a [FieldError],
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        ApiError { status, code, title, detail: detail.into(), errors: Vec::new(), retry_after: None }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn unauthorized() -> Self {
        // One answer for every token problem, so it tells an attacker nothing.
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized", "A valid bearer token is required.")
    }

    pub fn export_not_found() -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "export_not_found",
            "Export not found",
            "No export with this id exists for your organisations.",
        )
    }

    pub fn route_not_found() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "Not found", "No such endpoint.")
    }

    pub fn method_not_allowed() -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
            "This endpoint does not support this method.",
        )
    }

    pub fn invalid_query(errors: Vec<FieldError>) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "Invalid query parameters",
            "One or more query parameters are invalid.",
        )
        .with_errors(errors)
    }

    pub fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal error",
            "Something went wrong on our side; the request id helps us find it.",
        )
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Validation(errors) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Invalid request",
                "One or more fields are invalid; see errors.",
            )
            .with_errors(errors),
            ServiceError::InvalidQuery(errors) => ApiError::invalid_query(errors),
            ServiceError::Forbidden(org) => ApiError::new(
                StatusCode::FORBIDDEN,
                "organisation_forbidden",
                "Organisation not allowed",
                format!("Your token does not allow acting for organisation {org}."),
            ),
            ServiceError::NotFound => ApiError::export_not_found(),
            ServiceError::InvalidTransition(refused) => ApiError::new(
                StatusCode::CONFLICT,
                "invalid_transition",
                "Not possible in this status",
                refused.to_string(),
            ),
            ServiceError::RetryLimit(n) => ApiError::new(
                StatusCode::CONFLICT,
                "retry_limit_reached",
                "Retry limit reached",
                format!("The export has been retried {n} times, the most allowed; create a new export instead."),
            ),
            ServiceError::TooManyInFlight { limit, retry_after } => {
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_exports_in_flight",
                    "Too many exports in progress",
                    format!(
                        "Your organisation already has {limit} exports queued or running; try again when one has finished."
                    ),
                );
                e.retry_after = Some(retry_after);
                e
            }
            ServiceError::FileNotReady(status) => ApiError::new(
                StatusCode::CONFLICT,
                "file_not_ready",
                "No file yet",
                format!("The export is {status}; it has a file to download only once it has completed."),
            ),
            ServiceError::FileGone => ApiError::new(
                StatusCode::GONE,
                "file_gone",
                "File expired",
                "The export's file has expired and was deleted; retry is not possible, create a new export.",
            ),
            ServiceError::WebhookEndpointLimit(n) => ApiError::new(
                StatusCode::CONFLICT,
                "webhook_endpoint_limit_reached",
                "Too many webhook endpoints",
                format!("The organisation already has {n} webhook endpoints, the most allowed; delete one first."),
            ),
            ServiceError::IdempotencyKeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency key reused",
                "This Idempotency-Key was used with a different request; use a new key for a new export.",
            ),
            ServiceError::Unavailable(reason) => {
                tracing::warn!(reason = %reason, "service unavailable");
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    "Temporarily unavailable",
                    "The service is briefly unavailable; try again shortly.",
                );
                e.retry_after = Some(2);
                e
            }
            ServiceError::AdminOnly => ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_required",
                "Administrators only",
                "Only an administrator's token may do this.",
            ),
            ServiceError::ImportRunning => ApiError::new(
                StatusCode::CONFLICT,
                "import_running",
                "An import is running",
                "An import of this organisation is being checked or written; try again once it has finished.",
            ),
            ServiceError::Internal(reason) => {
                tracing::error!(reason = %reason, "internal error");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (request_id, instance) = current_request();
        let body = ProblemBody {
            problem_type: format!("urn:problem:bufdir-exports:{}", self.code),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            instance,
            code: self.code,
            request_id,
            errors: &self.errors,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, json).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::PROBLEM_CODES;

    /// The code is the first string literal of each `ApiError::new` call.
    #[test]
    fn every_code_the_api_answers_with_is_published() {
        let sources = [
            include_str!("problem.rs"),
            include_str!("extract.rs"),
            include_str!("handlers.rs"),
            include_str!("downloads.rs"),
            include_str!("imports.rs"),
            include_str!("activities.rs"),
            include_str!("organisations.rs"),
            include_str!("uploads.rs"),
            include_str!("webhooks.rs"),
        ];
        let mut used = Vec::new();
        for source in sources {
            // The code, not its tests.
            let code_part = source.split("#[cfg(test)]").next().unwrap();
            for (at, _) in code_part.match_indices("ApiError::new(") {
                let rest = &code_part[at..];
                let start = rest.find('"').unwrap() + 1;
                let code = &rest[start..start + rest[start..].find('"').unwrap()];
                used.push(code.to_string());
            }
        }
        assert!(used.len() >= 15, "found only {used:?}");
        for code in &used {
            assert!(PROBLEM_CODES.contains(&code.as_str()), "code {code:?} is answered but missing from PROBLEM_CODES");
        }
        for code in PROBLEM_CODES {
            assert!(used.iter().any(|u| u == code), "PROBLEM_CODES lists {code:?}, which nothing answers with");
        }
    }
}
