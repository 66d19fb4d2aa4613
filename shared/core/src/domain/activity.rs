//! The activity record as the recording side holds it (see the domain
//! notes): counts only, never names, birth dates or diagnoses.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityType {
    GroupSession,
    IndividualCounseling,
    PeerSupportCourse,
    OutreachVisit,
    OpenMeeting,
    VolunteerTraining,
}

impl ActivityType {
    pub const ALL: [ActivityType; 6] = [
        ActivityType::GroupSession,
        ActivityType::IndividualCounseling,
        ActivityType::PeerSupportCourse,
        ActivityType::OutreachVisit,
        ActivityType::OpenMeeting,
        ActivityType::VolunteerTraining,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActivityType::GroupSession => "group_session",
            ActivityType::IndividualCounseling => "individual_counseling",
            ActivityType::PeerSupportCourse => "peer_support_course",
            ActivityType::OutreachVisit => "outreach_visit",
            ActivityType::OpenMeeting => "open_meeting",
            ActivityType::VolunteerTraining => "volunteer_training",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Bokmål label used in the report.
    pub fn label_nb(self) -> &'static str {
        match self {
            ActivityType::GroupSession => "Samtalegruppe",
            ActivityType::IndividualCounseling => "Individuell samtale",
            ActivityType::PeerSupportCourse => "Likepersonskurs",
            ActivityType::OutreachVisit => "Oppsøkende besøk",
            ActivityType::OpenMeeting => "Åpent møte",
            ActivityType::VolunteerTraining => "Opplæring av frivillige",
        }
    }

    /// Position in [`ActivityType::ALL`], for fixed-size per-type tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    InPerson,
    Digital,
    Phone,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::InPerson, Mode::Digital, Mode::Phone];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::InPerson => "in_person",
            Mode::Digital => "digital",
            Mode::Phone => "phone",
        }
    }

    pub fn label_nb(self) -> &'static str {
        match self {
            Mode::InPerson => "Fysisk",
            Mode::Digital => "Digitalt",
            Mode::Phone => "Telefon",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByGender {
    pub female: u32,
    pub male: u32,
    pub other: u32,
    pub unknown: u32,
}

impl ByGender {
    /// In 64 bits: each count may be as large as a u32 holds, and a sum
    /// that wrapped could match `total` and pass.
    pub fn sum(&self) -> u64 {
        [self.female, self.male, self.other, self.unknown].iter().map(|&n| u64::from(n)).sum()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByAge {
    #[serde(rename = "0-5")]
    pub age_0_5: u32,
    #[serde(rename = "6-12")]
    pub age_6_12: u32,
    #[serde(rename = "13-17")]
    pub age_13_17: u32,
    #[serde(rename = "18-24")]
    pub age_18_24: u32,
    #[serde(rename = "25-66")]
    pub age_25_66: u32,
    #[serde(rename = "67+")]
    pub age_67_plus: u32,
    pub unknown: u32,
}

impl ByAge {
    /// In 64 bits, as [`ByGender::sum`].
    pub fn sum(&self) -> u64 {
        [self.age_0_5, self.age_6_12, self.age_13_17, self.age_18_24, self.age_25_66, self.age_67_plus, self.unknown]
            .iter()
            .map(|&n| u64::from(n))
            .sum()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participants {
    pub total: u32,
    pub new: u32,
    pub by_gender: ByGender,
    pub by_age: ByAge,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volunteers {
    pub count: u32,
    pub hours: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub key: String,
}

/// Whether an attachment key is one of the organisation's: keys start with
/// the organisation's id, so an activity can never name, and an export
/// never bundle, another organisation's file.
pub fn attachment_key_of(org_id: &str, key: &str) -> bool {
    key.strip_prefix(org_id).is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
}

/// The longest attachment key: S3 allows 1 024 bytes with the store's prefix.
pub const MAX_ATTACHMENT_KEY_BYTES: usize = 900;

/// Whether `key` could name an attachment on every store: `/`-separated
/// names, none empty, `.`, `..` or otherwise starting with a dot (a
/// store's own temporary files do), and no control character or
/// backslash. Any other key could leave the store's folder, or names a
/// file no store hands back, so an activity naming it is refused when it
/// is written, not when its report is made.
pub fn is_attachment_key(key: &str) -> bool {
    let name = |s: &str| !s.is_empty() && !s.starts_with('.') && !s.chars().any(|c| c.is_control() || c == '\\');
    !key.is_empty() && key.len() <= MAX_ATTACHMENT_KEY_BYTES && key.split('/').all(name)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    pub activity_id: String,
    pub org_id: String,
    pub activity_type: ActivityType,
    pub title: String,
    pub date: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    pub duration_minutes: u32,
    pub mode: Mode,
    pub kommunenummer: String,
    pub in_norway: bool,
    pub participants: Participants,
    pub volunteers: Volunteers,
    #[serde(default)]
    pub led_by_peer: bool,
    #[serde(default)]
    pub target_groups: Vec<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

impl Activity {
    /// The county is the first two digits of the municipality code.
    pub fn fylkesnummer(&self) -> &str {
        self.kommunenummer.get(..2).unwrap_or("")
    }

    /// Checks the record's own consistency and its codes; every problem
    /// is reported, each naming its field.
    pub fn problems(&self) -> Vec<ActivityProblem> {
        let mut out = Vec::new();
        let mut add = |field: &'static str, code: &'static str, message: String| {
            out.push(ActivityProblem { field, code, message });
        };
        if self.activity_id.trim().is_empty() || self.activity_id.len() > 100 {
            add("activity_id", "invalid_value", "activity_id must be 1..100 characters".to_string());
        }
        if self.org_id.trim().is_empty() {
            add("org_id", "missing_value", "org_id must not be empty".to_string());
        }
        if self.title.chars().count() > MAX_TITLE_CHARS {
            add("title", "invalid_value", format!("title must be at most {MAX_TITLE_CHARS} characters"));
        }
        if self.duration_minutes == 0 {
            add("duration_minutes", "invalid_value", "duration_minutes must be greater than 0".to_string());
        }
        if self.duration_minutes > 24 * 60 {
            add("duration_minutes", "invalid_value", "duration_minutes must be at most 1440 (one day)".to_string());
        }
        if !super::YEARS.contains(&chrono::Datelike::year(&self.date)) {
            let years = format!("{} to {}", super::YEARS.start(), super::YEARS.end());
            add("date", "invalid_value", format!("date {} is outside the years {years}", self.date));
        }
        match super::check_kommunenummer(&self.kommunenummer, self.date) {
            Ok(()) => {}
            Err(super::KommuneError::Shape) => add(
                "kommunenummer",
                "invalid_value",
                format!("kommunenummer must be 4 digits, got {:?}", self.kommunenummer),
            ),
            Err(super::KommuneError::Unknown) => add(
                "kommunenummer",
                "unknown_kommunenummer",
                format!("kommunenummer {} names no municipality on {}", self.kommunenummer, self.date),
            ),
        }
        let p = &self.participants;
        if p.new > p.total {
            add(
                "participants.new",
                "inconsistent_counts",
                format!("participants.new ({}) exceeds participants.total ({})", p.new, p.total),
            );
        }
        if p.by_gender.sum() != u64::from(p.total) {
            add(
                "participants.by_gender",
                "inconsistent_counts",
                format!("participants.by_gender sums to {}, not total {}", p.by_gender.sum(), p.total),
            );
        }
        if p.by_age.sum() != u64::from(p.total) {
            add(
                "participants.by_age",
                "inconsistent_counts",
                format!("participants.by_age sums to {}, not total {}", p.by_age.sum(), p.total),
            );
        }
        if !(self.volunteers.hours.is_finite() && (0.0..=MAX_VOLUNTEER_HOURS).contains(&self.volunteers.hours)) {
            add(
                "volunteers.hours",
                "invalid_value",
                format!("volunteers.hours must be a number from 0 to {MAX_VOLUNTEER_HOURS}"),
            );
        }
        if let Some(t) = &self.start_time
            && !valid_clock_time(t)
        {
            add("start_time", "invalid_value", format!("start_time must be HH:MM, got {t:?}"));
        }
        for (i, a) in self.attachments.iter().enumerate() {
            if a.key.trim().is_empty() || a.name.trim().is_empty() {
                add("attachments", "invalid_value", format!("attachments[{i}] needs a name and a key"));
            } else if !attachment_key_of(&self.org_id, &a.key) {
                add(
                    "attachments",
                    "other_organisation",
                    format!(
                        "attachments[{i}].key must start with the organisation's id and a slash ({}/...)",
                        self.org_id
                    ),
                );
            } else if !is_attachment_key(&a.key) {
                add(
                    "attachments",
                    "invalid_value",
                    format!(
                        "attachments[{i}].key must be names between slashes, none empty or starting with '.', \
                         without control characters or '\\', at most {MAX_ATTACHMENT_KEY_BYTES} bytes"
                    ),
                );
            }
        }
        out
    }
}

/// Longest activity title kept.
pub const MAX_TITLE_CHARS: usize = 500;
/// More volunteer hours than this on one activity is a typing slip.
pub const MAX_VOLUNTEER_HOURS: f64 = 100_000.0;

/// `HH:MM`, exactly, on a 24-hour clock.
pub(super) fn valid_clock_time(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 5
        && b[2] == b':'
        && [0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit())
        && chrono::NaiveTime::parse_from_str(t, "%H:%M").is_ok()
}

/// One thing wrong with an activity record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityProblem {
    /// Where in the record, as a JSON path (`participants.by_age`).
    pub field: &'static str,
    /// Stable, for programs (`invalid_value`, `inconsistent_counts`, `unknown_kommunenummer`).
    pub code: &'static str,
    pub message: String,
}

impl std::fmt::Display for ActivityProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::activity as sample;

    #[test]
    fn the_documented_example_parses_and_is_valid() {
        let a = sample();
        assert_eq!(a.activity_type, ActivityType::GroupSession);
        assert_eq!(a.fylkesnummer(), "03");
        assert!(a.problems().is_empty(), "{:?}", a.problems());
    }

    #[test]
    fn inconsistent_counts_are_reported() {
        let mut a = sample();
        a.participants.new = 9;
        a.participants.by_gender.male = 4;
        a.duration_minutes = 0;
        a.kommunenummer = "301".into();
        let p = a.problems();
        assert_eq!(p.len(), 4, "{p:?}");
    }

    #[test]
    fn counts_that_add_up_only_by_wrapping_around_do_not_add_up() {
        let mut a = sample();
        let total = a.participants.total;
        a.participants.by_gender = ByGender { female: u32::MAX, male: total + 1, other: 0, unknown: 0 };
        a.participants.by_age = ByAge { age_0_5: u32::MAX, unknown: total + 1, ..ByAge::default() };
        let fields: Vec<&str> = a.problems().iter().map(|p| p.field).collect();
        assert_eq!(fields, ["participants.by_gender", "participants.by_age"]);
        assert!(a.problems()[0].message.contains(&(u64::from(u32::MAX) + u64::from(total) + 1).to_string()));
    }

    #[test]
    fn an_attachment_key_no_store_could_hold_is_refused() {
        let named = |key: &str| {
            let mut a = sample();
            a.attachments =
                vec![Attachment { name: "liste.pdf".into(), content_type: "application/pdf".into(), key: key.into() }];
            a.problems().into_iter().map(|p| (p.field, p.code)).collect::<Vec<_>>()
        };
        let org = sample().org_id;
        assert_eq!(named(&format!("{org}/att-1/liste.pdf")), []);
        assert_eq!(named(&format!("{org}/att-1/oppmøteliste %2e.pdf")), [], "any other character is a name's");
        let long = format!("{org}/{}", "x".repeat(MAX_ATTACHMENT_KEY_BYTES));
        for bad in
            ["/../org-other/att-1/x.pdf", "/../../../../etc/passwd", "/\u{0}", "/a//b", "/.hidden", "/a\\b", "/a\n"]
        {
            assert_eq!(named(&format!("{org}{bad}")), [("attachments", "invalid_value")], "{bad}");
        }
        assert_eq!(named(&long), [("attachments", "invalid_value")]);
        assert_eq!(named("org-other/att-1/x.pdf"), [("attachments", "other_organisation")]);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["diagnosis"] = "x".into();
        let err = serde_json::from_value::<Activity>(v).unwrap_err();
        assert!(err.to_string().contains("diagnosis"), "{err}");
    }
}
