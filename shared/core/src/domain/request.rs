//! The create request as the caller sends it, and the rules it must meet.
//! Every problem is collected, so one 422 names every bad field at once.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::date::parse_iso_date;
use super::{ActivityType, ExportFormat, OrgId, known_profiles};

/// Longest period one export may cover.
pub const MAX_PERIOD_MONTHS: u32 = 60;
pub const DEFAULT_PROFILE: &str = "standard";

/// The body of `POST /api/v1/bufdir-exports`, before validation. An
/// optional field sent as `null` counts as left out.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExportRequest {
    /// May be left out when the token names exactly one organisation.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = r"^[A-Za-z0-9_-]{1,100}$", example = "org-bufdir-042")]
    pub org_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<ExportFormat>, default = "excel")]
    pub format: Option<String>,
    #[serde(default)]
    /// Exactly `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date, required = true, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", example = "2025-01-01")]
    pub period_from: Option<String>,
    /// Not before `period_from`, and less than 5 years after it. Both
    /// dates fall in the years 2000 to 2099.
    #[serde(default)]
    #[schema(value_type = String, format = Date, required = true, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", example = "2025-12-31")]
    pub period_to: Option<String>,
    /// Empty or left out: every type.
    #[serde(default)]
    #[schema(value_type = Option<Vec<ActivityType>>)]
    pub activity_types: Option<Vec<String>>,
    /// The file is then one ZIP: the report, the included activities'
    /// attachment files under `vedlegg/`, and `manifest.json` with each
    /// file's size and SHA-256. A missing file fails the export naming it,
    /// or is listed as missing, as the report profile says.
    #[serde(default)]
    #[schema(value_type = Option<bool>, default = false)]
    pub include_attachments: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<bool>, default = false)]
    pub submit_to_bufdir_api: Option<bool>,
    /// The counting rules: `standard` (the default) or `likeperson`
    /// (files under `profiles/`); another name is refused with the list.
    #[serde(default)]
    #[schema(example = "standard")]
    pub report_profile: Option<String>,
}

/// A request that met every rule. The organisation is settled later,
/// against the caller's claims.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidRequest {
    pub org_id: Option<String>,
    pub format: ExportFormat,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    /// Sorted, without duplicates; empty means every type.
    pub activity_types: Vec<ActivityType>,
    pub include_attachments: bool,
    pub submit_to_bufdir_api: bool,
    /// A shipped profile's name.
    pub report_profile: String,
}

/// One bad input: the field (or query parameter) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        FieldError { field: field.to_string(), message: message.into() }
    }
}

/// An optional `org_id` field of a request body: absent is fine (the
/// token may name one organisation), present must be a valid id.
pub(crate) fn optional_org_id(value: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    match value.map(str::trim).map(OrgId::parse) {
        None => None,
        Some(Ok(org)) => Some(org.into_string()),
        Some(Err(e)) => {
            errors.push(FieldError::new("org_id", e.to_string()));
            None
        }
    }
}

fn parse_date(field: &str, value: &Option<String>, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    let Some(s) = value.as_deref() else {
        errors.push(FieldError::new(field, "is required (YYYY-MM-DD)"));
        return None;
    };
    parse_iso_date(s).map_err(|e| errors.push(FieldError::new(field, e.message(s)))).ok()
}

impl CreateExportRequest {
    pub fn validate(&self) -> Result<ValidRequest, Vec<FieldError>> {
        let mut errors = Vec::new();

        let org_id = optional_org_id(self.org_id.as_deref(), &mut errors);

        let format = match self.format.as_deref() {
            None => Some(ExportFormat::Excel),
            Some(s) => ExportFormat::parse(s).or_else(|| {
                errors.push(FieldError::new("format", format!("must be one of excel, csv, json; got {s:?}")));
                None
            }),
        };

        let from = parse_date("period_from", &self.period_from, &mut errors);
        let to = parse_date("period_to", &self.period_to, &mut errors);
        if let (Some(from), Some(to)) = (from, to) {
            if from > to {
                errors.push(FieldError::new("period_to", "must not be before period_from"));
            } else if from.checked_add_months(chrono::Months::new(MAX_PERIOD_MONTHS)).is_none_or(|limit| to >= limit) {
                errors.push(FieldError::new("period_to", "the period may cover at most 5 years"));
            }
        }

        let mut types = Vec::new();
        for (i, raw) in self.activity_types.iter().flatten().enumerate() {
            match ActivityType::parse(raw) {
                Some(t) => types.push(t),
                None => errors.push(FieldError::new(
                    &format!("activity_types[{i}]"),
                    format!(
                        "unknown activity type {raw:?}; known: {}",
                        ActivityType::ALL.map(ActivityType::as_str).join(", ")
                    ),
                )),
            }
        }
        types.sort();
        types.dedup();

        let profile = self.report_profile.as_deref().unwrap_or(DEFAULT_PROFILE);
        if !known_profiles().contains(&profile) {
            errors.push(FieldError::new(
                "report_profile",
                format!("unknown report profile {profile:?}; known: {}", known_profiles().join(", ")),
            ));
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ValidRequest {
            org_id,
            format: format.expect("format checked"),
            period_from: from.expect("date checked"),
            period_to: to.expect("date checked"),
            activity_types: types,
            include_attachments: self.include_attachments.unwrap_or(false),
            submit_to_bufdir_api: self.submit_to_bufdir_api.unwrap_or(false),
            report_profile: profile.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(from: &str, to: &str) -> CreateExportRequest {
        CreateExportRequest {
            org_id: Some("org-demo".into()),
            format: Some("excel".into()),
            period_from: Some(from.into()),
            period_to: Some(to.into()),
            ..Default::default()
        }
    }

    fn fields(r: &CreateExportRequest) -> Vec<String> {
        r.validate().unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_full_contract_request_is_valid() {
        let mut r = req("2025-01-01", "2025-12-31");
        r.activity_types = Some(vec!["individual_counseling".into(), "group_session".into(), "group_session".into()]);
        r.include_attachments = Some(true);
        let v = r.validate().unwrap();
        assert_eq!(v.format, ExportFormat::Excel);
        assert_eq!(v.activity_types, vec![ActivityType::GroupSession, ActivityType::IndividualCounseling]);
        assert!(v.include_attachments);
        assert!(!v.submit_to_bufdir_api);
    }

    #[test]
    fn each_format_is_known_and_others_refused() {
        for f in ["excel", "csv", "json"] {
            let mut r = req("2025-01-01", "2025-01-31");
            r.format = Some(f.into());
            assert!(r.validate().is_ok(), "{f}");
        }
        let mut r = req("2025-01-01", "2025-01-31");
        r.format = Some("pdf".into());
        assert_eq!(fields(&r), ["format"]);
        r.format = None;
        assert_eq!(r.validate().unwrap().format, ExportFormat::Excel);
    }

    #[test]
    fn dates_must_be_iso() {
        assert_eq!(fields(&req("01.01.2025", "2025-12-31")), ["period_from"]);
        assert_eq!(fields(&req("2025-1-1", "2025-12-31")), ["period_from"]);
        assert_eq!(fields(&req("2025-01- 1", "+2025-1-01")), ["period_from", "period_to"]);
        assert_eq!(fields(&req("2025-01-01", "2025-02-30")), ["period_to"]);
        assert_eq!(fields(&req("0000-01-01", "2025-12-31")), ["period_from"]);
        assert_eq!(fields(&req("1999-12-31", "2025-12-31")), ["period_from"]);
        assert_eq!(fields(&req("2099-01-01", "2100-01-01")), ["period_to"]);
        assert!(req("2000-01-01", "2000-12-31").validate().is_ok());
        let mut r = req("2025-01-01", "2025-12-31");
        r.period_from = None;
        r.period_to = None;
        assert_eq!(fields(&r), ["period_from", "period_to"]);
    }

    #[test]
    fn period_must_be_ordered() {
        assert_eq!(fields(&req("2025-02-01", "2025-01-31")), ["period_to"]);
        assert!(req("2025-02-01", "2025-02-01").validate().is_ok());
    }

    #[test]
    fn period_is_at_most_five_years() {
        assert!(req("2020-01-01", "2024-12-31").validate().is_ok());
        assert_eq!(fields(&req("2020-01-01", "2025-01-01")), ["period_to"]);
    }

    #[test]
    fn activity_types_must_be_known_and_empty_means_all() {
        let mut r = req("2025-01-01", "2025-12-31");
        r.activity_types = Some(vec!["group_session".into(), "knitting".into()]);
        assert_eq!(fields(&r), ["activity_types[1]"]);
        r.activity_types = Some(vec![]);
        assert!(r.validate().unwrap().activity_types.is_empty());
    }

    #[test]
    fn org_id_shape_is_checked() {
        let mut r = req("2025-01-01", "2025-12-31");
        r.org_id = Some("".into());
        assert_eq!(fields(&r), ["org_id"]);
        r.org_id = Some("org/../x".into());
        assert_eq!(fields(&r), ["org_id"]);
        r.org_id = None;
        assert!(r.validate().is_ok());
    }

    #[test]
    fn report_profile_defaults_to_standard_and_must_be_known() {
        let mut r = req("2025-01-01", "2025-12-31");
        assert_eq!(r.validate().unwrap().report_profile, "standard");
        r.report_profile = Some("likeperson".into());
        assert_eq!(r.validate().unwrap().report_profile, "likeperson");
        r.report_profile = Some("knitting".into());
        let errors = r.validate().unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "report_profile");
        assert_eq!(errors[0].message, "unknown report profile \"knitting\"; known: likeperson, standard");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let r = CreateExportRequest {
            format: Some("pdf".into()),
            period_from: Some("x".into()),
            activity_types: Some(vec!["y".into()]),
            ..Default::default()
        };
        assert_eq!(fields(&r), ["format", "period_from", "period_to", "activity_types[0]"]);
    }
}
