//! Who the caller is. The organisations and the administrator role come
//! from verified token claims, found where [`ClaimRules`](super::ClaimRules)
//! say (by default `org_ids` (array) or `org_id`, and `roles` holding
//! `admin`). Locally the server verifies HS256 tokens itself (`LocalJwt`, in the
//! embedded adapters); behind API Gateway the JWT authorizer has verified
//! them and the claims arrive with the request.

use axum::http::header;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::domain::Caller;

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

/// The claims of the tokens the local server issues.
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

pub fn bearer_token(parts: &Parts) -> Result<&str, AuthError> {
    let value = parts.headers.get(header::AUTHORIZATION).ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::Missing)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Missing);
    }
    Ok(token.trim())
}
