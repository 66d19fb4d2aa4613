//! The caller behind API Gateway: the HTTP API's JWT authorizer has
//! already verified the token's signature, issuer, audience and expiry,
//! and passes its claims on in the request context, every one as a string
//! (arrays flattened to `[a b]`, nested objects no longer readable). So the
//! claims are read from the token itself, in their JSON shape, once it is
//! certain to be the one the authorizer verified; the configured
//! [`ClaimRules`] then say who the caller is.

use std::collections::HashMap;

use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::request::RequestContext;
use serde_json::{Map, Value};

use crate::domain::Caller;
use crate::http::{AuthError, Authenticator, ClaimRules, bearer_token};

#[derive(Clone, Debug, Default)]
pub struct ApiGatewayAuthenticator {
    rules: ClaimRules,
}

impl ApiGatewayAuthenticator {
    pub fn new(rules: ClaimRules) -> Self {
        ApiGatewayAuthenticator { rules }
    }
}

/// The claims the authorizer verified, read from the request.
pub fn verified_claims(parts: &Parts, authorizer: &HashMap<String, String>) -> Map<String, Value> {
    bearer_token(parts)
        .ok()
        .and_then(|token| token_claims(token, authorizer))
        .unwrap_or_else(|| authorizer.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

/// The payload of the bearer token, if it is the token the authorizer
/// verified: the authorizer checks the `Authorization` header (the
/// template's identity source), and its `exp`, `iat`, `sub` and `jti` must
/// be exactly those it passed on. Otherwise none, and the flattened claims
/// are all there is.
fn token_claims(token: &str, authorizer: &HashMap<String, String>) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    let claims: Map<String, Value> = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    authorizer.get("exp")?;
    let same = ["exp", "iat", "sub", "jti"].iter().all(|name| {
        let ours = claims.get(*name).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        ours.as_ref() == authorizer.get(*name)
    });
    same.then_some(claims)
}

impl Authenticator for ApiGatewayAuthenticator {
    fn authenticate(&self, parts: &Parts) -> Result<Caller, AuthError> {
        let authorizer = match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(ctx)) => {
                ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|j| &j.claims)
            }
            _ => None,
        };
        match authorizer {
            Some(map) if !map.is_empty() => self.rules.caller(&verified_claims(parts, map)),
            // No authorizer ran: the route is misconfigured; refuse, never guess.
            _ => Err(AuthError::Missing),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use serde_json::json;

    use super::*;
    use crate::domain::OrgScope;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn parts_with(token: &str) -> Parts {
        Request::builder().header("authorization", format!("Bearer {token}")).body(()).unwrap().into_parts().0
    }

    fn token(claims: &Value) -> String {
        format!("eyJhbGciOiJSUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()))
    }

    #[test]
    fn nested_claims_come_from_the_verified_token() {
        let claims = json!({"sub": "df05", "exp": 1900000000, "iat": 1774519200,
                            "realm_access": {"roles": ["bufdir-admin"]}, "org_ids": ["org-a"]});
        // what API Gateway passes on for that token
        let authorizer = map(&[
            ("sub", "df05"),
            ("exp", "1900000000"),
            ("iat", "1774519200"),
            ("realm_access", "map[roles:[bufdir-admin]]"),
            ("org_ids", "[org-a]"),
        ]);
        let keycloak =
            ClaimRules::from_config(Some("org_ids"), Some("realm_access.roles"), Some("bufdir-admin")).unwrap();
        let caller = keycloak.caller(&verified_claims(&parts_with(&token(&claims)), &authorizer)).unwrap();
        assert_eq!(caller.scope, OrgScope::All);

        // another token in the header than the one verified: only the flattened claims count
        let other =
            json!({"sub": "df05", "exp": 1900000001, "iat": 1774519200, "realm_access": {"roles": ["bufdir-admin"]}});
        let read = verified_claims(&parts_with(&token(&other)), &authorizer);
        assert_eq!(read["realm_access"], "map[roles:[bufdir-admin]]");
        assert_eq!(keycloak.caller(&read).unwrap().scope, OrgScope::Only(vec!["org-a".into()]));
        // a header that is no JWT at all: likewise
        let read = verified_claims(&parts_with("not-a-token"), &authorizer);
        assert_eq!(read["org_ids"], "[org-a]");
    }

    #[test]
    fn flattened_claims_still_name_organisations_and_admins() {
        let rules = ClaimRules::default();
        let authorizer = map(&[("sub", "alice"), ("org_ids", "[org-b org-a]"), ("exp", "1900000000")]);
        let caller = rules.caller(&verified_claims(&parts_with("x.y.z"), &authorizer)).unwrap();
        assert_eq!(caller.subject, "alice");
        assert_eq!(caller.scope, OrgScope::Only(vec!["org-a".into(), "org-b".into()]));
        let admin = map(&[("sub", "root"), ("roles", "[admin]"), ("exp", "1900000000")]);
        assert_eq!(rules.caller(&verified_claims(&parts_with("x.y.z"), &admin)).unwrap().scope, OrgScope::All);
        let none = map(&[("sub", "x"), ("exp", "1900000000")]);
        assert!(rules.caller(&verified_claims(&parts_with("x.y.z"), &none)).is_err());
    }
}
