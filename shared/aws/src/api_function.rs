//! The whole life of an API Lambda: one operation's router, finished as
//! every API answer is, behind API Gateway. The request id is API
//! Gateway's own (`$context.requestId`, in its access log), so a user's
//! `X-Request-Id` from a failed call finds both the gateway's line and
//! ours; a client's own `X-Request-Id` header cannot replace it here.

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;

use crate::http::{ApiState, REQUEST_ID_HEADER, finish};

/// What an API function serves: `endpoint` with `state`, its request ids
/// taken from API Gateway.
pub fn api_function(endpoint: Router<ApiState>, state: ApiState) -> Router {
    finish(endpoint.with_state(state)).layer(axum::middleware::map_request(gateway_request_id))
}

/// Serves `endpoint` as this Lambda's handler until the runtime stops it.
pub async fn run_api(endpoint: Router<ApiState>, state: ApiState) -> Result<(), lambda_http::Error> {
    lambda_http::run(api_function(endpoint, state)).await
}

async fn gateway_request_id(mut request: Request) -> Request {
    // The stack's API is an HTTP API: its events are v2 only.
    let id = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(c)) => c.request_id.clone(),
        _ => None,
    };
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        request.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    request
}
