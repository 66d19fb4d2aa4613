//! The HTTP API: routes, authentication, problem responses. The same
//! router serves the local server and, behind API Gateway, the Lambdas.

mod activities;
mod attachments;
mod auth;
mod claim_rules;
pub mod console;
mod cors;
pub mod downloads;
pub mod dto;
pub mod endpoints;
mod extract;
mod handlers;
mod imports;
mod openapi;
mod organisations;
mod problem;
mod request_context;
mod server;
pub mod uploads;
mod webhooks;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::{Router, middleware};

pub use activities::{ACTIVITIES_PATH, MAX_PUT_BODY};
pub use attachments::ATTACHMENTS_PATH;
pub use auth::{AuthError, Authenticator, Claims, MAX_TOKEN_ORGS, bearer_token};
pub use claim_rules::{ClaimPath, ClaimRules, claim_values};
pub use cors::{CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, CORS_MAX_AGE, CORS_METHODS, cors_layer, parse_origin};
pub use handlers::BASE_PATH;
pub use imports::IMPORTS_PATH;
pub use openapi::{OPENAPI_PATH, openapi_json, openapi_router};
pub use organisations::ORGANISATIONS_PATH;
pub use problem::{ApiError, PROBLEM_JSON};
pub use request_context::REQUEST_ID_HEADER;
pub use server::{ServerLimits, serve};
pub use webhooks::WEBHOOKS_PATH;

use crate::service::{
    ActivityService, AttachmentService, ErasureService, ExportService, ImportService, OrganisationService,
    WebhookService,
};

/// Largest request body accepted; a create request is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Clone)]
pub struct ApiState {
    pub service: Arc<ExportService>,
    pub imports: Arc<ImportService>,
    pub activities: Arc<ActivityService>,
    pub organisations: Arc<OrganisationService>,
    pub erasure: Arc<ErasureService>,
    pub attachments: Arc<AttachmentService>,
    pub webhooks: Arc<WebhookService>,
    pub auth: Arc<dyn Authenticator>,
}

/// The export API's routes (every operation in `endpoints`); `finish`
/// adds request ids, body limits and problem answers.
pub fn api_router(state: ApiState) -> Router {
    endpoints::all().with_state(state)
}

/// Wraps any router with what every response needs: a request id, a body
/// limit, and problem answers for unknown routes and methods.
pub fn finish(router: Router) -> Router {
    router
        .fallback(|| async { ApiError::route_not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(request_context::request_context))
}
