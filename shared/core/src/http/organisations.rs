//! `/api/v1/organisations/{org_id}`: the organisation's name and number,
//! which its reports' cover and the Bufdir submission carry; and
//! `.../data`, erasing everything of an organisation that leaves.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::dto::ts;
use super::extract::{AuthCaller, KnownFields, StrictJson};
use super::problem::{ApiError, ProblemBody};
use crate::domain::{Organisation, OrganisationRequest};
use crate::service::{Erased, ServiceError};

pub const ORGANISATIONS_PATH: &str = "/api/v1/organisations";

impl KnownFields for OrganisationRequest {
    const FIELDS: &'static [&'static str] = &["name", "organisation_number", "contact_email", "default_report_profile"];
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrganisationBody {
    pub org_id: String,
    pub name: String,
    #[schema(required = true)]
    pub organisation_number: Option<String>,
    #[schema(required = true)]
    pub contact_email: Option<String>,
    #[schema(required = true)]
    pub default_report_profile: Option<String>,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub updated_by: String,
}

impl From<Organisation> for OrganisationBody {
    fn from(o: Organisation) -> Self {
        OrganisationBody {
            org_id: o.org_id,
            name: o.name,
            organisation_number: o.organisation_number,
            contact_email: o.contact_email,
            default_report_profile: o.default_report_profile,
            updated_at: ts(o.updated_at),
            updated_by: o.updated_by,
        }
    }
}

fn not_found(e: ServiceError) -> ApiError {
    match e {
        ServiceError::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            "organisation_not_found",
            "Organisation not found",
            "No details are stored for this organisation, or it is not one of yours.",
        ),
        other => other.into(),
    }
}

/// What the organisation has told us about itself.
#[utoipa::path(
    get,
    path = "/api/v1/organisations/{org_id}",
    tag = "organisations",
    operation_id = "get_organisation",
    params(("org_id" = String, Path, pattern = r"^[A-Za-z0-9_-]{1,100}$")),
    responses(
        (status = 200, description = "The organisation.", body = OrganisationBody),
        (status = 404, description = "`organisation_not_found` (also for another organisation's).", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn get_organisation(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    org: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Json<OrganisationBody>, ApiError> {
    let Ok(Path(org_id)) = org else { return Err(not_found(ServiceError::NotFound)) };
    Ok(Json(state.organisations.get(&caller, &org_id).await.map_err(not_found)?.into()))
}

/// Store the organisation's name, organisation number (nine digits, 8 or 9 first, mod 11),
/// contact address and default report profile; replaces what was there.
#[utoipa::path(
    put,
    path = "/api/v1/organisations/{org_id}",
    tag = "organisations",
    operation_id = "put_organisation",
    params(("org_id" = String, Path, pattern = r"^[A-Za-z0-9_-]{1,100}$")),
    request_body(content = OrganisationRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored.", body = OrganisationBody),
        (status = 400, description = "`invalid_json`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 404, description = "`organisation_not_found`: not one of the token's organisations.", content_type = "application/problem+json", body = ProblemBody),
        (status = 413, description = "`payload_too_large`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 415, description = "`unsupported_media_type`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 422, description = "`invalid_body` or `validation_failed`.", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn put_organisation(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    org: Result<Path<String>, axum::extract::rejection::PathRejection>,
    StrictJson(request): StrictJson<OrganisationRequest>,
) -> Result<Json<OrganisationBody>, ApiError> {
    let Ok(Path(org_id)) = org else { return Err(not_found(ServiceError::NotFound)) };
    Ok(Json(state.organisations.put(&caller, &org_id, &request).await.map_err(not_found)?.into()))
}

/// What `DELETE .../data` must carry: the organisation's id once more.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EraseRequest {
    /// The id of the organisation to erase, exactly as in the path.
    pub confirm: Option<String>,
}

impl KnownFields for EraseRequest {
    const FIELDS: &'static [&'static str] = &["confirm"];
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErasureBody {
    pub org_id: String,
    #[schema(format = DateTime)]
    pub erased_at: String,
    pub removed: Erased,
}

/// Erase everything the service keeps of an organisation that leaves:
/// activities, attachment files, exports and their files (running ones
/// are cancelled), imports and their files, idempotency keys, webhook
/// endpoints and deliveries, its details, its exports' audit trail and the
/// events still held. Administrators only; the body repeats the id. Erasing
/// again finds nothing and answers with zeros.
#[utoipa::path(
    delete,
    path = "/api/v1/organisations/{org_id}/data",
    tag = "organisations",
    operation_id = "erase_organisation_data",
    params(("org_id" = String, Path, pattern = r"^[A-Za-z0-9_-]{1,100}$")),
    request_body(content = EraseRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Erased; what went, by kind.", body = ErasureBody),
        (status = 400, description = "`invalid_json`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 403, description = "`admin_required`: the token is not an administrator's.", content_type = "application/problem+json", body = ProblemBody),
        (status = 404, description = "`organisation_not_found`: the id is not a valid organisation id.", content_type = "application/problem+json", body = ProblemBody),
        (status = 409, description = "`import_running`: an import of the organisation is being checked or written.", content_type = "application/problem+json", body = ProblemBody),
        (status = 413, description = "`payload_too_large`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 415, description = "`unsupported_media_type`.", content_type = "application/problem+json", body = ProblemBody),
        (status = 422, description = "`invalid_body`, or `validation_failed` when `confirm` is not the organisation's id.", content_type = "application/problem+json", body = ProblemBody),
    )
)]
pub async fn erase_organisation_data(
    State(state): State<ApiState>,
    AuthCaller(caller): AuthCaller,
    org: Result<Path<String>, axum::extract::rejection::PathRejection>,
    StrictJson(request): StrictJson<EraseRequest>,
) -> Result<Json<ErasureBody>, ApiError> {
    let Ok(Path(org_id)) = org else { return Err(not_found(ServiceError::NotFound)) };
    let erased = state.erasure.erase(&caller, &org_id, request.confirm.as_deref()).await.map_err(not_found)?;
    Ok(Json(ErasureBody { org_id, erased_at: ts(chrono::Utc::now()), removed: erased }))
}
