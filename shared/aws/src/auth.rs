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

/// The payload of the bearer token, if it is certainly the token the
/// authorizer verified (it checks the `Authorization` header, the
/// template's identity source): the header holds exactly one compact JWT
/// (API Gateway joins repeated headers with commas, so two tokens never
/// pass), its claims are the ones the authorizer passed on, and every
/// claim that is a plain value there is the same value here. Otherwise
/// none, and the flattened claims are all there is.
fn token_claims(token: &str, authorizer: &HashMap<String, String>) -> Option<Map<String, Value>> {
    let segments: Vec<&str> = token.split('.').collect();
    let compact = segments.len() == 3
        && segments
            .iter()
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    if !compact {
        return None;
    }
    let claims: Map<String, Value> = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segments[1]).ok()?).ok()?;
    authorizer.get("exp")?;
    if claims.len() != authorizer.len() || !claims.keys().all(|k| authorizer.contains_key(k)) {
        return None;
    }
    let same = claims.iter().all(|(name, value)| {
        let passed = &authorizer[name];
        match value {
            Value::String(s) => s == passed,
            Value::Number(n) => n.to_string() == *passed,
            Value::Bool(b) => b.to_string() == *passed,
            // arrays and objects reach us in the authorizer's own flattened
            // notation; the plain values above already pin the token down
            _ => true,
        }
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
        // two tokens in one header (API Gateway joins repeated headers with
        // commas): neither is read, whichever one the authorizer checked
        let joined = format!("{},Bearer {}", token(&claims), token(&claims));
        assert_eq!(verified_claims(&parts_with(&joined), &authorizer)["realm_access"], "map[roles:[bufdir-admin]]");
        // the same exp, iat and sub, but a claim more, or one plain claim
        // changed: not the verified token
        let mut more = claims.clone();
        more["roles"] = json!(["admin"]);
        assert!(!verified_claims(&parts_with(&token(&more)), &authorizer).contains_key("roles"));
        let mut changed = claims.clone();
        changed["azp"] = json!("other");
        let mut with_azp = authorizer.clone();
        with_azp.insert("azp".into(), "console".into());
        assert_eq!(
            verified_claims(&parts_with(&token(&changed)), &with_azp)["realm_access"],
            "map[roles:[bufdir-admin]]"
        );
        let mut right = claims.clone();
        right["azp"] = json!("console");
        assert_eq!(
            verified_claims(&parts_with(&token(&right)), &with_azp)["realm_access"],
            json!({"roles": ["bufdir-admin"]})
        );
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
