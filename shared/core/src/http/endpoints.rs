//! One router per API operation. Behind API Gateway each Lambda serves a
//! single operation and builds only its router, so the linker keeps that
//! operation's handler and what it calls, not the whole API (a workbook
//! template writer or the activity schema in a function that reads one
//! export). `api_router` joins them all for the local server.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};

use super::{
    ACTIVITIES_PATH, ATTACHMENTS_PATH, ApiState, BASE_PATH, IMPORTS_PATH, MAX_PUT_BODY, ORGANISATIONS_PATH,
    WEBHOOKS_PATH, activities, attachments, handlers, imports, organisations, webhooks,
};

type Endpoint = Router<ApiState>;

fn export(tail: &str) -> String {
    format!("{BASE_PATH}/{{export_id}}{tail}")
}

fn webhook_endpoint(tail: &str) -> String {
    format!("{WEBHOOKS_PATH}/{{endpoint_id}}{tail}")
}

pub fn list_exports() -> Endpoint {
    Router::new().route(BASE_PATH, get(handlers::list_exports))
}

pub fn create_export() -> Endpoint {
    Router::new().route(BASE_PATH, post(handlers::create_export))
}

pub fn get_export() -> Endpoint {
    Router::new().route(&export(""), get(handlers::get_export))
}

pub fn delete_export() -> Endpoint {
    Router::new().route(&export(""), delete(handlers::delete_export))
}

pub fn get_export_file() -> Endpoint {
    Router::new().route(&export("/file"), get(handlers::get_export_file))
}

pub fn cancel_export() -> Endpoint {
    Router::new().route(&export("/cancel"), put(handlers::cancel_export))
}

pub fn retry_export() -> Endpoint {
    Router::new().route(&export("/retry"), post(handlers::retry_export))
}

pub fn list_imports() -> Endpoint {
    Router::new().route(IMPORTS_PATH, get(imports::list_imports))
}

pub fn create_import() -> Endpoint {
    Router::new().route(IMPORTS_PATH, post(imports::create_import))
}

pub fn get_import() -> Endpoint {
    Router::new().route(&format!("{IMPORTS_PATH}/{{import_id}}"), get(imports::get_import))
}

pub fn get_import_template() -> Endpoint {
    Router::new().route(&format!("{IMPORTS_PATH}/templates/{{name}}"), get(imports::get_template))
}

pub fn list_activities() -> Endpoint {
    Router::new().route(ACTIVITIES_PATH, get(activities::list_activities))
}

pub fn put_activities() -> Endpoint {
    Router::new().route(ACTIVITIES_PATH, put(activities::put_activities).layer(DefaultBodyLimit::max(MAX_PUT_BODY)))
}

pub fn delete_activity() -> Endpoint {
    Router::new().route(&format!("{ACTIVITIES_PATH}/{{activity_id}}"), delete(activities::delete_activity))
}

pub fn get_organisation() -> Endpoint {
    Router::new().route(&format!("{ORGANISATIONS_PATH}/{{org_id}}"), get(organisations::get_organisation))
}

pub fn put_organisation() -> Endpoint {
    Router::new().route(&format!("{ORGANISATIONS_PATH}/{{org_id}}"), put(organisations::put_organisation))
}

pub fn erase_organisation_data() -> Endpoint {
    Router::new()
        .route(&format!("{ORGANISATIONS_PATH}/{{org_id}}/data"), delete(organisations::erase_organisation_data))
}

pub fn create_attachment() -> Endpoint {
    Router::new().route(ATTACHMENTS_PATH, post(attachments::create_attachment))
}

pub fn list_webhook_endpoints() -> Endpoint {
    Router::new().route(WEBHOOKS_PATH, get(webhooks::list_webhook_endpoints))
}

pub fn create_webhook_endpoint() -> Endpoint {
    Router::new().route(WEBHOOKS_PATH, post(webhooks::create_webhook_endpoint))
}

pub fn get_webhook_endpoint() -> Endpoint {
    Router::new().route(&webhook_endpoint(""), get(webhooks::get_webhook_endpoint))
}

pub fn update_webhook_endpoint() -> Endpoint {
    Router::new().route(&webhook_endpoint(""), patch(webhooks::update_webhook_endpoint))
}

pub fn delete_webhook_endpoint() -> Endpoint {
    Router::new().route(&webhook_endpoint(""), delete(webhooks::delete_webhook_endpoint))
}

pub fn rotate_webhook_secret() -> Endpoint {
    Router::new().route(&webhook_endpoint("/rotate-secret"), post(webhooks::rotate_webhook_secret))
}

pub fn list_webhook_deliveries() -> Endpoint {
    Router::new().route(&webhook_endpoint("/deliveries"), get(webhooks::list_webhook_deliveries))
}

/// Every operation: what the local server serves.
pub(super) fn all() -> Endpoint {
    [
        list_exports,
        create_export,
        get_export,
        delete_export,
        get_export_file,
        cancel_export,
        retry_export,
        list_imports,
        create_import,
        get_import,
        get_import_template,
        list_activities,
        put_activities,
        delete_activity,
        get_organisation,
        put_organisation,
        erase_organisation_data,
        create_attachment,
        list_webhook_endpoints,
        create_webhook_endpoint,
        get_webhook_endpoint,
        update_webhook_endpoint,
        delete_webhook_endpoint,
        rotate_webhook_secret,
        list_webhook_deliveries,
    ]
    .into_iter()
    .fold(Router::new(), |router, endpoint| router.merge(endpoint()))
}
