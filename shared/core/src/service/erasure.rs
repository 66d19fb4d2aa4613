//! Erasing an organisation that leaves: its activities, attachment files,
//! exports and their files, imports and their files, idempotency keys,
//! webhook endpoints, details, the audit trail of its exports and the
//! events still held about it. Only an administrator may, and must name the
//! organisation twice (path and body), so a slip cannot erase the wrong one.

use std::sync::Arc;

use tracing::info;

use super::{ExportService, ServiceError};
use crate::domain::{Caller, FieldError, ImportStatus, OrgId, OrgScope};
use crate::ports::{ActivityStore, AttachmentUploads, FileStore, ImportStore, OrganisationStore, WebhookStore};

pub struct ErasurePorts {
    pub exports: Arc<ExportService>,
    pub activities: Arc<dyn ActivityStore>,
    pub attachments: Arc<dyn AttachmentUploads>,
    pub imports: Arc<dyn ImportStore>,
    /// Where import files are uploaded.
    pub import_files: Arc<dyn FileStore>,
    pub webhooks: Arc<dyn WebhookStore>,
    pub organisations: Arc<dyn OrganisationStore>,
}

/// What one erasure removed, by kind (the API's answer as it is).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Erased {
    pub activities: u64,
    /// Attachment files, uploaded or claimed.
    pub attachment_files: u64,
    pub exports: u64,
    /// Report files and what their attempts left.
    pub export_files: u64,
    pub imports: u64,
    /// Import files still waiting or left by a failed run.
    pub import_files: u64,
    /// Of exports and of imports.
    pub idempotency_keys: u64,
    /// With their deliveries.
    pub webhook_endpoints: u64,
    /// The audit trail of the organisation's exports.
    pub audit_entries: u64,
    /// Events this service still held (the local `events.jsonl`; a queue's
    /// messages cannot be picked out and expire with its retention).
    pub events: u64,
    /// Whether the organisation's name and number were stored.
    pub organisation_details: bool,
}

pub struct ErasureService {
    ports: ErasurePorts,
}

impl ErasureService {
    pub fn new(ports: ErasurePorts) -> Self {
        ErasureService { ports }
    }

    /// Erases everything of `org_id`. `confirm` must be the same id. While
    /// an import of the organisation is being checked or written the
    /// erasure is refused: its rows could land after the activities went.
    /// Erasing twice is harmless: the second finds nothing.
    pub async fn erase(&self, caller: &Caller, org_id: &str, confirm: Option<&str>) -> Result<Erased, ServiceError> {
        if caller.scope != OrgScope::All {
            return Err(ServiceError::AdminOnly);
        }
        if OrgId::parse(org_id).is_err() {
            return Err(ServiceError::NotFound);
        }
        if confirm != Some(org_id) {
            return Err(ServiceError::Validation(vec![FieldError::new(
                "confirm",
                format!("must be the id of the organisation to erase, {org_id}"),
            )]));
        }
        let running = self
            .ports
            .imports
            .unfinished_imports()
            .await?
            .into_iter()
            .any(|i| i.org_id == org_id && matches!(i.status, ImportStatus::Validating | ImportStatus::Importing));
        if running {
            return Err(ServiceError::ImportRunning);
        }
        let p = &self.ports;
        let prefix = format!("{org_id}/");
        // Endpoints first, so no delivery is made of the cancellations below.
        let webhook_endpoints = p.webhooks.erase_endpoints(org_id).await?;
        let imports = p.imports.erase_imports(org_id).await?;
        let import_files = p.import_files.delete_prefix(&prefix).await?;
        let exports = p.exports.erase_organisation(&caller.subject, org_id).await?;
        let erased = Erased {
            activities: p.activities.erase_activities(org_id).await?,
            attachment_files: p.attachments.erase(&prefix).await?,
            exports: exports.exports,
            export_files: exports.files,
            imports: imports.imports,
            import_files,
            idempotency_keys: exports.idempotency_keys + imports.keys,
            webhook_endpoints,
            audit_entries: exports.audit_entries,
            events: exports.events,
            organisation_details: p.organisations.delete_organisation(org_id).await?,
        };
        info!(
            org_id = %org_id,
            actor = %caller.subject,
            activities = erased.activities,
            attachment_files = erased.attachment_files,
            exports = erased.exports,
            export_files = erased.export_files,
            imports = erased.imports,
            import_files = erased.import_files,
            idempotency_keys = erased.idempotency_keys,
            webhook_endpoints = erased.webhook_endpoints,
            audit_entries = erased.audit_entries,
            events = erased.events,
            organisation_details = erased.organisation_details,
            "organisation erased"
        );
        Ok(erased)
    }
}
