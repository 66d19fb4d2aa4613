//! The caller behind API Gateway: the HTTP API's JWT authorizer has
//! already verified the token's signature, issuer, audience and expiry;
//! its claims arrive in the request context. API Gateway hands every claim
//! over as a string and flattens arrays to `[a b c]`, so list claims are
//! parsed back here.

use std::collections::HashMap;

use axum::http::request::Parts;
use lambda_http::request::RequestContext;

use crate::domain::Caller;
use crate::http::{AuthError, Authenticator, Claims};

#[derive(Clone, Debug, Default)]
pub struct ApiGatewayAuthenticator;

/// `["a","b"]`, `[a b]`, `a,b` or `a` -> the names.
pub fn parse_list_claim(raw: &str) -> Vec<String> {
    let raw = raw.trim();
    if raw.starts_with('[')
        && let Ok(list) = serde_json::from_str::<Vec<String>>(raw)
    {
        return list;
    }
    raw.trim_start_matches('[')
        .trim_end_matches(']')
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|s| s.trim_matches('"'))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The claims this service reads, from API Gateway's string map.
pub fn claims_from_map(map: &HashMap<String, String>) -> Claims {
    let list = |name: &str| map.get(name).map(|v| parse_list_claim(v));
    Claims {
        sub: map.get("sub").cloned().unwrap_or_default(),
        org_ids: list("org_ids"),
        org_id: map.get("org_id").cloned().filter(|v| !v.trim().is_empty()),
        roles: list("roles").unwrap_or_default(),
        iss: map.get("iss").cloned(),
        aud: map.get("aud").cloned(),
        iat: map.get("iat").and_then(|v| v.parse().ok()),
        nbf: map.get("nbf").and_then(|v| v.parse().ok()),
        exp: map.get("exp").and_then(|v| v.parse().ok()),
    }
}

impl Authenticator for ApiGatewayAuthenticator {
    fn authenticate(&self, parts: &Parts) -> Result<Caller, AuthError> {
        let claims = match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(ctx)) => {
                ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|j| &j.claims)
            }
            _ => None,
        };
        match claims {
            Some(map) if !map.is_empty() => claims_from_map(map).into_caller(),
            // No authorizer ran: the route is misconfigured; refuse, never guess.
            _ => Err(AuthError::Missing),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrgScope;

    #[test]
    fn flattened_arrays_are_read_back() {
        assert_eq!(parse_list_claim("[org-a org-b]"), vec!["org-a", "org-b"]);
        assert_eq!(parse_list_claim("[org-a]"), vec!["org-a"]);
        assert_eq!(parse_list_claim("[\"org-a\",\"org-b\"]"), vec!["org-a", "org-b"]);
        assert_eq!(parse_list_claim("org-a, org-b"), vec!["org-a", "org-b"]);
        assert_eq!(parse_list_claim("[]"), Vec::<String>::new());
    }

    #[test]
    fn claims_become_a_caller() {
        let map: HashMap<String, String> = [("sub", "alice"), ("org_ids", "[org-b org-a]"), ("exp", "1900000000")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        let caller = claims_from_map(&map).into_caller().unwrap();
        assert_eq!(caller.subject, "alice");
        assert_eq!(caller.scope, OrgScope::Only(vec!["org-a".into(), "org-b".into()]));
        let admin: HashMap<String, String> =
            [("sub", "root"), ("roles", "[admin]")].map(|(k, v)| (k.into(), v.into())).into();
        assert_eq!(claims_from_map(&admin).into_caller().unwrap().scope, OrgScope::All);
        let none: HashMap<String, String> = [("sub", "x")].map(|(k, v)| (k.into(), v.into())).into();
        assert!(claims_from_map(&none).into_caller().is_err());
    }
}
