//! What an organisation tells us about itself, for its reports' cover
//! and the Bufdir submission. Its own token or an administrator's may read
//! and change it.

use std::sync::Arc;

use chrono::Utc;

use super::ServiceError;
use crate::domain::{Caller, OrgId, Organisation, OrganisationRequest};
use crate::ports::OrganisationStore;

pub struct OrganisationService {
    store: Arc<dyn OrganisationStore>,
}

impl OrganisationService {
    pub fn new(store: Arc<dyn OrganisationStore>) -> Self {
        OrganisationService { store }
    }

    /// The organisation in a path, if the caller may act for it; an id
    /// that is malformed or not the caller's answers like a missing one.
    fn allowed(caller: &Caller, org_id: &str) -> Result<(), ServiceError> {
        if OrgId::parse(org_id).is_ok() && caller.may_act_for(org_id) { Ok(()) } else { Err(ServiceError::NotFound) }
    }

    pub async fn get(&self, caller: &Caller, org_id: &str) -> Result<Organisation, ServiceError> {
        Self::allowed(caller, org_id)?;
        self.store.get_organisation(org_id).await?.ok_or(ServiceError::NotFound)
    }

    pub async fn put(
        &self,
        caller: &Caller,
        org_id: &str,
        request: &OrganisationRequest,
    ) -> Result<Organisation, ServiceError> {
        Self::allowed(caller, org_id)?;
        let valid = request.validate().map_err(ServiceError::Validation)?;
        let org = Organisation {
            org_id: org_id.to_string(),
            name: valid.name,
            organisation_number: valid.organisation_number,
            contact_email: valid.contact_email,
            default_report_profile: valid.default_report_profile,
            updated_at: Utc::now(),
            updated_by: caller.subject.clone(),
        };
        self.store.put_organisation(&org).await?;
        Ok(org)
    }
}
