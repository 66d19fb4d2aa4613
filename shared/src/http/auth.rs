//! Who the caller is. The organisations come from verified token claims:
//! `org_ids` (array) or `org_id`, and a role `admin` for all of them.
//! Locally the server verifies HS256 tokens itself; behind API Gateway the
//! JWT authorizer has verified them and the claims arrive with the request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::header;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::{Caller, OrgScope};

/// Issuer and audience of tokens the local server makes and accepts.
pub const LOCAL_ISSUER: &str = "bufdir-exports-local";
pub const LOCAL_AUDIENCE: &str = "bufdir-exports";

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

/// HS256 tokens signed with a key kept in the data directory.
pub struct LocalJwt {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl LocalJwt {
    pub fn new(key: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[LOCAL_AUDIENCE]);
        validation.set_issuer(&[LOCAL_ISSUER]);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        LocalJwt { encoding: EncodingKey::from_secret(key), decoding: DecodingKey::from_secret(key), validation }
    }

    /// A token for `orgs` (or every organisation with `admin`), valid for `ttl`.
    pub fn issue(&self, subject: &str, orgs: &[String], admin: bool, ttl: Duration) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let claims = Claims {
            sub: subject.to_string(),
            org_ids: (!orgs.is_empty()).then(|| orgs.to_vec()),
            org_id: None,
            roles: if admin { vec!["admin".to_string()] } else { vec![] },
            iss: Some(LOCAL_ISSUER.to_string()),
            aud: Some(LOCAL_AUDIENCE.to_string()),
            iat: Some(now),
            nbf: Some(now),
            exp: Some(now + ttl.as_secs()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| AuthError::Invalid(e.kind_name()))?;
        data.claims.into_caller()
    }
}

impl Authenticator for LocalJwt {
    fn authenticate(&self, parts: &Parts) -> Result<Caller, AuthError> {
        self.verify(bearer_token(parts)?)
    }
}

trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for jsonwebtoken::errors::Error {
    /// The kind without the token's content, for logs.
    fn kind_name(&self) -> String {
        format!("{:?}", self.kind()).chars().take_while(|c| c.is_alphanumeric()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt() -> LocalJwt {
        LocalJwt::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn issued_tokens_verify_to_their_organisations() {
        let j = jwt();
        let t = j.issue("alice", &["org-a".into(), "org-b".into()], false, Duration::from_secs(60));
        let c = j.verify(&t).unwrap();
        assert_eq!(c.subject, "alice");
        assert_eq!(c.scope, OrgScope::Only(vec!["org-a".into(), "org-b".into()]));
        let admin = j.verify(&j.issue("root", &[], true, Duration::from_secs(60))).unwrap();
        assert_eq!(admin.scope, OrgScope::All);
    }

    #[test]
    fn foreign_or_broken_tokens_are_refused() {
        let t = jwt().issue("a", &["org-a".into()], false, Duration::from_secs(60));
        let other = LocalJwt::new(b"another key, another key, another");
        assert!(other.verify(&t).is_err());
        assert!(jwt().verify("not.a.token").is_err());
        let mut tampered = t.clone();
        tampered.pop();
        tampered.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert!(jwt().verify(&tampered).is_err());
    }

    #[test]
    fn a_token_without_organisations_is_refused() {
        let t = jwt().issue("a", &[], false, Duration::from_secs(60));
        assert!(matches!(jwt().verify(&t), Err(AuthError::NoOrganisation)));
    }

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
}
