//! Sheet names and column headers, shared by every format so an Excel
//! sheet and its CSV twin can never drift apart.

pub const SHEET_COVER: &str = "Forside";
pub const SHEET_SUMMARY: &str = "Sammendrag";
pub const SHEET_ACTIVITIES: &str = "Aktiviteter";
pub const SHEET_PARTICIPANTS: &str = "Deltakere";
pub const SHEET_GEOGRAPHY: &str = "Geografi";
pub const SHEET_VOLUNTEERS: &str = "Frivillige";
pub const SHEET_ATTACHMENTS: &str = "Vedlegg";
pub const SHEET_CONTROL: &str = "Kontroll";

pub const TITLE: &str = "Rapport til Bufdir";
/// The cover's organisation number when the organisation has not given it.
pub const NOT_GIVEN: &str = "ikke oppgitt";
pub const TOTAL: &str = "Totalt";
/// Codes are kept as recorded (the 2020 and 2024 reforms renumbered many),
/// so the report names the list rather than claiming one year's edition.
pub const CODE_LIST: &str = "SSB kommunenummer, som registrert";

pub const SUMMARY_HEADERS: [&str; 9] = [
    "Aktivitetstype",
    "Aktiviteter",
    "Tellende aktiviteter",
    "Aktivitetsdager",
    "Timer",
    "Deltakelser",
    "Nye deltakere",
    "Frivillige",
    "Frivilligtimer",
];

pub const GENDERS: [&str; 4] = ["Kvinner", "Menn", "Annet", "Ukjent"];
pub const AGE_BANDS: [&str; 7] =
    ["0-5 år", "6-12 år", "13-17 år", "18-24 år", "25-66 år", "67 år og eldre", "Ukjent alder"];

pub const VOLUNTEER_HEADERS: [&str; 5] = ["Måned", "Aktivitetstype", "Aktiviteter", "Frivillige", "Frivilligtimer"];

pub const ATTACHMENT_HEADERS: [&str; 6] =
    ["Aktivitets-ID", "Filnavn", "Innholdstype", "Størrelse (byte)", "SHA-256", "I pakken"];

/// The "I pakken" cell: whether the file went into the bundle (blank when
/// the files were not asked for).
pub fn in_bundle_nb(v: Option<super::InBundle>) -> &'static str {
    match v {
        Some(super::InBundle::Included) => "ja",
        Some(super::InBundle::Missing) => "mangler",
        None => "",
    }
}

pub const ACTIVITY_HEADERS: [&str; 16] = [
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
    "Tellende",
    "Årsak",
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
    pub const COUNTED: u16 = 14;
    pub const REASON: u16 = 15;
}

pub fn yes_no(b: bool) -> &'static str {
    if b { "ja" } else { "nei" }
}
