//! Sheet names, column headers and cover rows, shared by every format so an
//! Excel sheet and its CSV twin can never drift apart.

use chrono::{DateTime, NaiveDate, Utc};

use super::ReportMeta;

pub const SHEET_COVER: &str = "Forside";
pub const SHEET_SUMMARY: &str = "Sammendrag";
pub const SHEET_ACTIVITIES: &str = "Aktiviteter";

pub const TITLE: &str = "Rapport til Bufdir";
pub const TOTAL: &str = "Totalt";
/// Codes are kept as recorded (the 2020 and 2024 reforms renumbered many),
/// so the report names the list rather than claiming one year's edition.
pub const CODE_LIST: &str = "SSB kommunenummer, som registrert";

pub const SUMMARY_HEADERS: [&str; 7] = [
    "Aktivitetstype",
    "Aktiviteter",
    "Timer",
    "Deltakelser",
    "Nye deltakere",
    "Frivillige",
    "Frivilligtimer",
];

pub const ACTIVITY_HEADERS: [&str; 14] = [
    "Aktivitets-ID",
    "Dato",
    "Type",
    "Tittel",
    "Form",
    "Minutter",
    "Kommunenr.",
    "Fylkesnr.",
    "Deltakere",
    "Nye deltakere",
    "Frivillige",
    "Frivilligtimer",
    "Ledet av likeperson",
    "I Norge",
];

/// Column positions in [`ACTIVITY_HEADERS`], so writers index by name.
pub mod col {
    pub const ID: u16 = 0;
    pub const DATE: u16 = 1;
    pub const TYPE: u16 = 2;
    pub const TITLE: u16 = 3;
    pub const MODE: u16 = 4;
    pub const MINUTES: u16 = 5;
    pub const KOMMUNE: u16 = 6;
    pub const FYLKE: u16 = 7;
    pub const PARTICIPANTS: u16 = 8;
    pub const NEW: u16 = 9;
    pub const VOLUNTEERS: u16 = 10;
    pub const VOLUNTEER_HOURS: u16 = 11;
    pub const LED_BY_PEER: u16 = 12;
    pub const IN_NORWAY: u16 = 13;
}

pub fn yes_no(b: bool) -> &'static str {
    if b { "ja" } else { "nei" }
}

/// A cover value keeps its kind so Excel gets a real date or number while
/// CSV renders the same thing as text.
#[derive(Clone, Debug, PartialEq)]
pub enum CoverValue {
    Text(String),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    Number(u64),
}

/// The Forside label/value rows, in order (the title is not one of them).
pub fn cover_rows(meta: &ReportMeta, rows: u64) -> Vec<(&'static str, CoverValue)> {
    let types = if meta.activity_types.is_empty() {
        "Alle".to_string()
    } else {
        meta.activity_types.iter().map(|t| t.label_nb()).collect::<Vec<_>>().join(", ")
    };
    vec![
        ("Organisasjon", CoverValue::Text(meta.org_id.clone())),
        ("Rapportprofil", CoverValue::Text(meta.report_profile.clone())),
        ("Periode fra", CoverValue::Date(meta.period_from)),
        ("Periode til", CoverValue::Date(meta.period_to)),
        ("Aktivitetstyper", CoverValue::Text(types)),
        ("Generert", CoverValue::DateTime(meta.generated_at)),
        ("Eksport-ID", CoverValue::Text(meta.export_id.clone())),
        ("Antall aktiviteter", CoverValue::Number(rows)),
        ("Kodeliste", CoverValue::Text(CODE_LIST.to_string())),
    ]
}
