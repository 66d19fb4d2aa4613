//! Extractors that turn every malformed input into a problem response:
//! bad tokens, bad ids, bad JSON never reach a handler, and never a 5xx.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ApiState;
use super::dto::CancelRequest;
use super::problem::ApiError;
use crate::domain::{Caller, CreateExportRequest, CreateImportRequest, ExportId, FieldError};

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
        let Path(raw) =
            Path::<String>::from_request_parts(parts, state).await.map_err(|_| ApiError::export_not_found())?;
        ExportId::parse(&raw).map(ExportIdParam).ok_or_else(ApiError::export_not_found)
    }
}

/// The fields a request body may carry. Unknown ones are refused, all
/// of them named at once (serde's `deny_unknown_fields` stops at the first).
pub trait KnownFields {
    const FIELDS: &'static [&'static str];
}

impl KnownFields for CreateExportRequest {
    const FIELDS: &'static [&'static str] = &[
        "org_id",
        "format",
        "period_from",
        "period_to",
        "activity_types",
        "include_attachments",
        "submit_to_bufdir_api",
        "report_profile",
    ];
}

impl KnownFields for CreateImportRequest {
    const FIELDS: &'static [&'static str] = &["org_id", "format", "replace_period"];
}

impl KnownFields for CancelRequest {
    const FIELDS: &'static [&'static str] = &["reason"];
}

/// A JSON body read strictly: unknown fields are refused with their names.
pub struct StrictJson<T>(pub T);

impl<T: DeserializeOwned + KnownFields, S: Send + Sync> FromRequest<S> for StrictJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<Value>::from_request(req, state).await.map_err(json_problem)?;
        from_known_fields(value).map(StrictJson)
    }
}

/// A JSON body that may be absent (e.g. cancel without a reason).
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + KnownFields, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE { too_large() } else { bad_json(e.body_text()) }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| bad_json(e.to_string()))?;
        if value.is_null() {
            // `null` is the JSON spelling of "no body"; the schema allows it.
            return Ok(OptionalJson(None));
        }
        from_known_fields(value).map(|v| OptionalJson(Some(v)))
    }
}

/// An object with only known fields, read into `T`. Anything but an object
/// is refused first: serde would read an array as the struct's fields in
/// order, so `["org-demo","json",...]` would otherwise become a request.
fn from_known_fields<T: DeserializeOwned + KnownFields>(value: Value) -> Result<T, ApiError> {
    let Value::Object(fields) = &value else {
        return Err(invalid_body(format!("the body must be a JSON object, not {}", json_kind(&value))));
    };
    let unknown: Vec<FieldError> = fields
        .keys()
        .filter(|k| !T::FIELDS.contains(&k.as_str()))
        .map(|k| FieldError::new(k, format!("is not a known field; known: {}", T::FIELDS.join(", "))))
        .collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(|e| e.field.as_str()).collect();
        return Err(invalid_body(format!("unknown fields: {}", names.join(", "))).with_errors(unknown));
    }
    serde_json::from_value(value).map_err(|e| invalid_body(e.to_string()))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
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
        // The body never arrived whole (it stalled past the body timeout,
        // or its chunked framing broke): nothing to say about its JSON.
        _ if matches!(rejection, JsonRejection::BytesRejection(_)) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "body_incomplete",
            "Body not received",
            "The request body did not arrive whole (it stopped, took too long, or its framing was broken); send it again.",
        ),
        _ => bad_json(rejection.body_text()),
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "Body too large",
        "The request body is larger than allowed.",
    )
}

fn bad_json(detail: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", "Malformed JSON", detail)
}

fn invalid_body(detail: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", "Invalid request body", detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field lists and the published schemas must name the same fields.
    #[test]
    fn known_fields_match_the_openapi_schemas() {
        let doc: Value = serde_json::from_str(&super::super::openapi_json()).unwrap();
        let names = |schema: &str| -> Vec<String> {
            doc["components"]["schemas"][schema]["properties"].as_object().unwrap().keys().cloned().collect()
        };
        let sorted = |fields: &[&str]| {
            let mut v: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(names("CreateExportRequest"), sorted(CreateExportRequest::FIELDS));
        assert_eq!(names("CancelRequest"), sorted(CancelRequest::FIELDS));
    }

    #[test]
    fn every_unknown_field_is_named() {
        let body = serde_json::json!({"period_from": "2025-01-01", "colour": "red", "size": 3});
        let e = from_known_fields::<CreateExportRequest>(body).err().unwrap();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.code, "invalid_body");
        let fields: Vec<&str> = e.errors.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["colour", "size"]);
        assert!(e.detail.contains("colour, size"), "{}", e.detail);
        let ok = from_known_fields::<CancelRequest>(serde_json::json!({"reason": "x"})).unwrap();
        assert_eq!(ok.reason.as_deref(), Some("x"));
    }

    #[test]
    fn only_an_object_is_a_body() {
        let positional = serde_json::json!(["org-demo", "json", "2025-01-01", "2025-01-31"]);
        let e = from_known_fields::<CreateExportRequest>(positional).err().unwrap();
        assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
        assert!(e.detail.contains("an array"), "{}", e.detail);
        for other in [
            serde_json::json!(["a reason"]),
            serde_json::json!("a reason"),
            serde_json::json!(3),
            serde_json::json!(true),
        ] {
            let e = from_known_fields::<CancelRequest>(other.clone()).err().unwrap();
            assert_eq!(e.code, "invalid_body", "{other}");
        }
        let e = from_known_fields::<CreateExportRequest>(Value::Null).err().unwrap();
        assert_eq!(e.code, "invalid_body");
    }
}
