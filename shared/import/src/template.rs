//! The templates a grant officer fills in: a workbook (sheet `Aktiviteter`
//! with the columns, an example row and drop-down lists; sheet
//! `Veiledning` explaining each column) and the same columns as a CSV file
//! the way Norwegian Excel writes one. Both are made from [`COLUMNS`], and
//! the copies the API serves (`shared/core/templates/`) are checked to be
//! exactly what this makes.

use rust_xlsxwriter::{
    DataValidation, DataValidationErrorStyle, DocProperties, ExcelDateTime, Format, FormatBorder, Workbook, XlsxError,
};

use crate::columns::{COLUMNS, Kind, activity_type_labels, mode_labels};
use crate::xlsx::SHEET;

/// Rows of the activities sheet that get the drop-down lists.
const LIST_ROWS: u32 = 20_000;

/// The workbook template, byte for byte the same every time.
pub fn workbook() -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    // A fixed date: the file must not change from one build to the next.
    let made = ExcelDateTime::from_ymd(2026, 1, 1)?;
    wb.set_properties(&DocProperties::new().set_title("Aktiviteter til Bufdir-rapporten").set_creation_datetime(&made));
    let header = Format::new().set_bold().set_border_bottom(FormatBorder::Thin).set_background_color("#DDEBF7");
    let text = Format::new().set_num_format("@");
    let date = Format::new().set_num_format("dd.mm.yyyy");

    let ws = wb.add_worksheet().set_name(SHEET)?;
    for (c, column) in COLUMNS.iter().enumerate() {
        let c = c as u16;
        ws.write_string_with_format(0, c, column.header, &header)?;
        ws.set_column_width(c, (column.header.len() as f64 + 4.0).max(12.0))?;
        match column.kind {
            Kind::Date => {
                ws.set_column_format(c, &date)?;
                ws.write_datetime_with_format(1, c, ExcelDateTime::parse_from_str(column.example)?, &date)?;
            }
            Kind::Count | Kind::Decimal => {
                ws.write_number(1, c, column.example.replace(',', ".").parse::<f64>().unwrap_or(0.0))?;
            }
            Kind::Kommune | Kind::Text | Kind::Time | Kind::List | Kind::Attachments => {
                // Text cells: Excel would drop the leading zero of 0301.
                ws.set_column_format(c, &text)?;
                if !column.example.is_empty() {
                    ws.write_string_with_format(1, c, column.example, &text)?;
                }
            }
            Kind::ActivityType | Kind::Mode | Kind::YesNo => {
                ws.write_string(1, c, column.example)?;
            }
        }
        let choices: Option<Vec<&str>> = match column.kind {
            Kind::ActivityType => Some(activity_type_labels()),
            Kind::Mode => Some(mode_labels()),
            Kind::YesNo => Some(vec!["ja", "nei"]),
            _ => None,
        };
        if let Some(choices) = choices {
            let validation = DataValidation::new()
                .allow_list_strings(&choices)?
                .set_error_style(DataValidationErrorStyle::Stop)
                .set_error_title("Velg fra listen")?
                .set_error_message(format!("{}: {}", column.header, choices.join(", ")))?;
            ws.add_data_validation(1, c, LIST_ROWS, c, &validation)?;
        }
    }
    ws.set_freeze_panes(1, 0)?;

    let guide = wb.add_worksheet().set_name("Veiledning")?;
    let bold = Format::new().set_bold();
    let wrap = Format::new().set_text_wrap();
    let intro = [
        "Fyll inn én aktivitet per rad i arket Aktiviteter, fra rad 2 (erstatt eksempelraden).",
        "Ikke endre overskriftene. Lagre som .xlsx (eller som \"CSV UTF-8\") og last opp filen.",
        "Filen importeres bare hvis alle rader er i orden; ellers får dere en liste over radene som må rettes.",
        "Ingen navn, fødselsdatoer eller diagnoser: bare antall.",
    ];
    guide.write_string_with_format(0, 0, "Slik fyller dere ut malen", &bold)?;
    for (i, line) in intro.iter().enumerate() {
        guide.write_string(i as u32 + 1, 0, *line)?;
    }
    let top = intro.len() as u32 + 2;
    for (c, title) in ["Kolonne", "Påkrevd", "Forklaring", "Eksempel"].iter().enumerate() {
        guide.write_string_with_format(top, c as u16, *title, &header)?;
    }
    for (i, column) in COLUMNS.iter().enumerate() {
        let r = top + 1 + i as u32;
        guide.write_string(r, 0, column.header)?;
        guide.write_string(r, 1, if column.required { "ja" } else { "nei" })?;
        guide.write_string_with_format(r, 2, column.help, &wrap)?;
        guide.write_string(r, 3, column.example)?;
    }
    guide.set_column_width(0, 22)?;
    guide.set_column_width(1, 9)?;
    guide.set_column_width(2, 90)?;
    guide.set_column_width(3, 26)?;
    wb.save_to_buffer()
}

/// The CSV template: the columns and the example row, `;`-separated,
/// UTF-8 with a byte-order mark and CRLF, as Norwegian Excel writes it.
pub fn csv() -> String {
    let quote =
        |v: &str| if v.contains([';', '"', '\n']) { format!("\"{}\"", v.replace('"', "\"\"")) } else { v.to_string() };
    let header: Vec<String> = COLUMNS.iter().map(|c| quote(c.header)).collect();
    let example: Vec<String> = COLUMNS.iter().map(|c| quote(c.example)).collect();
    format!("\u{feff}{}\r\n{}\r\n", header.join(";"), example.join(";"))
}

/// The column table of `docs/activities.md` (between its `columns`
/// markers), made from the same [`COLUMNS`] as the templates.
pub fn columns_markdown() -> String {
    let mut out = String::from("| Column | JSON field | Required | What to write | Example |\n|---|---|---|---|---|\n");
    for c in COLUMNS {
        let example = if c.example.is_empty() { String::new() } else { format!("`{}`", c.example) };
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} |\n",
            c.header,
            c.path,
            if c.required { "yes" } else { "no" },
            c.help.replace('|', "\\|"),
            example
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ImportFormat;

    /// docs/activities.md lists exactly the columns the importer reads.
    #[test]
    fn the_documented_columns_are_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/activities.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let (start, end) = ("<!-- columns:start -->\n", "<!-- columns:end -->");
        let (a, b) = (doc.find(start).expect("start marker") + start.len(), doc.find(end).expect("end marker"));
        if std::env::var_os("UPDATE_TEMPLATES").is_some() {
            std::fs::write(&path, format!("{}{}{}", &doc[..a], columns_markdown(), &doc[b..])).unwrap();
            return;
        }
        assert_eq!(
            &doc[a..b],
            columns_markdown(),
            "docs/activities.md is stale: UPDATE_TEMPLATES=1 cargo test -p bufdir-import"
        );
    }

    const SERVED_XLSX: &[u8] = include_bytes!("../../core/templates/activities.xlsx");
    const SERVED_CSV: &str = include_str!("../../core/templates/activities.csv");

    /// The templates the API serves are what this module makes; with
    /// `UPDATE_TEMPLATES=1` the test writes them instead.
    #[test]
    fn the_served_templates_are_current() {
        let (xlsx, csv) = (workbook().unwrap(), csv());
        assert_eq!(xlsx, workbook().unwrap(), "the workbook is the same every time");
        if std::env::var_os("UPDATE_TEMPLATES").is_some() {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/templates");
            std::fs::write(dir.join("activities.xlsx"), &xlsx).unwrap();
            std::fs::write(dir.join("activities.csv"), &csv).unwrap();
            return;
        }
        assert!(
            SERVED_XLSX == xlsx.as_slice(),
            "shared/core/templates/activities.xlsx is stale: UPDATE_TEMPLATES=1 cargo test -p bufdir-import"
        );
        assert_eq!(SERVED_CSV, csv, "shared/core/templates/activities.csv is stale");
    }

    /// A filled template imports without edits: the example row reads as a
    /// good activity, from the workbook and from the CSV.
    #[test]
    fn the_templates_read_back_as_an_activity() {
        let dir = tempfile::tempdir().unwrap();
        for (format, body) in [(ImportFormat::Xlsx, workbook().unwrap()), (ImportFormat::Csv, csv().into_bytes())] {
            let path = dir.path().join(format.as_str());
            std::fs::write(&path, body).unwrap();
            let rows: Vec<_> = crate::read::open(format, &path).unwrap().collect::<Result<_, _>>().unwrap();
            assert_eq!(rows.len(), 1, "{format:?}");
            assert_eq!(rows[0].line, 2);
            let record = rows[0].record.clone().unwrap_or_else(|e| panic!("{format:?}: {e:?}"));
            let mut checker = crate::domain::Checker::new("org-demo", None);
            let activity = checker.check(2, record).unwrap_or_else(|e| panic!("{format:?}: {e:?}"));
            assert_eq!((activity.kommunenummer.as_str(), activity.volunteers.hours), ("0301", 4.5), "{format:?}");
            assert_eq!(activity.date.to_string(), "2025-03-04");
        }
    }
}
