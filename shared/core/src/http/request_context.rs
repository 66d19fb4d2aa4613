//! Gives every request an id (the caller's `X-Request-Id` when it is
//! sane, a fresh one otherwise), logs one line per request, and makes the
//! id available to error responses without threading it through handlers.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;
use tracing::Instrument;

use crate::request_scope::{self, RequestInfo};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// (request id, path) of the request being handled, if any.
pub fn current_request() -> (String, String) {
    request_scope::current().map(|r| (r.id, r.path)).unwrap_or_default()
}

/// An id safe to log and echo: API Gateway's are base64 (`Jd2kQhrFoAMEbKw=`).
fn sane(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.=".contains(&b))
}

pub async fn request_context(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane(v))
        .map(str::to_string)
        .unwrap_or_else(|| format!("req-{:016x}", rand::rng().random::<u64>()));
    let info = RequestInfo { id: id.clone(), path: request.uri().path().to_string() };
    // Only the method and path are logged: query strings can carry signatures.
    let span = tracing::info_span!("request", request_id = %id, method = %request.method(), path = %info.path);
    let started = Instant::now();
    let mut response = request_scope::scope(info, next.run(request).instrument(span.clone())).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request handled"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}
