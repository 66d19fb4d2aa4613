//! Every activity that comes in (a row of an import, whatever file it
//! came from, or one of a PUT's) checked the same way: against the
//! activity record's shape (`activity_shape.rs`, the rules of
//! `docs/activity.schema.json`), then the rules that span fields (counts
//! that must add up, a kommunenummer of the activity's date), then against
//! the import (the organisation, the replaced period, ids once per file).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use serde_json::{Map, Value};

use super::activity_shape::shape_errors;
use super::{Activity, Period, RowError};

/// What an import's rows must agree with.
pub struct Checker {
    org_id: String,
    replace: Option<Period>,
    /// Each id seen, by a 64-bit digest, with its line: an organisation's
    /// million ids fit in a few tens of MB this way. Two different ids
    /// sharing a digest (about one chance in 10^7 for a million rows) would
    /// read as a duplicate.
    seen: HashMap<u64, u64>,
    hasher: RandomState,
}

impl Checker {
    pub fn new(org_id: &str, replace: Option<Period>) -> Self {
        Checker { org_id: org_id.to_string(), replace, seen: HashMap::new(), hasher: RandomState::new() }
    }

    /// The row as an activity of this import, or every problem with it.
    pub fn check(&mut self, line: u64, mut record: Map<String, Value>) -> Result<Activity, Vec<RowError>> {
        match record.get("org_id") {
            None => {
                record.insert("org_id".into(), Value::String(self.org_id.clone()));
            }
            Some(Value::String(org)) if *org == self.org_id => {}
            Some(other) => {
                return Err(vec![RowError::new(
                    line,
                    Some("org_id"),
                    "other_organisation",
                    format!("org_id is {other}, but this import is for {:?}", self.org_id),
                )]);
            }
        }
        let shape = shape_errors(&record);
        if !shape.is_empty() {
            return Err(shape.into_iter().map(|e| RowError::new(line, Some(&e.field), e.code, e.message)).collect());
        }
        // The shape lets any YYYY-MM-DD through; the calendar is the domain's.
        if let Some(Value::String(date)) = record.get("date")
            && super::parse_iso_date(date).is_err()
        {
            return Err(vec![RowError::new(
                line,
                Some("date"),
                "invalid_value",
                format!("date {date} is not a day of the calendar"),
            )]);
        }
        let activity: Activity = serde_json::from_value(Value::Object(record)).map_err(|e| {
            vec![RowError::new(line, None, "invalid_value", format!("the record does not read as an activity: {e}"))]
        })?;
        let mut errors: Vec<RowError> =
            activity.problems().into_iter().map(|p| RowError::new(line, Some(p.field), p.code, p.message)).collect();
        if let Some(p) = self.replace
            && !p.contains(activity.date)
        {
            errors.push(RowError::new(
                line,
                Some("date"),
                "outside_replace_period",
                format!("date {} is outside the period this import replaces ({} to {})", activity.date, p.from, p.to),
            ));
        }
        let digest = self.hasher.hash_one(&activity.activity_id);
        if let Some(first) = self.seen.get(&digest) {
            errors.push(RowError::new(
                line,
                Some("activity_id"),
                "duplicate_activity_id",
                format!("activity_id {:?} is also on line {first}", activity.activity_id),
            ));
        } else {
            self.seen.insert(digest, line);
        }
        if errors.is_empty() { Ok(activity) } else { Err(errors) }
    }
}

/// A row of a file whose every row [`Checker::check`] passed, read again
/// for writing: only made into an activity of the import's organisation,
/// since the checks would answer as they did. An error means the row is
/// not what was checked.
pub fn checked_again(org_id: &str, mut record: Map<String, Value>) -> Result<Activity, String> {
    record.entry("org_id").or_insert_with(|| Value::String(org_id.to_string()));
    let activity: Activity = serde_json::from_value(Value::Object(record)).map_err(|e| e.to_string())?;
    if activity.org_id == org_id { Ok(activity) } else { Err("another organisation's row".into()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    fn record(f: impl FnOnce(&mut Value)) -> Map<String, Value> {
        let mut v = serde_json::to_value(fixtures::activity()).unwrap();
        f(&mut v);
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_good_row_passes_and_takes_the_import_organisation() {
        let mut c = Checker::new("org-demo", None);
        let a = c.check(1, record(|v| drop(v.as_object_mut().unwrap().remove("org_id")))).unwrap();
        assert_eq!(a.org_id, "org-demo");
    }

    #[test]
    fn every_problem_of_a_row_is_named() {
        let mut c = Checker::new("org-demo", None);
        let errors = c
            .check(
                7,
                record(|v| {
                    v["diagnosis"] = "x".into();
                    v["participants"]["total"] = Value::from(-1);
                }),
            )
            .unwrap_err();
        let codes: Vec<(&str, Option<&str>)> = errors.iter().map(|e| (e.code.as_str(), e.field.as_deref())).collect();
        assert!(codes.contains(&("unknown_field", Some("diagnosis"))), "{errors:?}");
        assert!(codes.contains(&("invalid_value", Some("participants.total"))), "{errors:?}");
        assert!(errors.iter().all(|e| e.line == 7));

        let missing = c.check(8, record(|v| drop(v.as_object_mut().unwrap().remove("duration_minutes")))).unwrap_err();
        assert_eq!(
            (missing[0].code.as_str(), missing[0].field.as_deref()),
            ("missing_value", Some("duration_minutes"))
        );

        let sums = c.check(9, record(|v| v["participants"]["by_gender"]["male"] = Value::from(30))).unwrap_err();
        assert_eq!(sums[0].code, "inconsistent_counts");

        for day in ["2025-02-29", "2025-13-01", "2025-04-31", "2025-00-10"] {
            let no_such_day = c.check(10, record(|v| v["date"] = day.into())).unwrap_err();
            assert_eq!(
                (no_such_day[0].code.as_str(), no_such_day[0].field.as_deref()),
                ("invalid_value", Some("date")),
                "{day}"
            );
        }
    }

    #[test]
    fn rows_must_fit_the_import() {
        let period = Period { from: "2025-01-01".parse().unwrap(), to: "2025-01-31".parse().unwrap() };
        let mut c = Checker::new("org-demo", Some(period));
        let outside = c.check(1, record(|_| {})).unwrap_err();
        assert_eq!(outside[0].code, "outside_replace_period");
        let other = c.check(2, record(|v| v["org_id"] = "org-other".into())).unwrap_err();
        assert_eq!(other[0].code, "other_organisation");

        let mut c = Checker::new("org-demo", None);
        c.check(3, record(|_| {})).unwrap();
        let twice = c.check(5, record(|_| {})).unwrap_err();
        assert_eq!(twice[0].code, "duplicate_activity_id");
        assert!(twice[0].message.contains("line 3"), "{}", twice[0].message);
    }
}
