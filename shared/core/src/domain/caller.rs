//! Who is calling, as their verified token says. The organisations a
//! caller may act for come only from here, never from a request body.

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrgScope {
    /// An administrator: every organisation.
    All,
    /// Exactly these organisations.
    Only(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The token's subject; logged and recorded on the job, never a secret.
    pub subject: String,
    pub scope: OrgScope,
}

impl Caller {
    pub fn may_act_for(&self, org_id: &str) -> bool {
        match &self.scope {
            OrgScope::All => true,
            OrgScope::Only(orgs) => orgs.iter().any(|o| o == org_id),
        }
    }

    /// The organisation to use when the body names none: only unambiguous
    /// when the token names exactly one.
    pub fn sole_org(&self) -> Option<&str> {
        match &self.scope {
            OrgScope::Only(orgs) if orgs.len() == 1 => Some(&orgs[0]),
            _ => None,
        }
    }

    /// A caller acting for every organisation, for the command-line tool,
    /// which runs with the operator's own access to the data directory.
    pub fn operator() -> Self {
        Caller { subject: "operator".to_string(), scope: OrgScope::All }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_decides_access() {
        let c = Caller { subject: "u".into(), scope: OrgScope::Only(vec!["a".into(), "b".into()]) };
        assert!(c.may_act_for("a") && c.may_act_for("b") && !c.may_act_for("c"));
        assert_eq!(c.sole_org(), None);
        let one = Caller { subject: "u".into(), scope: OrgScope::Only(vec!["a".into()]) };
        assert_eq!(one.sole_org(), Some("a"));
        assert!(Caller::operator().may_act_for("anything"));
    }
}
