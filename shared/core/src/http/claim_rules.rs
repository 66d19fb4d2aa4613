//! Which claims of a verified token name the caller's organisations and
//! the administrator role. Identity providers put them in different
//! places: our own tokens use `org_ids`/`org_id` and `roles: ["admin"]`;
//! Cognito a custom attribute (`custom:org_id`) and `cognito:groups`;
//! Entra ID app roles in `roles` and extension attributes (`extn.org_ids`);
//! Keycloak nests realm roles under `realm_access.roles`. The rules are
//! configuration, the same on the local server and the Lambdas.

use serde_json::{Map, Value};

use super::auth::{AuthError, MAX_TOKEN_ORGS};
use crate::domain::{Caller, OrgScope};

/// Where to find a claim: a top-level name (which may itself hold dots, as
/// Entra ID's `extn.*` and namespaced claims do) or else a dotted path
/// into nested objects (`realm_access.roles`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimPath(String);

impl ClaimPath {
    pub fn parse(raw: &str) -> Result<ClaimPath, String> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 200 || raw.split('.').any(str::is_empty) || raw.chars().any(char::is_control) {
            return Err(format!("{raw:?} is not a claim name or dotted path like realm_access.roles"));
        }
        Ok(ClaimPath(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The claim's value: the name as it stands first, then the path.
    pub fn find<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        if let Some(v) = claims.get(&self.0) {
            return Some(v);
        }
        let mut parts = self.0.split('.');
        let mut at = claims.get(parts.next()?)?;
        for part in parts {
            at = at.as_object()?.get(part)?;
        }
        Some(at)
    }
}

/// The rules: the claims naming organisations (all are read and merged),
/// and the claim and value that make a caller an administrator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRules {
    pub org_claims: Vec<ClaimPath>,
    pub admin_claim: ClaimPath,
    pub admin_value: String,
}

impl Default for ClaimRules {
    /// Our own tokens' names.
    fn default() -> Self {
        ClaimRules {
            org_claims: vec![ClaimPath("org_ids".into()), ClaimPath("org_id".into())],
            admin_claim: ClaimPath("roles".into()),
            admin_value: "admin".into(),
        }
    }
}

/// A claim's values: an array of strings (each whole), or one string
/// holding one value or several separated by commas or spaces; API Gateway
/// hands arrays to a Lambda flattened to `[a b]`, which reads the same way.
pub fn claim_values(value: &Value) -> Vec<String> {
    match value {
        // each item whole: a group named "bufdir-admin,viewers" is not the
        // group bufdir-admin
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect(),
        Value::String(s) => {
            let s = s.trim();
            if s.starts_with('[')
                && let Ok(list) = serde_json::from_str::<Vec<String>>(s)
            {
                return list.into_iter().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
            }
            s.trim_start_matches('[')
                .trim_end_matches(']')
                .split(|c: char| c.is_whitespace() || c == ',')
                .map(|v| v.trim_matches('"'))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect()
        }
        // organisation ids and roles are names, never numbers or objects
        _ => Vec::new(),
    }
}

impl ClaimRules {
    /// From configuration: `orgs` comma-separated claim paths (empty: the
    /// defaults), the admin claim path and the value it must hold.
    pub fn from_config(
        orgs: Option<&str>,
        admin_claim: Option<&str>,
        admin_value: Option<&str>,
    ) -> Result<Self, String> {
        let mut rules = ClaimRules::default();
        if let Some(orgs) = orgs.filter(|o| !o.trim().is_empty()) {
            rules.org_claims = orgs.split(',').map(ClaimPath::parse).collect::<Result<_, _>>()?;
        }
        if let Some(claim) = admin_claim.filter(|c| !c.trim().is_empty()) {
            rules.admin_claim = ClaimPath::parse(claim)?;
        }
        if let Some(value) = admin_value.filter(|v| !v.trim().is_empty()) {
            let value = value.trim();
            if value.contains(|c: char| c == ',' || c.is_whitespace() || c.is_control()) {
                return Err(format!("the admin claim value {value:?} may hold no commas or spaces"));
            }
            rules.admin_value = value.to_string();
        }
        Ok(rules)
    }

    /// The caller these verified claims describe.
    pub fn caller(&self, claims: &Map<String, Value>) -> Result<Caller, AuthError> {
        let is_admin = self.admin_claim.find(claims).is_some_and(|v| claim_values(v).contains(&self.admin_value));
        let scope = if is_admin {
            OrgScope::All
        } else {
            let mut orgs: Vec<String> =
                self.org_claims.iter().filter_map(|path| path.find(claims)).flat_map(claim_values).collect();
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
        let subject = match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => "unknown".to_string(),
        };
        Ok(Caller { subject, scope })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn scope(rules: &ClaimRules, v: Value) -> Result<OrgScope, AuthError> {
        rules.caller(&claims(v)).map(|c| c.scope)
    }

    fn only(orgs: &[&str]) -> OrgScope {
        OrgScope::Only(orgs.iter().map(|o| o.to_string()).collect())
    }

    #[test]
    fn values_come_as_arrays_strings_lists_and_flattened_arrays() {
        assert_eq!(claim_values(&json!(["org-a", "org-b"])), ["org-a", "org-b"]);
        assert_eq!(claim_values(&json!(["bufdir-admin,viewers", " x ", "", 7])), ["bufdir-admin,viewers", "x"]);
        assert_eq!(claim_values(&json!("org-a")), ["org-a"]);
        assert_eq!(claim_values(&json!("org-a, org-b")), ["org-a", "org-b"]);
        assert_eq!(claim_values(&json!("[org-a org-b]")), ["org-a", "org-b"]);
        assert_eq!(claim_values(&json!("[\"org-a\",\"org-b\"]")), ["org-a", "org-b"]);
        assert_eq!(claim_values(&json!("")), Vec::<String>::new());
        assert_eq!(claim_values(&json!({"a": 1})), Vec::<String>::new());
        assert_eq!(claim_values(&json!(42)), Vec::<String>::new());
        assert_eq!(claim_values(&json!(null)), Vec::<String>::new());
    }

    #[test]
    fn the_defaults_read_our_own_tokens() {
        let rules = ClaimRules::default();
        assert_eq!(
            scope(&rules, json!({"sub": "a", "org_ids": ["org-b", "org-a"]})).unwrap(),
            only(&["org-a", "org-b"])
        );
        assert_eq!(scope(&rules, json!({"sub": "a", "org_id": "org-x"})).unwrap(), only(&["org-x"]));
        assert_eq!(scope(&rules, json!({"sub": "a", "roles": ["admin"]})).unwrap(), OrgScope::All);
        assert!(matches!(scope(&rules, json!({"sub": "a", "roles": ["reader"]})), Err(AuthError::NoOrganisation)));
        assert!(matches!(scope(&rules, json!({"sub": "a", "org_ids": []})), Err(AuthError::NoOrganisation)));
    }

    #[test]
    fn cognito_entra_and_keycloak_shapes() {
        let cognito =
            ClaimRules::from_config(Some("custom:org_id"), Some("cognito:groups"), Some("bufdir-admin")).unwrap();
        let id_token = json!({"sub": "5f1c", "custom:org_id": "org-a,org-b", "cognito:groups": ["grant-officers"],
                              "token_use": "id", "aud": "client", "cognito:username": "kari"});
        assert_eq!(scope(&cognito, id_token).unwrap(), only(&["org-a", "org-b"]));
        let admin = json!({"sub": "5f1d", "cognito:groups": ["bufdir-admin"]});
        assert_eq!(scope(&cognito, admin).unwrap(), OrgScope::All);
        for lookalike in [json!(["bufdir-admin,viewers"]), json!(["not bufdir-admin"])] {
            let token = json!({"sub": "5f1e", "cognito:groups": lookalike, "custom:org_id": "org-a"});
            assert_eq!(scope(&cognito, token).unwrap(), only(&["org-a"]));
        }

        let entra = ClaimRules::from_config(Some("extn.bufdir_org_ids"), Some("roles"), Some("Bufdir.Admin")).unwrap();
        let token = json!({"sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "oid": "0000-1111",
                           "roles": ["Bufdir.User"], "extn.bufdir_org_ids": ["org-a"], "groups": ["a1b2"]});
        assert_eq!(scope(&entra, token).unwrap(), only(&["org-a"]));
        assert_eq!(scope(&entra, json!({"sub": "x", "roles": ["Bufdir.Admin"]})).unwrap(), OrgScope::All);
        // our own admin role means nothing under Entra's rules
        assert!(scope(&entra, json!({"sub": "x", "roles": ["admin"]})).is_err());

        let keycloak =
            ClaimRules::from_config(Some("org_ids"), Some("realm_access.roles"), Some("bufdir-admin")).unwrap();
        let token = json!({"sub": "df05", "org_ids": ["org-b"], "realm_access": {"roles": ["offline_access"]},
                           "resource_access": {"account": {"roles": ["view-profile"]}}});
        assert_eq!(scope(&keycloak, token).unwrap(), only(&["org-b"]));
        let admin = json!({"sub": "df06", "realm_access": {"roles": ["offline_access", "bufdir-admin"]}});
        assert_eq!(scope(&keycloak, admin).unwrap(), OrgScope::All);
        // a top-level `roles` does not stand in for the nested one
        assert!(scope(&keycloak, json!({"sub": "x", "roles": ["bufdir-admin"]})).is_err());
    }

    #[test]
    fn paths_are_checked() {
        for bad in ["", " ", "a..b", ".a", "a.", "a\nb"] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ClaimRules::from_config(Some("org_ids,,org_id"), None, None).is_err());
        assert_eq!(ClaimRules::from_config(Some(""), Some(""), None).unwrap(), ClaimRules::default());
        assert!(ClaimRules::from_config(None, None, Some("bufdir admin")).is_err());
        assert!(ClaimRules::from_config(None, None, Some("a,b")).is_err());
    }

    #[test]
    fn too_many_organisations_are_refused() {
        let orgs: Vec<String> = (0..=MAX_TOKEN_ORGS).map(|i| format!("org-{i}")).collect();
        let rules = ClaimRules::default();
        assert!(matches!(
            scope(&rules, json!({"sub": "s", "org_ids": orgs})),
            Err(AuthError::TooManyOrganisations(n)) if n == MAX_TOKEN_ORGS + 1
        ));
        assert!(scope(&rules, json!({"sub": "s", "org_ids": orgs[..MAX_TOKEN_ORGS]})).is_ok());
    }
}
