//! The body of `POST /api/v1/activity-imports`, before validation.

use serde::{Deserialize, Serialize};

use super::date::parse_iso_date;
use super::request::optional_org_id;
use super::{FieldError, ImportFormat, MAX_PERIOD_MONTHS, Period};

#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct CreateImportRequest {
    /// May be left out when the token names exactly one organisation.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = r"^[A-Za-z0-9_-]{1,100}$", example = "org-bufdir-042")]
    pub org_id: Option<String>,
    /// The file's format: JSON Lines, CSV (as Norwegian Excel saves it) or
    /// a workbook filled from the template.
    #[serde(default)]
    #[schema(value_type = ImportFormat, required = true)]
    pub format: Option<String>,
    /// Makes the file the whole truth for this period: activities in it
    /// that the file does not name are removed. Every row must fall in it.
    #[serde(default)]
    #[schema(value_type = Option<PeriodRequest>)]
    pub replace_period: Option<PeriodRequest>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PeriodRequest {
    #[serde(default)]
    #[schema(value_type = String, format = Date, required = true, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", example = "2025-01-01")]
    pub from: Option<String>,
    #[serde(default)]
    #[schema(value_type = String, format = Date, required = true, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", example = "2025-12-31")]
    pub to: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidImportRequest {
    pub org_id: Option<String>,
    pub format: ImportFormat,
    pub replace_period: Option<Period>,
}

impl CreateImportRequest {
    pub fn validate(&self) -> Result<ValidImportRequest, Vec<FieldError>> {
        let mut errors = Vec::new();
        let org_id = optional_org_id(self.org_id.as_deref(), &mut errors);
        let format = match self.format.as_deref() {
            None => {
                errors.push(FieldError::new("format", "is required: jsonl, csv or xlsx"));
                None
            }
            Some(f) => ImportFormat::parse(f).or_else(|| {
                errors.push(FieldError::new("format", format!("must be one of jsonl, csv, xlsx; got {f:?}")));
                None
            }),
        };
        let replace_period = self.replace_period.as_ref().and_then(|p| {
            let mut day = |field: &str, value: &Option<String>| match value.as_deref() {
                None => {
                    errors.push(FieldError::new(field, "is required (YYYY-MM-DD)"));
                    None
                }
                Some(s) => parse_iso_date(s).map_err(|e| errors.push(FieldError::new(field, e.message(s)))).ok(),
            };
            let (from, to) = (day("replace_period.from", &p.from), day("replace_period.to", &p.to));
            let (from, to) = (from?, to?);
            if from > to {
                errors.push(FieldError::new("replace_period.to", "must not be before replace_period.from"));
                return None;
            }
            if from.checked_add_months(chrono::Months::new(MAX_PERIOD_MONTHS)).is_none_or(|limit| to >= limit) {
                errors.push(FieldError::new("replace_period.to", "the period may cover at most 5 years"));
                return None;
            }
            Some(Period { from, to })
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ValidImportRequest { org_id, format: format.expect("checked"), replace_period })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(from: &str, to: &str) -> Option<PeriodRequest> {
        Some(PeriodRequest { from: Some(from.into()), to: Some(to.into()) })
    }

    #[test]
    fn an_import_needs_a_format_and_a_sane_period() {
        let ok = CreateImportRequest {
            format: Some("csv".into()),
            replace_period: period("2025-01-01", "2025-12-31"),
            ..Default::default()
        };
        let v = ok.validate().unwrap();
        assert_eq!((v.format, v.replace_period.unwrap().to.to_string()), (ImportFormat::Csv, "2025-12-31".to_string()));
        let fields = |r: CreateImportRequest| -> Vec<String> {
            r.validate().unwrap_err().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(fields(CreateImportRequest::default()), ["format"]);
        assert_eq!(fields(CreateImportRequest { format: Some("pdf".into()), ..Default::default() }), ["format"]);
        let backwards = CreateImportRequest {
            format: Some("csv".into()),
            replace_period: period("2025-02-01", "2025-01-01"),
            ..Default::default()
        };
        assert_eq!(fields(backwards), ["replace_period.to"]);
        let sloppy = CreateImportRequest {
            format: Some("csv".into()),
            replace_period: period("2025-1-1", "2025-01- 1"),
            ..Default::default()
        };
        assert_eq!(fields(sloppy), ["replace_period.from", "replace_period.to"]);
        let missing = CreateImportRequest {
            format: Some("csv".into()),
            replace_period: Some(PeriodRequest::default()),
            ..Default::default()
        };
        assert_eq!(fields(missing), ["replace_period.from", "replace_period.to"]);
    }
}
