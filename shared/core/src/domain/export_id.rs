//! Export ids look like `exp-20260326-xyz789`: the creation day keeps them
//! readable in logs and consoles, the random tail keeps them unguessable
//! enough that ids of other organisations cannot be enumerated by counting.

use chrono::NaiveDate;
use rand::Rng;
use serde::{Deserialize, Serialize};

const SUFFIX_LEN: usize = 6;
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExportId(String);

impl ExportId {
    pub fn generate(day: NaiveDate) -> Self {
        let mut rng = rand::rng();
        let suffix: String = (0..SUFFIX_LEN).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
        ExportId(format!("exp-{}-{suffix}", day.format("%Y%m%d")))
    }

    /// Checks the shape before any storage is asked about the id.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix("exp-")?;
        let (day, suffix) = rest.split_once('-')?;
        let day_ok = day.len() == 8
            && day.bytes().all(|b| b.is_ascii_digit())
            && NaiveDate::parse_from_str(day, "%Y%m%d").is_ok();
        let suffix_ok = suffix.len() == SUFFIX_LEN && suffix.bytes().all(|b| ALPHABET.contains(&b));
        (day_ok && suffix_ok).then(|| ExportId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ExportId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ExportId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ExportId::parse(&s).ok_or_else(|| format!("not an export id: {s:?}"))
    }
}

impl From<ExportId> for String {
    fn from(id: ExportId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_the_contract_shape() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 26).unwrap();
        let id = ExportId::generate(day);
        assert!(id.as_str().starts_with("exp-20260326-"), "{id}");
        assert_eq!(id.as_str().len(), "exp-20260326-xyz789".len());
        assert_eq!(ExportId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn malformed_ids_are_refused() {
        assert!(ExportId::parse("exp-20260326-xyz789").is_some());
        for bad in [
            "",
            "exp-20260326-xyz78",
            "exp-20260326-xyz7890",
            "exp-20261326-xyz789",
            "exp-2026032-xyz789",
            "EXP-20260326-xyz789",
            "exp-20260326-XYZ789",
            "exp-20260326-xyz/89",
            "../../etc/passwd",
        ] {
            assert!(ExportId::parse(bad).is_none(), "{bad:?}");
        }
    }
}
