//! Extractors that turn every malformed input into a problem response:
//! bad tokens, bad ids, bad JSON never reach a handler, and never a 5xx.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::problem::ApiError;
use super::ApiState;
use crate::domain::{Caller, ExportId};

/// The verified caller.
pub struct AuthCaller(pub Caller);

impl FromRequestParts<ApiState> for AuthCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        state.auth.authenticate(parts).map(AuthCaller).map_err(|e| {
            tracing::info!(reason = %e, "caller refused");
            ApiError::unauthorized()
        })
    }
}

/// An export id from the path, checked before any storage is asked. A
/// malformed id answers exactly like an unknown one.
pub struct ExportIdParam(pub ExportId);

impl<S: Send + Sync> FromRequestParts<S> for ExportIdParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::export_not_found())?;
        ExportId::parse(&raw).map(ExportIdParam).ok_or_else(ApiError::export_not_found)
    }
}

/// A JSON body read strictly: unknown fields are refused with their name.
pub struct StrictJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for StrictJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|axum::Json(v)| StrictJson(v))
            .map_err(json_problem)
    }
}

/// A JSON body that may be absent (e.g. cancel without a reason).
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE { too_large() } else { bad_json(e.body_text()) }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        serde_json::from_slice(&bytes).map(|v| OptionalJson(Some(v))).map_err(|e| {
            if e.is_data() {
                invalid_body(e.to_string())
            } else {
                bad_json(e.to_string())
            }
        })
    }
}

fn json_problem(rejection: JsonRejection) -> ApiError {
    match rejection.status() {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
            "Send the body as JSON with Content-Type: application/json.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        StatusCode::UNPROCESSABLE_ENTITY => invalid_body(rejection.body_text()),
        _ => bad_json(rejection.body_text()),
    }
}

fn too_large() -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "Body too large", "The request body is larger than allowed.")
}

fn bad_json(detail: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", "Malformed JSON", detail)
}

fn invalid_body(detail: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", "Invalid request body", detail)
}
