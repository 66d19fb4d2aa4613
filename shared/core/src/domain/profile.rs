//! Report profiles: which activities count towards a grant scheme, how
//! small a figure must be to be hidden, and what a missing attachment
//! does. They are data (`profiles/*.toml`), compiled into the binary so a
//! Lambda needs no files, and checked once when first used.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::{Activity, ActivityType, Mode};

pub const DEFAULT_THRESHOLD: u32 = 5;

/// Every profile the product ships, as (file name, text).
const BUILTIN: [(&str, &str); 2] = [
    ("standard.toml", include_str!("../../../../profiles/standard.toml")),
    ("likeperson.toml", include_str!("../../../../profiles/likeperson.toml")),
];

/// What to do when an included activity's attachment file is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingAttachments {
    Fail,
    SkipAndList,
}

/// The rule for one activity type; an unset limit does not apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeRule {
    pub min_participants: u32,
    pub min_minutes: u32,
    pub modes: Vec<Mode>,
    pub must_be_in_norway: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub scheme: String,
    pub suppression_threshold: u32,
    pub missing_attachments: MissingAttachments,
    /// Indexed by [`ActivityType::index`]; `None`: the type never counts.
    rules: [Option<TypeRule>; 6],
}

/// Why an activity did not count. The codes are what the report prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotCountedReason {
    Abroad,
    TypeNotInScheme,
    Phone,
    ModeNotAllowed,
    TooFewParticipants,
    TooShort,
}

impl NotCountedReason {
    pub const ALL: [NotCountedReason; 6] = [
        NotCountedReason::Abroad,
        NotCountedReason::TypeNotInScheme,
        NotCountedReason::Phone,
        NotCountedReason::ModeNotAllowed,
        NotCountedReason::TooFewParticipants,
        NotCountedReason::TooShort,
    ];

    pub fn code(self) -> &'static str {
        match self {
            NotCountedReason::Abroad => "utlandet",
            NotCountedReason::TypeNotInScheme => "ikke_i_ordningen",
            NotCountedReason::Phone => "telefon",
            NotCountedReason::ModeNotAllowed => "form_ikke_tellende",
            NotCountedReason::TooFewParticipants => "for_faa_deltakere",
            NotCountedReason::TooShort => "for_kort",
        }
    }

    /// A sentence for the Kontroll sheet.
    pub fn explanation_nb(self) -> &'static str {
        match self {
            NotCountedReason::Abroad => "Holdt utenfor Norge",
            NotCountedReason::TypeNotInScheme => "Aktivitetstypen telles ikke i denne ordningen",
            NotCountedReason::Phone => "Telefonsamtaler telles ikke",
            NotCountedReason::ModeNotAllowed => "Gjennomføringsformen telles ikke for denne typen",
            NotCountedReason::TooFewParticipants => "For få deltakere",
            NotCountedReason::TooShort => "For kort varighet",
        }
    }

    /// Position in [`NotCountedReason::ALL`], for fixed-size tallies.
    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

impl Profile {
    /// Whether `a` counts; if not, the first reason in the order a reader
    /// would check: where, what, how, how many, how long.
    pub fn counts(&self, a: &Activity) -> Result<(), NotCountedReason> {
        let Some(rule) = &self.rules[a.activity_type.index()] else {
            return Err(if a.in_norway { NotCountedReason::TypeNotInScheme } else { NotCountedReason::Abroad });
        };
        if rule.must_be_in_norway && !a.in_norway {
            return Err(NotCountedReason::Abroad);
        }
        if !rule.modes.contains(&a.mode) {
            return Err(if a.mode == Mode::Phone { NotCountedReason::Phone } else { NotCountedReason::ModeNotAllowed });
        }
        if a.participants.total < rule.min_participants {
            return Err(NotCountedReason::TooFewParticipants);
        }
        if a.duration_minutes < rule.min_minutes {
            return Err(NotCountedReason::TooShort);
        }
        Ok(())
    }

    pub fn rule(&self, t: ActivityType) -> Option<&TypeRule> {
        self.rules[t.index()].as_ref()
    }

    /// Parses and checks one profile file.
    pub fn parse(file: &str, text: &str) -> Result<Profile, ProfileError> {
        let invalid = |message: String| ProfileError::Invalid { file: file.to_string(), message };
        let raw: RawProfile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if Some(raw.name.as_str()) != file.strip_suffix(".toml") {
            return Err(invalid(format!("name {:?} must match the file name", raw.name)));
        }
        if raw.scheme.trim().is_empty() {
            return Err(invalid("scheme must not be empty".into()));
        }
        let threshold = raw.suppression_threshold.unwrap_or(DEFAULT_THRESHOLD);
        // 1 would hide nothing; past 100 whole tables vanish.
        if !(2..=100).contains(&threshold) {
            return Err(invalid(format!("suppression_threshold must be 2..=100, got {threshold}")));
        }
        let mut rules: [Option<TypeRule>; 6] = Default::default();
        for (key, r) in raw.types {
            let t = ActivityType::parse(&key).ok_or_else(|| invalid(format!("unknown activity type {key:?}")))?;
            let modes = match r.modes {
                None => vec![Mode::InPerson, Mode::Digital, Mode::Phone],
                Some(m) if m.is_empty() => return Err(invalid(format!("{key}: modes must not be empty"))),
                Some(m) => m,
            };
            rules[t.index()] = Some(TypeRule {
                min_participants: r.min_participants.unwrap_or(0),
                min_minutes: r.min_minutes.unwrap_or(0),
                modes,
                must_be_in_norway: r.in_norway_only.unwrap_or(true),
            });
        }
        if rules.iter().all(Option::is_none) {
            return Err(invalid("at least one activity type must count".into()));
        }
        Ok(Profile {
            name: raw.name,
            scheme: raw.scheme,
            suppression_threshold: threshold,
            missing_attachments: raw.missing_attachments.unwrap_or(MissingAttachments::Fail),
            rules,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    scheme: String,
    suppression_threshold: Option<u32>,
    missing_attachments: Option<MissingAttachments>,
    #[serde(default)]
    types: BTreeMap<String, RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    min_participants: Option<u32>,
    min_minutes: Option<u32>,
    modes: Option<Vec<Mode>>,
    in_norway_only: Option<bool>,
}

/// Parses every shipped profile; the first bad one is the error.
pub fn load_builtin() -> Result<Vec<Profile>, ProfileError> {
    let mut out: Vec<Profile> = BUILTIN.iter().map(|(f, t)| Profile::parse(f, t)).collect::<Result<_, _>>()?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn builtin() -> &'static [Profile] {
    static PROFILES: OnceLock<Vec<Profile>> = OnceLock::new();
    // The files are compiled in and a unit test parses them, so a failure
    // here means a broken build rather than bad input.
    PROFILES.get_or_init(|| load_builtin().expect("shipped report profiles are valid"))
}

/// The shipped profile called `name`.
pub fn find_profile(name: &str) -> Option<&'static Profile> {
    builtin().iter().find(|p| p.name == name)
}

/// Names of every shipped profile, sorted.
pub fn known_profiles() -> Vec<&'static str> {
    builtin().iter().map(|p| p.name.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    fn act(t: ActivityType, mode: Mode, participants: u32, minutes: u32, in_norway: bool) -> Activity {
        let mut a = fixtures::activity();
        a.activity_type = t;
        a.mode = mode;
        a.participants.total = participants;
        a.duration_minutes = minutes;
        a.in_norway = in_norway;
        a
    }

    #[test]
    fn shipped_profiles_load() {
        assert_eq!(known_profiles(), ["likeperson", "standard"]);
        let p = find_profile("likeperson").unwrap();
        assert_eq!(p.suppression_threshold, 5);
        assert_eq!(p.missing_attachments, MissingAttachments::SkipAndList);
        assert_eq!(find_profile("standard").unwrap().missing_attachments, MissingAttachments::Fail);
        assert!(find_profile("nope").is_none());
    }

    #[test]
    fn standard_counts_everything_held_in_norway() {
        let p = find_profile("standard").unwrap();
        for t in ActivityType::ALL {
            assert_eq!(p.counts(&act(t, Mode::Phone, 1, 1, true)), Ok(()), "{t:?}");
            assert_eq!(p.counts(&act(t, Mode::InPerson, 50, 600, false)), Err(NotCountedReason::Abroad));
        }
    }

    #[test]
    fn likeperson_borderlines() {
        use ActivityType::*;
        use NotCountedReason::*;
        let p = find_profile("likeperson").unwrap();
        let c = |t, m, n, min, no| p.counts(&act(t, m, n, min, no));
        assert_eq!(c(GroupSession, Mode::InPerson, 3, 45, true), Ok(()));
        assert_eq!(c(GroupSession, Mode::Digital, 3, 45, true), Ok(()));
        assert_eq!(c(GroupSession, Mode::InPerson, 2, 45, true), Err(TooFewParticipants));
        assert_eq!(c(GroupSession, Mode::InPerson, 3, 44, true), Err(TooShort));
        assert_eq!(c(GroupSession, Mode::InPerson, 2, 44, true), Err(TooFewParticipants), "first reason wins");
        assert_eq!(c(GroupSession, Mode::InPerson, 3, 45, false), Err(Abroad));
        assert_eq!(c(PeerSupportCourse, Mode::InPerson, 1, 90, true), Ok(()));
        assert_eq!(c(PeerSupportCourse, Mode::InPerson, 10, 89, true), Err(TooShort));
        assert_eq!(c(IndividualCounseling, Mode::InPerson, 1, 10, true), Ok(()));
        assert_eq!(c(IndividualCounseling, Mode::Digital, 1, 10, true), Ok(()));
        assert_eq!(c(IndividualCounseling, Mode::Phone, 1, 60, true), Err(Phone));
        assert_eq!(c(IndividualCounseling, Mode::Phone, 1, 60, false), Err(Abroad));
        assert_eq!(c(VolunteerTraining, Mode::InPerson, 10, 120, true), Err(TypeNotInScheme));
        assert_eq!(c(VolunteerTraining, Mode::InPerson, 10, 120, false), Err(Abroad));
    }

    #[test]
    fn a_digital_only_ban_is_not_called_phone() {
        let text = "name = \"x\"\nscheme = \"s\"\n[types.open_meeting]\nmodes = [\"in_person\"]\n";
        let p = Profile::parse("x.toml", text).unwrap();
        assert_eq!(p.suppression_threshold, DEFAULT_THRESHOLD);
        let a = act(ActivityType::OpenMeeting, Mode::Digital, 5, 60, true);
        assert_eq!(p.counts(&a), Err(NotCountedReason::ModeNotAllowed));
    }

    #[test]
    fn bad_profiles_are_refused_with_the_file_named() {
        let ok = "name = \"x\"\nscheme = \"s\"\n[types.open_meeting]\n";
        assert!(Profile::parse("x.toml", ok).is_ok());
        for (text, needle) in [
            (ok.replace("name = \"x\"", "name = \"y\""), "match the file name"),
            (ok.replace("open_meeting", "knitting"), "unknown activity type"),
            (format!("{ok}min_minutes = \"long\"\n"), "min_minutes"),
            (format!("{ok}colour = 1\n"), "colour"),
            (format!("{ok}modes = []\n"), "modes must not be empty"),
            (format!("{ok}modes = [\"pigeon\"]\n"), "pigeon"),
            (ok.replace("scheme = \"s\"", "scheme = \"s\"\nsuppression_threshold = 1"), "suppression_threshold"),
            (ok.replace("scheme = \"s\"", "scheme = \"s\"\nmissing_attachments = \"ignore\""), "ignore"),
            ("name = \"x\"\nscheme = \"s\"\n".to_string(), "at least one"),
        ] {
            let err = Profile::parse("x.toml", &text).unwrap_err().to_string();
            assert!(err.starts_with("x.toml: ") && err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn reasons_have_distinct_codes() {
        let mut codes: Vec<_> = NotCountedReason::ALL.iter().map(|r| r.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), 6);
        for (i, r) in NotCountedReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
