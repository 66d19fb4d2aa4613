//! The OpenAPI 3.1 document, generated from the handlers' annotations and
//! the response types. `infra/openapi.json` is this document checked in;
//! `tests/e2e/openapi.rs` fails when the two drift apart.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::auth::MAX_TOKEN_ORGS;
use super::handlers::{self, BASE_PATH};
use super::problem::{PROBLEM_CODES, PROBLEM_JSON, ProblemBody};
use super::{activities, attachments, downloads, dto, imports, organisations, uploads, webhooks};
use crate::domain::{
    ActivityType, AuditAction, CreateAttachmentRequest, CreateExportRequest, CreateImportRequest, CreateWebhookRequest,
    DeliveryAttempt, DeliveryStatus, EndpointStatus, ExportFormat, ExportStatus, FailureCode, FieldError, ImportFormat,
    ImportStatus, OrganisationRequest, Period, PeriodRequest, RotateSecretRequest, RowError, Stage, SubmissionStatus,
    UpdateWebhookRequest,
};
use crate::ports::{Stored, UploadMethod};

/// Where the local server serves the document, without authentication.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bufdir Export Orchestrator",
        version = "1.0.0",
        description = "Asynchronous exports of a voluntary organisation's recorded activities as its \
            Bufdir grant report: create an export for a period, watch it, download the file, cancel, \
            retry, delete. Errors are RFC 9457 problem details with a stable `code`. Deployed on AWS, \
            a few answers come from API Gateway itself, before the service sees the request, as \
            `application/json` `{\"message\": ...}` instead: 401 `Unauthorized` (its JWT authorizer \
            refused the token), 429 `Too Many Requests` (throttling), 404 `Not Found` (a path this \
            document does not list), 413 `Request Entity Too Large` (over the gateway's 10 MB), and \
            500 `Internal Server Error` or 503 `Service Unavailable` (a function failed or timed out). \
            The Content-Type tells them apart; the local server answers all of them as problem details."
    ),
    paths(
        handlers::list_exports,
        handlers::create_export,
        handlers::get_export,
        handlers::get_export_file,
        handlers::delete_export,
        handlers::cancel_export,
        handlers::retry_export,
        downloads::download,
        imports::create_import,
        imports::list_imports,
        imports::get_import,
        imports::get_template,
        uploads::upload,
        activities::put_activities,
        activities::list_activities,
        activities::delete_activity,
        organisations::get_organisation,
        organisations::put_organisation,
        organisations::erase_organisation_data,
        attachments::create_attachment,
        webhooks::create_webhook_endpoint,
        webhooks::list_webhook_endpoints,
        webhooks::get_webhook_endpoint,
        webhooks::update_webhook_endpoint,
        webhooks::delete_webhook_endpoint,
        webhooks::rotate_webhook_secret,
        webhooks::list_webhook_deliveries,
    ),
    components(schemas(
        dto::ExportListBody, dto::ExportSummaryBody, dto::PaginationBody, dto::ExportDetailBody, dto::ProgressBody,
        dto::FileBody, dto::CreatedBody, dto::CancelledBody, dto::RetriedBody, dto::DeletedBody, dto::CancelRequest,
        dto::SubmissionBody, SubmissionStatus, dto::HistoryEntryBody, AuditAction,
        CreateExportRequest, ExportStatus, ExportFormat, ActivityType, Stage, FieldError, ProblemBody, FailureCode,
        imports::ImportBody, imports::ImportListBody, dto::UploadBody, dto::FieldBody, uploads::UploadedBody,
        CreateImportRequest, PeriodRequest, ImportStatus, ImportFormat, Period, RowError, UploadMethod,
        activities::PutActivitiesRequest, activities::PutActivitiesBody, activities::PutResult, Stored,
        activities::ActivityPageBody, activities::JudgedActivityBody, activities::DeletedActivityBody,
        organisations::OrganisationBody, OrganisationRequest,
        organisations::EraseRequest, organisations::ErasureBody, crate::service::Erased,
        attachments::AttachmentBody, CreateAttachmentRequest,
        webhooks::WebhookEndpointBody, webhooks::WebhookSecretBody, webhooks::WebhookEndpointListBody,
        webhooks::WebhookDeliveryBody, webhooks::WebhookDeliveryListBody, webhooks::DeletedWebhookBody, CreateWebhookRequest,
        UpdateWebhookRequest, RotateSecretRequest, EndpointStatus, DeliveryStatus, DeliveryAttempt,
    )),
    modifiers(&CommonAnswers),
    security(("bearer" = [])),
    tags(
        (name = "exports", description = "Export jobs of the caller's organisations."),
        (name = "downloads", description = "Files behind signed links; the signature is the authorisation."),
        (name = "imports", description = "Getting activities in: upload a file (JSON Lines, CSV, a filled template), checked whole, written whole."),
        (name = "activities", description = "Small writes as an organisation's system syncs, and what a report will count."),
        (name = "organisations", description = "The organisation's name and number, on its reports and submissions."),
        (name = "attachments", description = "Files an activity names (attendance lists, certificates), uploaded with a signed link."),
        (name = "webhooks", description = "Signed notifications when an export or import ends (`Bufdir-Signature`, see the README), retried for 72 hours, in order per export."),
    )
)]
struct ApiDoc;

/// What operations share, added here once rather than repeated on each
/// handler: every answer carries the request id, and the export
/// operations all authenticate (401) and ask the service (500, 503).
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(format!(
                "A JWT naming the organisations the caller acts for (at most {MAX_TOKEN_ORGS}; a token naming \
                 more answers 401), by default in its `org_ids` or `org_id` claim; a `roles` claim holding \
                 `admin` acts for all. A deployment may read other claims (Cognito's, Entra ID's, Keycloak's)."
            )))
            .build();
        doc.components.get_or_insert_with(Default::default).add_security_scheme("bearer", SecurityScheme::Http(bearer));

        for (path, item) in doc.paths.paths.iter_mut() {
            // Everything under /api/v1/ takes a token; signed links do not.
            let authenticated = path.starts_with("/api/v1/");
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                add_common_answers(operation, authenticated);
            }
        }
        link_created_export(doc);
        list_problem_codes(doc);
    }
}

fn list_problem_codes(doc: &mut utoipa::openapi::OpenApi) {
    let schemas = doc.components.as_mut().map(|c| &mut c.schemas);
    let Some(RefOr::T(Schema::Object(problem))) = schemas.and_then(|s| s.get_mut("Problem")) else { return };
    if let Some(RefOr::T(Schema::Object(code))) = problem.properties.get_mut("code") {
        code.enum_values = Some(PROBLEM_CODES.iter().map(|c| (*c).into()).collect());
    }
}

/// Links from the create answer to what can be done with the new export,
/// so clients and stateful testers know where its id goes.
fn link_created_export(doc: &mut utoipa::openapi::OpenApi) {
    let created = doc
        .paths
        .paths
        .get_mut(BASE_PATH)
        .and_then(|item| item.post.as_mut())
        .and_then(|op| op.responses.responses.get_mut("202"));
    let Some(RefOr::T(created)) = created else { return };
    for (name, operation_id) in [
        ("GetExport", "get_export"),
        ("CancelExport", "cancel_export"),
        ("RetryExport", "retry_export"),
        ("DeleteExport", "delete_export"),
    ] {
        let link =
            LinkBuilder::new().operation_id(operation_id).parameter("export_id", "$response.body#/export_id").build();
        created.links.insert(name.to_string(), RefOr::T(link));
    }
}

fn add_common_answers(operation: &mut Operation, authenticated: bool) {
    let responses = &mut operation.responses.responses;
    if authenticated {
        responses.insert(
            "401".into(),
            problem(
                "`unauthorized`: the bearer token is missing or not valid. The answer is the same whatever the reason.",
            )
            .into(),
        );
        responses.insert(
            "500".into(),
            problem("`internal_error`: a fault on our side; the request id helps find it.").into(),
        );
        responses.insert(
            "503".into(),
            problem("`service_unavailable`: briefly unavailable; try again after `Retry-After`.").into(),
        );
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else { continue };
        response.headers.insert(
            "X-Request-Id".into(),
            string_header("The request's id: the caller's own when it is 1-64 of `A-Za-z0-9-_.`, otherwise a new one."),
        );
        match status.as_str() {
            "401" => {
                response.headers.insert("WWW-Authenticate".into(), string_header("`Bearer`"));
            }
            "503" => {
                let seconds = HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)))
                    .description(Some("Seconds to wait."))
                    .build();
                response.headers.insert("Retry-After".into(), seconds);
            }
            _ => {}
        }
    }
}

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build())
        .build()
}

fn string_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new().schema(ObjectBuilder::new().schema_type(Type::String)).description(Some(description)).build()
}

/// The document as pretty JSON with a final newline, exactly as checked in.
pub fn openapi_json() -> String {
    let json = ApiDoc::openapi().to_pretty_json().expect("the OpenAPI document serialises");
    // utoipa 5.5 writes the Link Object's `operationId` in snake case; as
    // a key it occurs nowhere else, so the text fix is exact.
    let mut json = json.replace("\"operation_id\": ", "\"operationId\": ");
    json.push('\n');
    json
}

/// Serves the document; it describes the API, so it needs no token. It is
/// made once per process: building it costs more than most requests.
pub fn openapi_router() -> Router {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    Router::new().route(
        OPENAPI_PATH,
        get(|| async {
            let json = DOCUMENT.get_or_init(openapi_json).as_str();
            ([(header::CONTENT_TYPE, "application/json")], json).into_response()
        }),
    )
}
