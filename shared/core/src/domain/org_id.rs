//! An organisation's id, as tokens, requests, activities and storage keys
//! carry it. The one rule for what an id may look like lives here: it ends
//! up in file keys, DynamoDB keys and SQL, so it is kept to a small,
//! unambiguous alphabet.

use std::fmt;

/// 1 to 100 ASCII letters, digits, `-` or `_`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrgId(String);

/// Why a string is not an organisation id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrgIdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 100 characters of letters, digits, '-' or '_'")]
    Invalid,
}

impl OrgId {
    pub const MAX_LEN: usize = 100;

    pub fn parse(s: &str) -> Result<OrgId, OrgIdError> {
        if s.is_empty() {
            return Err(OrgIdError::Empty);
        }
        let ok = s.len() <= Self::MAX_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok { Ok(OrgId(s.to_string())) } else { Err(OrgIdError::Invalid) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_and_plain() {
        for good in ["org-demo", "a", "ORG_42", &"x".repeat(100)] {
            assert_eq!(OrgId::parse(good).unwrap().as_str(), good);
        }
        assert_eq!(OrgId::parse(""), Err(OrgIdError::Empty));
        for bad in ["org/../x", "org demo", "org#1", "ørg", &"x".repeat(101), " org", "org\n"] {
            assert_eq!(OrgId::parse(bad), Err(OrgIdError::Invalid), "{bad:?}");
        }
    }
}
