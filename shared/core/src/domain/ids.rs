//! Ids of the things callers create look like `exp-20260326-xyz789`: a
//! prefix saying what it is, the creation day (readable in logs and
//! consoles), and a random tail that keeps them unguessable enough that
//! ids of other organisations cannot be enumerated by counting.

use chrono::NaiveDate;
use rand::Rng;
use serde::{Deserialize, Serialize};

const SUFFIX_LEN: usize = 6;
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// `{prefix}-{day}-{six random characters}`.
fn generate(prefix: &str, day: NaiveDate) -> String {
    let mut rng = rand::rng();
    let suffix: String = (0..SUFFIX_LEN).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
    format!("{prefix}-{}-{suffix}", day.format("%Y%m%d"))
}

/// Whether `s` has the shape [`generate`] makes, before any storage is asked.
fn well_formed(prefix: &str, s: &str) -> bool {
    let Some((day, suffix)) = s.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')).and_then(|r| r.split_once('-'))
    else {
        return false;
    };
    let day_ok =
        day.len() == 8 && day.bytes().all(|b| b.is_ascii_digit()) && NaiveDate::parse_from_str(day, "%Y%m%d").is_ok();
    day_ok && suffix.len() == SUFFIX_LEN && suffix.bytes().all(|b| ALPHABET.contains(&b))
}

/// An id type of this shape with its own prefix.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate(day: NaiveDate) -> Self {
                $name(generate($prefix, day))
            }

            pub fn parse(s: &str) -> Option<Self> {
                well_formed($prefix, s).then(|| $name(s.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $name::parse(&s).ok_or_else(|| format!(concat!("not ", $what, ": {:?}"), s))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

id_type!(
    /// `exp-20260326-xyz789`.
    ExportId, "exp", "an export id"
);
id_type!(
    /// `imp-20260326-xyz789`.
    ImportId, "imp", "an import id"
);
id_type!(
    /// `att-20260326-xyz789`.
    AttachmentId, "att", "an attachment id"
);
id_type!(
    /// `whe-20260326-xyz789`.
    WebhookEndpointId, "whe", "a webhook endpoint id"
);

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
            "imp-20260326-xyz789",
        ] {
            assert!(ExportId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(ImportId::parse("imp-20260326-xyz789").is_some());
        assert!(ImportId::parse("exp-20260326-xyz789").is_none());
    }
}
