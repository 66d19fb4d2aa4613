//! Small writes for systems that sync as they go, and a look at what a
//! report will count: put up to a thousand activities (all or nothing),
//! delete one, page through a period with each activity's verdict.

use std::sync::Arc;

use chrono::NaiveDate;
use serde_json::Value;

use super::ServiceError;
use super::access::acting_for;
use crate::domain::{
    Activity, ActivityType, Caller, Checker, FieldError, MAX_KEPT_ERRORS, NotCountedReason, find_profile,
    known_profiles,
};
use crate::ports::{ActivityQuery, ActivityStore, AttachmentUploads, OrganisationStore, Stored};

/// The most activities one PUT may carry.
pub const MAX_PUT: usize = 1000;
/// The most activities one page holds.
pub const MAX_PAGE: u32 = 500;

pub struct ActivityService {
    activities: Arc<dyn ActivityStore>,
    organisations: Arc<dyn OrganisationStore>,
    /// Where files uploaded through the API wait to be claimed.
    attachments: Option<Arc<dyn AttachmentUploads>>,
}

/// One activity as a page shows it: the record, and whether the profile
/// counts it (and if not, why).
pub struct Judged {
    pub activity: Activity,
    pub counts: bool,
    pub reason: Option<NotCountedReason>,
}

pub struct ActivityPage {
    pub org_id: String,
    pub profile: String,
    pub activities: Vec<Judged>,
    /// Give it back as `cursor` for the next page; none after the last.
    pub next_cursor: Option<String>,
}

/// A position between two activities in report order, opaque to callers.
/// Where the next page starts (after `a`), for this query only: a cursor
/// carries a digest of the query it was given for, so one used with
/// another period, type filter or organisation is refused rather than
/// quietly starting somewhere else.
fn cursor_of(a: &Activity, query: &ActivityQuery) -> String {
    hex::encode(format!("{}\n{}\n{}", a.date, query_digest(query), a.activity_id))
}

fn parse_cursor(s: &str, query: &ActivityQuery) -> Option<(NaiveDate, String)> {
    let text = String::from_utf8(hex::decode(s).ok()?).ok()?;
    let (date, rest) = text.split_once('\n')?;
    let (digest, id) = rest.split_once('\n')?;
    (digest == query_digest(query)).then_some(())?;
    Some((date.parse().ok()?, id.to_string()))
}

fn query_digest(query: &ActivityQuery) -> String {
    use sha2::{Digest, Sha256};
    // The same filter however its types were listed.
    let mut types: Vec<&str> = query.types.iter().map(|t| t.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    let digest = Sha256::digest(format!("{}\n{}\n{}\n{}", query.org_id, query.from, query.to, types.join(",")));
    hex::encode(&digest[..8])
}

pub struct PageRequest {
    pub org_id: Option<String>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub types: Vec<ActivityType>,
    pub cursor: Option<String>,
    pub limit: u32,
    pub profile: Option<String>,
}

impl ActivityService {
    pub fn new(activities: Arc<dyn ActivityStore>, organisations: Arc<dyn OrganisationStore>) -> Self {
        ActivityService { activities, organisations, attachments: None }
    }

    /// Activities written claim the uploaded attachment files they name.
    pub fn with_attachment_uploads(mut self, uploads: Arc<dyn AttachmentUploads>) -> Self {
        self.attachments = Some(uploads);
        self
    }

    /// Stores every activity or none: each is checked as an import's rows
    /// are, and one bad activity refuses the lot (each problem named by the
    /// activity's position). Says for each whether it was new.
    pub async fn put(
        &self,
        caller: &Caller,
        org_id: Option<String>,
        records: Vec<Value>,
    ) -> Result<(String, Vec<(String, Stored)>), ServiceError> {
        let org_id = acting_for(caller, org_id)?;
        if records.is_empty() || records.len() > MAX_PUT {
            return Err(ServiceError::Validation(vec![FieldError::new(
                "activities",
                format!("must hold 1 to {MAX_PUT} activities, got {}", records.len()),
            )]));
        }
        let mut checker = Checker::new(&org_id, None);
        let mut good = Vec::with_capacity(records.len());
        let mut errors = Vec::new();
        for (i, record) in records.into_iter().enumerate() {
            let Value::Object(record) = record else {
                errors.push(FieldError::new(&format!("activities[{i}]"), "must be an object"));
                continue;
            };
            match checker.check(i as u64, record) {
                Ok(a) => good.push(a),
                Err(problems) => errors.extend(problems.into_iter().map(|p| {
                    let field = match &p.field {
                        Some(f) => format!("activities[{i}].{f}"),
                        None => format!("activities[{i}]"),
                    };
                    FieldError::new(&field, format!("{} ({})", p.message, p.code))
                })),
            }
        }
        if !errors.is_empty() {
            // As an import keeps its first hundred: a request of a few
            // hundred kilobytes could otherwise be answered with megabytes.
            if errors.len() > MAX_KEPT_ERRORS {
                let more = errors.len() - MAX_KEPT_ERRORS;
                errors.truncate(MAX_KEPT_ERRORS);
                errors.push(FieldError::new("activities", format!("and {more} more problems, not listed")));
            }
            return Err(ServiceError::Validation(errors));
        }
        let ids: Vec<String> = good.iter().map(|a| a.activity_id.clone()).collect();
        let named: Vec<Activity> = good.iter().filter(|a| !a.attachments.is_empty()).cloned().collect();
        let stored = self.activities.put_activities(&org_id, good).await?;
        if let Some(uploads) = &self.attachments {
            super::claim_attachments(uploads.as_ref(), &named).await;
        }
        Ok((org_id, ids.into_iter().zip(stored).collect()))
    }

    pub async fn delete(&self, caller: &Caller, org_id: Option<String>, activity_id: &str) -> Result<(), ServiceError> {
        let org_id = acting_for(caller, org_id)?;
        if self.activities.delete_activity(&org_id, activity_id).await? { Ok(()) } else { Err(ServiceError::NotFound) }
    }

    pub async fn page(&self, caller: &Caller, request: PageRequest) -> Result<ActivityPage, ServiceError> {
        let org_id = acting_for(caller, request.org_id)?;
        let profile_name = match request.profile {
            Some(p) => p,
            None => self
                .organisations
                .get_organisation(&org_id)
                .await?
                .and_then(|o| o.default_report_profile)
                .unwrap_or_else(|| crate::domain::DEFAULT_PROFILE.to_string()),
        };
        let profile = find_profile(&profile_name).ok_or_else(|| {
            ServiceError::InvalidQuery(vec![FieldError::new(
                "profile",
                format!("unknown report profile {profile_name:?}; known: {}", known_profiles().join(", ")),
            )])
        })?;
        let query = ActivityQuery { org_id: org_id.clone(), from: request.from, to: request.to, types: request.types };
        let after = match request.cursor.as_deref() {
            None => None,
            Some(c) => Some(parse_cursor(c, &query).ok_or_else(|| {
                ServiceError::InvalidQuery(vec![FieldError::new(
                    "cursor",
                    "is not a cursor this API gave out for this query (the same organisation, period and types)",
                )])
            })?),
        };
        let limit = request.limit.clamp(1, MAX_PAGE);
        let rows = self.activities.activity_page(&query, after, limit).await?;
        let next_cursor = (rows.len() as u32 == limit).then(|| rows.last().map(|a| cursor_of(a, &query))).flatten();
        let activities = rows
            .into_iter()
            .map(|a| {
                let verdict = profile.counts(&a);
                Judged { counts: verdict.is_ok(), reason: verdict.err(), activity: a }
            })
            .collect();
        Ok(ActivityPage { org_id, profile: profile.name.clone(), activities, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_strangers() {
        let a = crate::domain::fixtures::activity();
        let year = |y: i32| ActivityQuery {
            org_id: a.org_id.clone(),
            from: NaiveDate::from_ymd_opt(y, 1, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(y, 12, 31).unwrap(),
            types: vec![],
        };
        let query = year(2025);
        let c = cursor_of(&a, &query);
        assert_eq!(parse_cursor(&c, &query), Some((a.date, a.activity_id.clone())));
        let digest = query_digest(&query);
        for bad in ["", "zz", "00", &hex::encode(format!("2025-13-01\n{digest}\nx")), &hex::encode("2025-03-04\nx")] {
            assert_eq!(parse_cursor(bad, &query), None, "{bad}");
        }
        let others = [
            year(2024),
            ActivityQuery { org_id: "org-other".into(), ..query.clone() },
            ActivityQuery { types: vec![ActivityType::GroupSession], ..query.clone() },
        ];
        let both =
            ActivityQuery { types: vec![ActivityType::GroupSession, ActivityType::OpenMeeting], ..query.clone() };
        let reordered = ActivityQuery {
            types: vec![ActivityType::OpenMeeting, ActivityType::GroupSession, ActivityType::OpenMeeting],
            ..query.clone()
        };
        assert!(parse_cursor(&cursor_of(&a, &both), &reordered).is_some(), "the same types in another order");
        for other in others {
            assert_eq!(parse_cursor(&c, &other), None, "{other:?}");
        }
    }
}
