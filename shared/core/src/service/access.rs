//! Which organisation a request acts for: the one it names, if the
//! caller's token allows it, or the token's only one when it names none.
//! The one rule every endpoint that takes an organisation uses.

use super::ServiceError;
use crate::domain::{Caller, FieldError, OrgId};

pub fn acting_for(caller: &Caller, requested: Option<String>) -> Result<String, ServiceError> {
    let org_id = match (requested, caller.sole_org()) {
        // One that could be no organisation's id (`?org_id=`, say) is a
        // mistake in the request, not a question of access.
        (Some(org), _) => match OrgId::parse(&org) {
            Ok(_) => org,
            Err(e) => return Err(ServiceError::Validation(vec![FieldError::new("org_id", e.to_string())])),
        },
        (None, Some(org)) => org.to_string(),
        (None, None) => {
            return Err(ServiceError::Validation(vec![FieldError::new(
                "org_id",
                "is required when the token does not name exactly one organisation",
            )]));
        }
    };
    if !caller.may_act_for(&org_id) {
        return Err(ServiceError::Forbidden(org_id));
    }
    Ok(org_id)
}
