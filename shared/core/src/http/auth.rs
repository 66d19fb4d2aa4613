//! Who the caller is. The organisations come from verified token claims:
//! `org_ids` (array) or `org_id`, and a role `admin` for all of them.
//! Locally the server verifies HS256 tokens itself (`LocalJwt`, in the
//! embedded adapters); behind API Gateway the JWT authorizer has verified
//! them and the claims arrive with the request.

use axum::http::header;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::domain::{Caller, OrgScope};

/// Why a caller was refused. Never shown to the caller: every variant
/// answers the same 401.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("token rejected: {0}")]
    Invalid(String),
    #[error("token names no organisation")]
    NoOrganisation,
    #[error("token names {0} organisations, more than {MAX_TOKEN_ORGS}")]
    TooManyOrganisations(usize),
}

/// The most organisations one token may name. Every list and count is
/// filtered by them; a caller who needs more is an administrator.
pub const MAX_TOKEN_ORGS: usize = 1000;

pub trait Authenticator: Send + Sync {
    fn authenticate(&self, parts: &Parts) -> Result<Caller, AuthError>;
}

/// The claims this service reads. Unknown claims are ignored.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default)]
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
}

impl Claims {
    pub fn into_caller(self) -> Result<Caller, AuthError> {
        let scope = if self.roles.iter().any(|r| r == "admin") {
            OrgScope::All
        } else {
            let mut orgs: Vec<String> = self.org_ids.unwrap_or_default();
            orgs.extend(self.org_id);
            orgs.retain(|o| !o.trim().is_empty());
            orgs.sort();
            orgs.dedup();
            if orgs.is_empty() {
                return Err(AuthError::NoOrganisation);
            }
            if orgs.len() > MAX_TOKEN_ORGS {
                return Err(AuthError::TooManyOrganisations(orgs.len()));
            }
            OrgScope::Only(orgs)
        };
        let subject = if self.sub.is_empty() { "unknown".to_string() } else { self.sub };
        Ok(Caller { subject, scope })
    }
}

pub fn bearer_token(parts: &Parts) -> Result<&str, AuthError> {
    let value = parts.headers.get(header::AUTHORIZATION).ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::Missing)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Missing);
    }
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_naming_too_many_organisations_is_refused() {
        let orgs = |n: usize| (0..n).map(|i| format!("org-{i}")).collect::<Vec<_>>();
        let at_limit = Claims { sub: "s".into(), org_ids: Some(orgs(MAX_TOKEN_ORGS)), ..Default::default() };
        assert!(at_limit.into_caller().is_ok());
        let over = Claims { sub: "s".into(), org_ids: Some(orgs(MAX_TOKEN_ORGS + 1)), ..Default::default() };
        assert!(matches!(over.into_caller(), Err(AuthError::TooManyOrganisations(n)) if n == MAX_TOKEN_ORGS + 1));
    }

    #[test]
    fn org_id_claim_alone_is_enough() {
        let claims = Claims { sub: "s".into(), org_id: Some("org-x".into()), ..Default::default() };
        assert_eq!(claims.into_caller().unwrap().scope, OrgScope::Only(vec!["org-x".into()]));
    }

    #[test]
    fn claims_without_organisations_are_refused() {
        assert!(matches!(
            Claims { sub: "a".into(), ..Default::default() }.into_caller(),
            Err(AuthError::NoOrganisation)
        ));
        let admin = Claims { sub: "root".into(), roles: vec!["admin".into()], ..Default::default() };
        assert_eq!(admin.into_caller().unwrap().scope, OrgScope::All);
    }
}
