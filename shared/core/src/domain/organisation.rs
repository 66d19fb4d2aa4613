//! The organisation a report is for, as its cover sheet, the csv and json
//! reports and the Bufdir submission name it: its name and its number in
//! the Central Coordinating Register for Legal Entities (Brønnøysund).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{FieldError, known_profiles};

/// What an organisation has told us about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    pub org_id: String,
    pub name: String,
    /// Nine digits, the last a mod-11 check digit.
    pub organisation_number: Option<String>,
    pub contact_email: Option<String>,
    /// What an export uses when its request names no profile.
    pub default_report_profile: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// The token subject who last changed it.
    pub updated_by: String,
}

/// The body of `PUT /api/v1/organisations/{org_id}`, before validation.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct OrganisationRequest {
    /// 1 to 200 characters.
    #[schema(example = "Foreningen for pårørende")]
    pub name: Option<String>,
    /// Nine digits (spaces allowed), the last a valid mod-11 check digit.
    #[serde(default)]
    #[schema(example = "974760673")]
    pub organisation_number: Option<String>,
    #[serde(default)]
    #[schema(example = "tilskudd@example.org")]
    pub contact_email: Option<String>,
    /// A shipped report profile (`standard`, `likeperson`).
    #[serde(default)]
    pub default_report_profile: Option<String>,
}

/// A request that met every rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidOrganisation {
    pub name: String,
    pub organisation_number: Option<String>,
    pub contact_email: Option<String>,
    pub default_report_profile: Option<String>,
}

const MAX_NAME_CHARS: usize = 200;

/// The organisation number with its spaces taken out, if it could be one
/// of the Central Coordinating Register's: nine digits, the first 8 or 9
/// (so 000000000, whose check digit works out, is none), and the last a
/// check digit: weights 3, 2, 7, 6, 5, 4, 3, 2 over the first eight,
/// check = 11 - sum mod 11 (0 when that is 11; a 10 means no valid number).
pub fn parse_organisation_number(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(|c| *c != ' ').collect();
    if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) || !digits.starts_with(['8', '9']) {
        return None;
    }
    let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
    let sum: u32 = [3, 2, 7, 6, 5, 4, 3, 2].iter().zip(&d).map(|(w, x)| w * x).sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        10 => return None,
        c => c,
    };
    (check == d[8]).then_some(digits)
}

/// A plausible address: one `@` with text on both sides, a domain of at
/// least two dot-separated labels, none empty or starting or ending with
/// `-`, no spaces or control characters, at most 254 characters. Whether it
/// exists is for the mail system to find out.
fn plausible_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    let label = |l: &str| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-');
    s.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && domain.split('.').all(label)
        && !s.contains(|c: char| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

impl OrganisationRequest {
    pub fn validate(&self) -> Result<ValidOrganisation, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = self.name.as_deref().map(str::trim).unwrap_or_default();
        if name.is_empty() {
            errors.push(FieldError::new("name", "is required"));
        } else if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "name",
                format!("must be at most {MAX_NAME_CHARS} characters, no control characters"),
            ));
        }
        let organisation_number = match self.organisation_number.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => parse_organisation_number(raw).or_else(|| {
                errors.push(FieldError::new(
                    "organisation_number",
                    format!("must be nine digits, the first 8 or 9, with a valid check digit (mod 11), got {raw:?}"),
                ));
                None
            }),
        };
        let contact_email = match self.contact_email.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(e) if plausible_email(e) => Some(e.to_string()),
            Some(e) => {
                errors.push(FieldError::new("contact_email", format!("must be an e-mail address, got {e:?}")));
                None
            }
        };
        let default_report_profile = match self.default_report_profile.as_deref() {
            None => None,
            Some(p) if known_profiles().contains(&p) => Some(p.to_string()),
            Some(p) => {
                errors.push(FieldError::new(
                    "default_report_profile",
                    format!("unknown report profile {p:?}; known: {}", known_profiles().join(", ")),
                ));
                None
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ValidOrganisation { name: name.to_string(), organisation_number, contact_email, default_report_profile })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisation_numbers_carry_a_mod_11_check_digit() {
        // Brønnøysundregistrene's own number, and Bufdir's.
        assert_eq!(parse_organisation_number("974760673").as_deref(), Some("974760673"));
        assert_eq!(parse_organisation_number("986 128 433").as_deref(), Some("986128433"));
        assert_eq!(parse_organisation_number("974760674"), None, "wrong check digit");
        for bad in ["97476067", "9747606730", "97476067a", "", "974-760-673", "000000000", "123456785"] {
            assert_eq!(parse_organisation_number(bad), None, "{bad:?}");
        }
        // A remainder of 1 asks for check digit 10: no valid number has it.
        let ten = (90_000_000..100_000_000u32)
            .map(|n| format!("{n:08}"))
            .find(|p| {
                let sum: u32 =
                    [3, 2, 7, 6, 5, 4, 3, 2].iter().zip(p.bytes()).map(|(w, b)| w * u32::from(b - b'0')).sum();
                sum % 11 == 1
            })
            .unwrap();
        for last in 0..=9 {
            assert_eq!(parse_organisation_number(&format!("{ten}{last}")), None);
        }
    }

    fn valid() -> OrganisationRequest {
        OrganisationRequest {
            name: Some("Foreningen".into()),
            organisation_number: Some("974760673".into()),
            contact_email: Some("post@example.org".into()),
            default_report_profile: None,
        }
    }

    #[test]
    fn every_field_is_checked_at_once() {
        let r = OrganisationRequest {
            name: Some(" ".into()),
            organisation_number: Some("123456789".into()),
            contact_email: Some("not an address".into()),
            default_report_profile: Some("knitting".into()),
        };
        for address in ["a@b..no", "a@-b.no", "a@b-.no", "a@.no", "a@no", "@b.no", "a b@c.no", "a@b.no\u{0}"] {
            let one = OrganisationRequest { contact_email: Some(address.into()), ..valid() };
            assert!(one.validate().is_err(), "{address:?}");
        }
        let fine = OrganisationRequest { contact_email: Some("post@likeperson-foreningen.no".into()), ..valid() };
        assert!(fine.validate().is_ok());
        let fields: Vec<String> = r.validate().unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["name", "organisation_number", "contact_email", "default_report_profile"]);
        let ok = OrganisationRequest {
            name: Some(" Foreningen ".into()),
            organisation_number: Some("974 760 673".into()),
            contact_email: Some("post@example.org".into()),
            default_report_profile: Some("likeperson".into()),
        }
        .validate()
        .unwrap();
        assert_eq!(ok.name, "Foreningen");
        assert_eq!(ok.organisation_number.as_deref(), Some("974760673"));
    }
}
