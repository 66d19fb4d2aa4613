//! The columns of a CSV file or workbook, in template order: the one place
//! that says which header fills which field of the activity record, how
//! its cells are read, and what the template and `docs/activities.md`
//! tell the person filling it in.

use serde_json::{Map, Value};

use crate::domain::{ActivityType, Mode};

/// How a cell's text becomes a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// `YYYY-MM-DD` or `DD.MM.YYYY` (as Norwegian Excel writes dates in CSV),
    /// or a date cell of a workbook.
    Date,
    /// `HH:MM`.
    Time,
    /// A whole number, 0 or more.
    Count,
    /// A number, decimal comma or point.
    Decimal,
    /// `ja`/`nei` (also `yes`/`no`, `true`/`false`, `1`/`0`).
    YesNo,
    /// The activity type: its Norwegian label or its code.
    ActivityType,
    /// The mode: `Fysisk`/`Digitalt`/`Telefon` or `in_person`/`digital`/`phone`.
    Mode,
    /// Four digits; three are taken as a number that lost its leading zero.
    Kommune,
    /// Several values separated by `,` (target groups).
    List,
    /// Attachment keys separated by `|`, each optionally `name=key`.
    Attachments,
}

pub struct Column {
    /// The header, in the template and in files.
    pub header: &'static str,
    /// Where the value goes in the activity record (`participants.by_age.0-5`).
    pub path: &'static str,
    pub kind: Kind,
    pub required: bool,
    /// For the person filling it in (template instructions, docs).
    pub help: &'static str,
    /// The template's example row.
    pub example: &'static str,
}

const fn col(
    header: &'static str,
    path: &'static str,
    kind: Kind,
    required: bool,
    help: &'static str,
    example: &'static str,
) -> Column {
    Column { header, path, kind, required, help, example }
}

use Kind::*;

pub const COLUMNS: &[Column] = &[
    col(
        "aktivitet_id",
        "activity_id",
        Text,
        true,
        "Aktivitetens ID i deres eget system, 1-100 tegn. Samme ID importert igjen erstatter aktiviteten.",
        "akt-2025-001",
    ),
    col(
        "dato",
        "date",
        Date,
        true,
        "Datoen aktiviteten ble holdt (ÅÅÅÅ-MM-DD eller DD.MM.ÅÅÅÅ), i årene 2000-2099.",
        "2025-03-04",
    ),
    col(
        "aktivitetstype",
        "activity_type",
        ActivityType,
        true,
        "Samtalegruppe, Individuell samtale, Likepersonskurs, Oppsøkende besøk, Åpent møte eller Opplæring av frivillige.",
        "Samtalegruppe",
    ),
    col(
        "tittel",
        "title",
        Text,
        true,
        "Kort beskrivelse, uten navn på deltakere (høyst 500 tegn).",
        "Samtalegruppe for pårørende",
    ),
    col("starttid", "start_time", Time, false, "Klokkeslett (TT:MM), kan stå tomt.", "18:00"),
    col("varighet_minutter", "duration_minutes", Count, true, "Varighet i hele minutter, 1-1440.", "90"),
    col("form", "mode", Mode, true, "Fysisk, Digitalt eller Telefon.", "Fysisk"),
    col(
        "kommunenummer",
        "kommunenummer",
        Kommune,
        true,
        "Kommunenummeret (fire sifre, f.eks. 0301 for Oslo) der aktiviteten ble holdt.",
        "0301",
    ),
    col("i_norge", "in_norway", YesNo, true, "ja hvis aktiviteten ble holdt i Norge, ellers nei.", "ja"),
    col("deltakere", "participants.total", Count, true, "Antall deltakere i alt.", "8"),
    col(
        "nye_deltakere",
        "participants.new",
        Count,
        true,
        "Hvor mange av dem som var nye (høyst antall deltakere).",
        "2",
    ),
    col(
        "kvinner",
        "participants.by_gender.female",
        Count,
        true,
        "Deltakere etter kjønn: kvinner. Kjønnskolonnene summeres til antall deltakere.",
        "5",
    ),
    col("menn", "participants.by_gender.male", Count, true, "Deltakere etter kjønn: menn.", "3"),
    col("annet_kjonn", "participants.by_gender.other", Count, true, "Deltakere etter kjønn: annet.", "0"),
    col("ukjent_kjonn", "participants.by_gender.unknown", Count, true, "Deltakere etter kjønn: ukjent.", "0"),
    col(
        "alder_0_5",
        "participants.by_age.0-5",
        Count,
        true,
        "Deltakere etter alder: 0-5 år. Alderskolonnene summeres til antall deltakere.",
        "0",
    ),
    col("alder_6_12", "participants.by_age.6-12", Count, true, "Deltakere etter alder: 6-12 år.", "0"),
    col("alder_13_17", "participants.by_age.13-17", Count, true, "Deltakere etter alder: 13-17 år.", "1"),
    col("alder_18_24", "participants.by_age.18-24", Count, true, "Deltakere etter alder: 18-24 år.", "2"),
    col("alder_25_66", "participants.by_age.25-66", Count, true, "Deltakere etter alder: 25-66 år.", "5"),
    col("alder_67_pluss", "participants.by_age.67+", Count, true, "Deltakere etter alder: 67 år og eldre.", "0"),
    col("alder_ukjent", "participants.by_age.unknown", Count, true, "Deltakere etter alder: ukjent.", "0"),
    col("frivillige", "volunteers.count", Count, true, "Antall frivillige som bidro.", "2"),
    col(
        "frivillige_timer",
        "volunteers.hours",
        Decimal,
        true,
        "De frivilliges timer i alt (desimalkomma eller -punktum).",
        "4,5",
    ),
    col(
        "likepersonledet",
        "led_by_peer",
        YesNo,
        false,
        "ja hvis en likeperson ledet aktiviteten; tomt betyr nei.",
        "ja",
    ),
    col("malgrupper", "target_groups", List, false, "Målgrupper, skilt med komma, kan stå tomt.", "relatives, parents"),
    col(
        "vedlegg",
        "attachments",
        Attachments,
        false,
        "Nøkler til opplastede vedlegg (fra POST /api/v1/attachments), skilt med |; kan stå tomt.",
        "",
    ),
];

/// Headers are matched ignoring case, surrounding spaces, and spaces or
/// hyphens in place of underscores, so `Aktivitet ID` finds `aktivitet_id`.
pub fn normalise_header(h: &str) -> String {
    h.trim().trim_start_matches('\u{feff}').to_lowercase().replace([' ', '-'], "_")
}

pub fn find(header: &str) -> Option<&'static Column> {
    let h = normalise_header(header);
    COLUMNS.iter().find(|c| c.header == h)
}

/// The label the template's drop-down shows for an activity type.
pub fn activity_type_labels() -> Vec<&'static str> {
    ActivityType::ALL.iter().map(|t| t.label_nb()).collect()
}

pub fn mode_labels() -> Vec<&'static str> {
    Mode::ALL.iter().map(|m| m.label_nb()).collect()
}

/// Sets `value` at a dotted path in a JSON object, making the objects on the way.
pub fn set_path(record: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut here = record;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            here.insert(part.to_string(), value);
            return;
        }
        // Looked up before inserting: the key is made only the first time.
        if !here.contains_key(part) {
            here.insert(part.to_string(), Value::Object(Map::new()));
        }
        here = here.get_mut(part).and_then(Value::as_object_mut).expect("paths never cross a value");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_unique_and_found_loosely() {
        let mut headers: Vec<&str> = COLUMNS.iter().map(|c| c.header).collect();
        headers.sort();
        headers.dedup();
        assert_eq!(headers.len(), COLUMNS.len());
        assert_eq!(find(" Aktivitet ID ").unwrap().path, "activity_id");
        assert_eq!(find("\u{feff}aktivitet_id").unwrap().path, "activity_id");
        assert_eq!(find("ALDER-67-PLUSS").unwrap().path, "participants.by_age.67+");
        assert!(find("diagnose").is_none());
    }

    #[test]
    fn paths_build_the_nested_record() {
        let mut m = Map::new();
        set_path(&mut m, "participants.by_age.0-5", Value::from(1));
        set_path(&mut m, "participants.total", Value::from(3));
        assert_eq!(Value::Object(m), serde_json::json!({"participants": {"by_age": {"0-5": 1}, "total": 3}}));
    }
}
