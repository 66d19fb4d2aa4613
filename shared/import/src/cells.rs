//! One cell of a CSV file or workbook, made into a field of the activity
//! record by its column's [`Kind`]. What people type is taken as they mean
//! it (Norwegian labels, decimal commas, `DD.MM.YYYY`, a kommunenummer whose
//! leading zero Excel dropped); what cannot be read is a row error naming
//! the column.

use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::columns::{Column, Kind};
use crate::domain::{ActivityType, Mode, parse_iso_date};

/// A cell as the file holds it.
#[derive(Clone, Debug, PartialEq)]
pub enum CellValue {
    Empty,
    Text(String),
    Number(f64),
    Bool(bool),
    Date(NaiveDate),
}

impl CellValue {
    pub fn is_empty(&self) -> bool {
        match self {
            CellValue::Empty => true,
            CellValue::Text(t) => t.trim().is_empty(),
            _ => false,
        }
    }

    /// The cell as text, the way a person would read it.
    fn text(&self) -> String {
        match self {
            CellValue::Empty => String::new(),
            CellValue::Text(t) => t.trim().to_string(),
            CellValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            CellValue::Number(n) => n.to_string(),
            CellValue::Bool(b) => if *b { "ja" } else { "nei" }.to_string(),
            CellValue::Date(d) => d.to_string(),
        }
    }

    /// [`text`](Self::text), keeping a text cell's own string when it
    /// needs no trimming: most cells are taken as they are.
    fn into_text(self) -> String {
        match self {
            CellValue::Text(t) if t.trim().len() == t.len() => t,
            other => other.text(),
        }
    }
}

/// Whether `cell` leaves a required column empty.
pub fn missing(column: &Column, cell: &CellValue) -> bool {
    column.required && cell.is_empty()
}

/// Why a cell could not be read: (code, message).
pub type CellError = (&'static str, String);

fn invalid(message: String) -> CellError {
    ("invalid_value", message)
}

/// The field value for `cell` in `column`; `Ok(None)` for an empty
/// optional cell (the record's default applies). Typed cells (numbers,
/// dates, booleans) are read without going through their text.
pub fn read(column: &Column, cell: CellValue) -> Result<Option<Value>, CellError> {
    if cell.is_empty() {
        return if missing(column, &cell) {
            Err(("missing_value", format!("{} is required", column.header)))
        } else {
            Ok(None)
        };
    }
    let value = match column.kind {
        Kind::Text | Kind::Time => Value::String(cell.into_text()),
        Kind::Date => Value::String(date(&cell)?.to_string()),
        Kind::Count => Value::from(count(&cell)?),
        Kind::Decimal => Value::from(decimal(&cell)?),
        Kind::YesNo => Value::Bool(yes_no(&cell)?),
        Kind::ActivityType => Value::String(activity_type(&cell.text())?.as_str().to_string()),
        Kind::Mode => Value::String(mode(&cell.text())?.as_str().to_string()),
        Kind::Kommune => Value::String(kommune(&cell)?),
        Kind::List => {
            let text = cell.text();
            Value::from(text.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>())
        }
        Kind::Attachments => attachments(&cell.text())?,
    };
    Ok(Some(value))
}

fn date(cell: &CellValue) -> Result<NaiveDate, CellError> {
    if let CellValue::Date(d) = cell {
        return Ok(*d);
    }
    let text = &cell.text();
    if let Ok(d) = parse_iso_date(text) {
        return Ok(d);
    }
    // DD.MM.YYYY, as Norwegian Excel saves a date cell to CSV.
    let b = text.as_bytes();
    if b.len() == 10 && b[2] == b'.' && b[5] == b'.' {
        let iso = format!("{}-{}-{}", &text[6..10], &text[3..5], &text[0..2]);
        if let Ok(d) = parse_iso_date(&iso) {
            return Ok(d);
        }
    }
    Err(invalid(format!("dato must be a date (YYYY-MM-DD or DD.MM.YYYY) in 2000-2099, got {text:?}")))
}

fn count(cell: &CellValue) -> Result<u64, CellError> {
    let n = match cell {
        CellValue::Number(n) if n.fract() == 0.0 && *n >= 0.0 && *n <= f64::from(u32::MAX) => Some(*n as u64),
        CellValue::Number(_) => None,
        CellValue::Text(t) => t.trim().parse::<u32>().ok().map(u64::from),
        _ => cell.text().parse::<u32>().ok().map(u64::from),
    };
    n.ok_or_else(|| invalid(format!("must be a whole number, 0 or more, got {:?}", cell.text())))
}

fn decimal(cell: &CellValue) -> Result<f64, CellError> {
    let n = match cell {
        CellValue::Number(n) => Some(*n),
        _ => cell.text().replace(' ', "").replace(',', ".").parse::<f64>().ok(),
    };
    n.filter(|n| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| invalid(format!("must be a number, 0 or more, got {:?}", cell.text())))
}

fn yes_no(cell: &CellValue) -> Result<bool, CellError> {
    if let CellValue::Bool(b) = cell {
        return Ok(*b);
    }
    let text = cell.text();
    match text.to_lowercase().as_str() {
        "ja" | "j" | "yes" | "y" | "true" | "sann" | "1" | "x" => Ok(true),
        "nei" | "n" | "no" | "false" | "usann" | "0" => Ok(false),
        _ => Err(invalid(format!("must be ja or nei, got {text:?}"))),
    }
}

fn activity_type(text: &str) -> Result<ActivityType, CellError> {
    // Most cells hold a label or code as the template writes it.
    if let Some(t) = ActivityType::ALL.into_iter().find(|t| t.as_str() == text || t.label_nb() == text) {
        return Ok(t);
    }
    let lower = text.to_lowercase();
    ActivityType::ALL.into_iter().find(|t| t.as_str() == lower || t.label_nb().to_lowercase() == lower).ok_or_else(
        || {
            let labels: Vec<&str> = ActivityType::ALL.iter().map(|t| t.label_nb()).collect();
            invalid(format!("must be one of {}, got {text:?}", labels.join(", ")))
        },
    )
}

fn mode(text: &str) -> Result<Mode, CellError> {
    if let Some(m) = Mode::ALL.into_iter().find(|m| m.as_str() == text || m.label_nb() == text) {
        return Ok(m);
    }
    let lower = text.to_lowercase();
    Mode::ALL.into_iter().find(|m| m.as_str() == lower || m.label_nb().to_lowercase() == lower).ok_or_else(|| {
        let labels: Vec<&str> = Mode::ALL.iter().map(|m| m.label_nb()).collect();
        invalid(format!("must be one of {}, got {text:?}", labels.join(", ")))
    })
}

/// Excel keeps "0301" typed into a number cell as 301: three digits are
/// read as that number with its leading zero back.
fn kommune(cell: &CellValue) -> Result<String, CellError> {
    let text = cell.text();
    let digits = text.len() == 3 || text.len() == 4;
    if digits && text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(format!("{text:0>4}"));
    }
    let shown = if matches!(cell, CellValue::Number(_)) { text.to_string() } else { format!("{text:?}") };
    Err(invalid(format!("must be a kommunenummer of four digits, got {shown}")))
}

fn attachments(text: &str) -> Result<Value, CellError> {
    let mut out = Vec::new();
    for part in text.split('|').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, key) = match part.split_once('=') {
            Some((name, key)) => (name.trim(), key.trim()),
            None => (part.rsplit('/').next().unwrap_or(part), part),
        };
        if name.is_empty() || key.is_empty() {
            return Err(invalid(format!("each attachment is a key or name=key, got {part:?}")));
        }
        out.push(json!({ "name": name, "content_type": content_type_of(name), "key": key }));
    }
    Ok(Value::Array(out))
}

/// The types attachments may have, by extension.
pub const ATTACHMENT_TYPES: &[(&str, &str)] = &[
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
];

pub fn content_type_of(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_lowercase()).unwrap_or_default();
    ATTACHMENT_TYPES.iter().find(|(e, _)| *e == ext).map(|(_, t)| *t).unwrap_or("application/octet-stream")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::find;

    fn cell(header: &str, text: &str) -> Result<Option<Value>, CellError> {
        read(find(header).unwrap(), CellValue::Text(text.into()))
    }

    #[test]
    fn yes_and_no_as_docs_activities_md_lists_them() {
        for (yes, no) in [("ja", "nei"), ("J", "N"), ("yes", "no"), ("TRUE", "FALSE"), ("sann", "usann"), ("1", "0")] {
            assert_eq!(cell("i_norge", yes).unwrap(), Some(json!(true)), "{yes}");
            assert_eq!(cell("i_norge", no).unwrap(), Some(json!(false)), "{no}");
        }
        assert_eq!(cell("i_norge", "x").unwrap(), Some(json!(true)));
        for other in ["kanskje", "2", "ja nei"] {
            assert!(cell("i_norge", other).is_err(), "{other}");
        }
    }

    #[test]
    fn cells_are_read_as_people_type_them() {
        assert_eq!(cell("dato", "04.03.2025").unwrap(), Some(json!("2025-03-04")));
        assert_eq!(cell("dato", "2025-03-04").unwrap(), Some(json!("2025-03-04")));
        assert_eq!(cell("aktivitetstype", "samtalegruppe").unwrap(), Some(json!("group_session")));
        assert_eq!(cell("aktivitetstype", "group_session").unwrap(), Some(json!("group_session")));
        assert_eq!(cell("form", "Telefon").unwrap(), Some(json!("phone")));
        assert_eq!(cell("frivillige_timer", "4,5").unwrap(), Some(json!(4.5)));
        assert_eq!(cell("kommunenummer", "301").unwrap(), Some(json!("0301")));
        assert_eq!(cell("i_norge", "Ja").unwrap(), Some(json!(true)));
        assert_eq!(cell("malgrupper", "relatives, parents,").unwrap(), Some(json!(["relatives", "parents"])));
        assert_eq!(cell("likepersonledet", " ").unwrap(), None);
        let attachments = cell("vedlegg", "liste.pdf=org/a/liste.pdf | org/a/bilde.PNG").unwrap().unwrap();
        assert_eq!(
            attachments[0],
            json!({"name": "liste.pdf", "content_type": "application/pdf", "key": "org/a/liste.pdf"})
        );
        assert_eq!(attachments[1]["content_type"], "image/png");
        let typed = read(find("deltakere").unwrap(), CellValue::Number(8.0)).unwrap();
        assert_eq!(typed, Some(json!(8)));
        let day = NaiveDate::from_ymd_opt(2025, 3, 4).unwrap();
        assert_eq!(read(find("dato").unwrap(), CellValue::Date(day)).unwrap(), Some(json!("2025-03-04")));
    }

    #[test]
    fn what_cannot_be_read_names_the_problem() {
        assert_eq!(cell("aktivitet_id", "").unwrap_err().0, "missing_value");
        for (header, bad) in [
            ("dato", "4.3.2025"),
            ("dato", "2025-02-30"),
            ("deltakere", "-1"),
            ("deltakere", "8,5"),
            ("frivillige_timer", "mange"),
            ("i_norge", "kanskje"),
            ("aktivitetstype", "strikking"),
            ("kommunenummer", "03011"),
            ("kommunenummer", "Oslo"),
        ] {
            let e = cell(header, bad).unwrap_err();
            assert_eq!(e.0, "invalid_value", "{header} {bad:?}");
        }
        assert!(read(find("deltakere").unwrap(), CellValue::Number(8.5)).is_err());
    }
}
