//! HS256 tokens the local server issues (`bufdir-exports token`, `serve
//! --demo`) and verifies itself, signed with a key kept in the data
//! directory. Behind API Gateway the authorizer verifies tokens instead.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

use crate::domain::Caller;
use crate::http::{AuthError, Authenticator, ClaimRules, Claims, bearer_token};

/// Issuer and audience of tokens the local server makes and accepts.
pub const LOCAL_ISSUER: &str = "bufdir-exports-local";
pub const LOCAL_AUDIENCE: &str = "bufdir-exports";

/// HS256 tokens signed with a key kept in the data directory.
#[derive(Clone)]
pub struct LocalJwt {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    rules: ClaimRules,
}

impl LocalJwt {
    pub fn new(key: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[LOCAL_AUDIENCE]);
        validation.set_issuer(&[LOCAL_ISSUER]);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        LocalJwt {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            rules: ClaimRules::default(),
        }
    }

    /// Reads organisations and the admin role where `rules` say (tokens
    /// this server issues carry the default names).
    pub fn with_rules(mut self, rules: ClaimRules) -> Self {
        self.rules = rules;
        self
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
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.decoding, &self.validation)
            .map_err(|e| AuthError::Invalid(e.kind_name()))?;
        self.rules.caller(&data.claims)
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
    use crate::domain::OrgScope;

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
}
