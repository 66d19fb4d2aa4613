//! The HTTP API: routes, authentication, problem responses. The same
//! router serves the local server and, behind API Gateway, the Lambdas.

mod activities;
mod attachments;
mod auth;
mod claim_rules;
mod cors;
pub mod downloads;
pub mod dto;
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
use axum::routing::{get, post, put};
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
    ActivityService, AttachmentService, ExportService, ImportService, OrganisationService, WebhookService,
};

/// Largest request body accepted; a create request is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Clone)]
pub struct ApiState {
    pub service: Arc<ExportService>,
    pub imports: Arc<ImportService>,
    pub activities: Arc<ActivityService>,
    pub organisations: Arc<OrganisationService>,
    pub attachments: Arc<AttachmentService>,
    pub webhooks: Arc<WebhookService>,
    pub auth: Arc<dyn Authenticator>,
}

/// The export API's routes, with request ids, body limits and problem
/// answers for unknown routes and methods.
pub fn api_router(state: ApiState) -> Router {
    Router::new()
        .route(BASE_PATH, get(handlers::list_exports).post(handlers::create_export))
        .route(&format!("{BASE_PATH}/{{export_id}}"), get(handlers::get_export).delete(handlers::delete_export))
        .route(&format!("{BASE_PATH}/{{export_id}}/file"), get(handlers::get_export_file))
        .route(&format!("{BASE_PATH}/{{export_id}}/cancel"), put(handlers::cancel_export))
        .route(&format!("{BASE_PATH}/{{export_id}}/retry"), post(handlers::retry_export))
        .route(IMPORTS_PATH, get(imports::list_imports).post(imports::create_import))
        .route(&format!("{IMPORTS_PATH}/{{import_id}}"), get(imports::get_import))
        .route(&format!("{IMPORTS_PATH}/templates/{{name}}"), get(imports::get_template))
        .route(
            ACTIVITIES_PATH,
            get(activities::list_activities).put(activities::put_activities).layer(DefaultBodyLimit::max(MAX_PUT_BODY)),
        )
        .route(&format!("{ACTIVITIES_PATH}/{{activity_id}}"), axum::routing::delete(activities::delete_activity))
        .route(
            &format!("{ORGANISATIONS_PATH}/{{org_id}}"),
            get(organisations::get_organisation).put(organisations::put_organisation),
        )
        .route(ATTACHMENTS_PATH, post(attachments::create_attachment))
        .route(WEBHOOKS_PATH, get(webhooks::list_webhook_endpoints).post(webhooks::create_webhook_endpoint))
        .route(
            &format!("{WEBHOOKS_PATH}/{{endpoint_id}}"),
            get(webhooks::get_webhook_endpoint)
                .patch(webhooks::update_webhook_endpoint)
                .delete(webhooks::delete_webhook_endpoint),
        )
        .route(&format!("{WEBHOOKS_PATH}/{{endpoint_id}}/rotate-secret"), post(webhooks::rotate_webhook_secret))
        .route(&format!("{WEBHOOKS_PATH}/{{endpoint_id}}/deliveries"), get(webhooks::list_webhook_deliveries))
        .with_state(state)
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
