//! The Excel report. Forside and Sammendrag are ordinary sheets added first
//! (so they come first in the tab order) and filled at the end, when the
//! figures are known; Aktiviteter is a constant-memory sheet whose rows go
//! straight to a temp file in the working directory as they arrive.

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, FormatAlign, Workbook, Worksheet};

use super::labels::{self, col, CoverValue};
use super::{Activity, ReportError, ReportMeta, Sink, Summary, TypeFigures};

/// Excel's 1,048,576 rows per sheet, less the header row.
pub(super) const MAX_DATA_ROWS: u32 = 1_048_575;

const COVER: usize = 0;
const SUMMARY: usize = 1;
const FIRST_ACTIVITY_SHEET: usize = 2;
const LAST_COL: u16 = labels::ACTIVITY_HEADERS.len() as u16 - 1;
/// Excel refuses longer cell text; a title that long is cut, not fatal.
const MAX_CELL_CHARS: usize = 32_767;

const ACTIVITY_WIDTHS: [f64; 14] = [16.0, 11.0, 22.0, 40.0, 10.0, 9.0, 11.0, 9.0, 10.0, 13.0, 10.0, 13.0, 18.0, 8.0];

/// Made once: `rust_xlsxwriter` hashes the format on every write, and a
/// fresh one per row would also allocate.
struct Formats {
    bold: Format,
    title: Format,
    date: Format,
    cover_date: Format,
    cover_datetime: Format,
    cover_int: Format,
    int: Format,
    int_bold: Format,
    hours: Format,
    hours_bold: Format,
}

impl Formats {
    fn new() -> Self {
        let left = |f: Format| f.set_align(FormatAlign::Left);
        Formats {
            bold: Format::new().set_bold(),
            title: Format::new().set_bold().set_font_size(14),
            date: Format::new().set_num_format("dd.mm.yyyy"),
            cover_date: left(Format::new().set_num_format("dd.mm.yyyy")),
            cover_datetime: left(Format::new().set_num_format("dd.mm.yyyy hh:mm \"UTC\"")),
            cover_int: left(Format::new().set_num_format("0")),
            int: Format::new().set_num_format("0"),
            int_bold: Format::new().set_num_format("0").set_bold(),
            hours: Format::new().set_num_format("0.0"),
            hours_bold: Format::new().set_num_format("0.0").set_bold(),
        }
    }
}

pub(super) struct XlsxSink<'a> {
    meta: &'a ReportMeta,
    path: PathBuf,
    wb: Workbook,
    f: Formats,
    rows_per_sheet: u32,
    /// Workbook index of the Aktiviteter sheet being written.
    sheet: usize,
    /// Next row on that sheet; row 0 is the header.
    row: u32,
}

impl<'a> XlsxSink<'a> {
    pub(super) fn create(meta: &'a ReportMeta, dir: &Path, path: &Path, rows_per_sheet: u32) -> Result<Self, ReportError> {
        let mut wb = Workbook::new();
        // Scratch files in the caller's private directory, not a shared /tmp
        // that may be small or in memory.
        wb.set_tempdir(dir)?;
        let created = ExcelDateTime::from_timestamp(meta.generated_at.timestamp())?;
        wb.set_properties(&DocProperties::new().set_title(labels::TITLE).set_creation_datetime(&created));
        wb.add_worksheet().set_name(labels::SHEET_COVER)?;
        wb.add_worksheet().set_name(labels::SHEET_SUMMARY)?;
        let mut sink = XlsxSink {
            meta,
            path: path.to_path_buf(),
            wb,
            f: Formats::new(),
            rows_per_sheet: rows_per_sheet.clamp(1, MAX_DATA_ROWS),
            sheet: FIRST_ACTIVITY_SHEET,
            row: 1,
        };
        sink.add_activity_sheet()?;
        Ok(sink)
    }

    fn add_activity_sheet(&mut self) -> Result<(), ReportError> {
        let n = self.wb.worksheets().len() - FIRST_ACTIVITY_SHEET;
        let name = match n {
            0 => labels::SHEET_ACTIVITIES.to_string(),
            _ => format!("{} ({})", labels::SHEET_ACTIVITIES, n + 1),
        };
        let ws = self.wb.add_worksheet_with_constant_memory()?;
        ws.set_name(name)?;
        for (c, (h, w)) in labels::ACTIVITY_HEADERS.iter().zip(ACTIVITY_WIDTHS).enumerate() {
            ws.write_string_with_format(0, c as u16, *h, &self.f.bold)?;
            ws.set_column_width(c as u16, w)?;
        }
        ws.set_freeze_panes(1, 0)?;
        self.sheet = FIRST_ACTIVITY_SHEET + n;
        self.row = 1;
        Ok(())
    }

    /// The filter range is only known once the sheet is full or the data ends.
    fn close_activity_sheet(&mut self) -> Result<(), ReportError> {
        let last = self.row - 1;
        self.wb.worksheet_from_index(self.sheet)?.autofilter(0, 0, last, LAST_COL)?;
        Ok(())
    }

    fn write_cover(ws: &mut Worksheet, f: &Formats, meta: &ReportMeta, rows: u64) -> Result<(), ReportError> {
        ws.write_string_with_format(0, 0, labels::TITLE, &f.title)?;
        for (i, (label, value)) in labels::cover_rows(meta, rows).into_iter().enumerate() {
            let r = i as u32 + 2;
            ws.write_string_with_format(r, 0, label, &f.bold)?;
            match value {
                CoverValue::Text(s) => ws.write_string(r, 1, s)?,
                CoverValue::Date(d) => ws.write_datetime_with_format(r, 1, excel_date(d)?, &f.cover_date)?,
                CoverValue::DateTime(t) => {
                    ws.write_datetime_with_format(r, 1, ExcelDateTime::from_timestamp(t.timestamp())?, &f.cover_datetime)?
                }
                CoverValue::Number(n) => ws.write_number_with_format(r, 1, n as f64, &f.cover_int)?,
            };
        }
        ws.set_column_width(0, 22)?;
        ws.set_column_width(1, 44)?;
        Ok(())
    }

    fn write_summary(ws: &mut Worksheet, f: &Formats, summary: &Summary) -> Result<(), ReportError> {
        for (c, h) in labels::SUMMARY_HEADERS.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *h, &f.bold)?;
        }
        let mut r = 1;
        for (t, figures) in summary.rows_by_type() {
            ws.write_string(r, 0, t.label_nb())?;
            Self::write_figures(ws, r, figures, &f.int, &f.hours)?;
            r += 1;
        }
        ws.write_string_with_format(r, 0, labels::TOTAL, &f.bold)?;
        Self::write_figures(ws, r, &summary.total, &f.int_bold, &f.hours_bold)?;
        ws.set_column_width(0, 24)?;
        for c in 1..labels::SUMMARY_HEADERS.len() as u16 {
            ws.set_column_width(c, 14)?;
        }
        Ok(())
    }

    fn write_figures(ws: &mut Worksheet, r: u32, t: &TypeFigures, int: &Format, hours: &Format) -> Result<(), ReportError> {
        ws.write_number_with_format(r, 1, t.activities as f64, int)?;
        ws.write_number_with_format(r, 2, t.hours(), hours)?;
        ws.write_number_with_format(r, 3, t.participations as f64, int)?;
        ws.write_number_with_format(r, 4, t.new_participants as f64, int)?;
        ws.write_number_with_format(r, 5, t.volunteers as f64, int)?;
        ws.write_number_with_format(r, 6, t.volunteer_hours, hours)?;
        Ok(())
    }
}

impl Sink for XlsxSink<'_> {
    fn row(&mut self, a: &Activity) -> Result<(), ReportError> {
        if self.row > self.rows_per_sheet {
            self.close_activity_sheet()?;
            self.add_activity_sheet()?;
        }
        let f = &self.f;
        let r = self.row;
        let ws = self.wb.worksheet_from_index(self.sheet)?;
        ws.write_string(r, col::ID, a.activity_id.as_str())?;
        ws.write_datetime_with_format(r, col::DATE, excel_date(a.date)?, &f.date)?;
        ws.write_string(r, col::TYPE, a.activity_type.label_nb())?;
        ws.write_string(r, col::TITLE, cell_text(&a.title))?;
        ws.write_string(r, col::MODE, a.mode.label_nb())?;
        ws.write_number(r, col::MINUTES, a.duration_minutes)?;
        // Text, not numbers: "0301" is Oslo, 301 is nothing.
        ws.write_string(r, col::KOMMUNE, a.kommunenummer.as_str())?;
        ws.write_string(r, col::FYLKE, a.fylkesnummer())?;
        ws.write_number(r, col::PARTICIPANTS, a.participants.total)?;
        ws.write_number(r, col::NEW, a.participants.new)?;
        ws.write_number(r, col::VOLUNTEERS, a.volunteers.count)?;
        // General, not "0.0": a quarter hour must still show as 0,25, and an
        // unformatted cell skips the per-cell format lookup.
        ws.write_number(r, col::VOLUNTEER_HOURS, a.volunteers.hours)?;
        ws.write_string(r, col::LED_BY_PEER, labels::yes_no(a.led_by_peer))?;
        ws.write_string(r, col::IN_NORWAY, labels::yes_no(a.in_norway))?;
        self.row += 1;
        Ok(())
    }

    fn finish(mut self, summary: &Summary) -> Result<(), ReportError> {
        self.close_activity_sheet()?;
        Self::write_cover(self.wb.worksheet_from_index(COVER)?, &self.f, self.meta, summary.rows)?;
        Self::write_summary(self.wb.worksheet_from_index(SUMMARY)?, &self.f, summary)?;
        self.wb.save(&self.path)?;
        Ok(())
    }
}

fn excel_date(d: chrono::NaiveDate) -> Result<ExcelDateTime, ReportError> {
    use chrono::Datelike;
    let year = u16::try_from(d.year()).map_err(|_| ReportError::Write(format!("date {d} cannot be written to Excel")))?;
    Ok(ExcelDateTime::from_ymd(year, d.month() as u8, d.day() as u8)?)
}

fn cell_text(s: &str) -> &str {
    // Byte length bounds the UTF-16 length, so the common case is one compare.
    if s.len() <= MAX_CELL_CHARS {
        return s;
    }
    let mut units = 0;
    for (i, ch) in s.char_indices() {
        units += ch.len_utf16();
        if units > MAX_CELL_CHARS {
            return &s[..i];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::test_data::*;
    use super::super::{write_report, write_report_with};
    use crate::domain::ExportFormat;
    use calamine::{Data, Reader};

    fn serial(d: chrono::NaiveDate) -> f64 {
        (d - date(1899, 12, 30)).num_days() as f64
    }

    #[test]
    fn excel_has_the_sheets_headers_and_hand_counted_summary() {
        let dir = tempfile::tempdir().unwrap();
        let out = write_report(&meta(ExportFormat::Excel), dir.path(), ok_items(tiny()), |_| true).unwrap();
        assert_eq!(out.filename, "bufdir-org-demo-2025-01-01-2025-12-31.xlsx");
        assert_eq!(out.content_type, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
        assert_eq!(out.rows, 4);
        assert_eq!(super::super::test_data::files_in(dir.path()), vec![out.filename.clone()], "no scratch files left");

        assert_eq!(open_xlsx(&out.path).sheet_names(), ["Forside", "Sammendrag", "Aktiviteter"]);

        let summary = sheet(&out.path, "Sammendrag");
        let header: Vec<&str> = summary[0].iter().map(text).collect();
        assert_eq!(header, super::labels::SUMMARY_HEADERS);
        assert_eq!(xlsx_figures(&out.path), tiny_expected());

        let rows = sheet(&out.path, "Aktiviteter");
        let header: Vec<&str> = rows[0].iter().map(text).collect();
        assert_eq!(header, super::labels::ACTIVITY_HEADERS);
        assert_eq!(rows.len(), 1 + 4);
        let r1 = &rows[1];
        assert_eq!(text(&r1[0]), "act-1");
        assert!(matches!(r1[1], Data::DateTime(_)), "date is a real date: {:?}", r1[1]);
        assert_eq!(num(&r1[1]), serial(date(2025, 1, 15)));
        assert_eq!(text(&r1[2]), "Samtalegruppe");
        assert_eq!(text(&r1[3]), "Samtalegruppe; pårørende");
        assert_eq!(text(&r1[4]), "Fysisk");
        assert_eq!(r1[5], Data::Float(90.0));
        assert_eq!(text(&r1[6]), "0301", "leading zero kept");
        assert_eq!(text(&r1[7]), "03");
        assert_eq!([num(&r1[8]), num(&r1[9]), num(&r1[10]), num(&r1[11])], [8.0, 2.0, 2.0, 4.0]);
        assert_eq!([text(&r1[12]), text(&r1[13])], ["ja", "ja"]);
        let r3 = &rows[3];
        assert_eq!(text(&r3[3]), "Samtale \"A\"\nlinje 2");
        assert_eq!([text(&r3[4]), text(&r3[12]), text(&r3[13])], ["Telefon", "nei", "nei"]);

        let cover = sheet(&out.path, "Forside");
        assert_eq!(text(&cover[0][0]), "Rapport til Bufdir");
        let value = |label: &str| cover.iter().find(|r| r[0] == Data::String(label.into())).unwrap()[1].clone();
        assert_eq!(value("Organisasjon"), Data::String("org-demo".into()));
        assert_eq!(value("Rapportprofil"), Data::String("standard".into()));
        assert!(matches!(value("Periode fra"), Data::DateTime(_)));
        assert_eq!(num(&value("Periode fra")), serial(date(2025, 1, 1)));
        assert_eq!(num(&value("Periode til")), serial(date(2025, 12, 31)));
        assert_eq!(value("Aktivitetstyper"), Data::String("Alle".into()));
        let generated = value("Generert");
        assert!(matches!(generated, Data::DateTime(_)), "{generated:?}");
        assert!((num(&generated) - (serial(date(2025, 6, 1)) + 10.5 / 24.0)).abs() < 1e-6);
        assert_eq!(value("Eksport-ID"), Data::String("exp-test-0001".into()));
        assert_eq!(num(&value("Antall aktiviteter")), 4.0);
        assert_eq!(value("Kodeliste"), Data::String("SSB kommunenummer, som registrert".into()));
    }

    #[test]
    fn excel_cover_names_the_chosen_types() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = meta(ExportFormat::Excel);
        m.activity_types = vec![crate::domain::ActivityType::GroupSession, crate::domain::ActivityType::OpenMeeting];
        let out = write_report(&m, dir.path(), ok_items(vec![]), |_| true).unwrap();
        let cover = sheet(&out.path, "Forside");
        let row = cover.iter().find(|r| r[0] == Data::String("Aktivitetstyper".into())).unwrap();
        assert_eq!(text(&row[1]), "Samtalegruppe, Åpent møte");
        assert_eq!(sheet(&out.path, "Aktiviteter").len(), 1, "header only");
        assert_eq!(xlsx_figures(&out.path)[6], [0.0; 6]);
    }

    #[test]
    fn excel_fifty_rows_match_the_plain_sums() {
        let dir = tempfile::tempdir().unwrap();
        let acts = fifty();
        let out = write_report(&meta(ExportFormat::Excel), dir.path(), ok_items(acts.clone()), |_| true).unwrap();
        assert_eq!(out.rows, 50);
        assert_eq!(xlsx_figures(&out.path), expected_figures(&acts));
        let rows = sheet(&out.path, "Aktiviteter");
        assert_eq!(rows.len(), 51);
        for (r, a) in rows[1..].iter().zip(&acts) {
            assert_eq!(text(&r[0]), a.activity_id);
            assert_eq!(num(&r[1]), serial(a.date));
            assert_eq!(text(&r[6]), a.kommunenummer);
        }
    }

    #[test]
    fn excel_header_is_frozen_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let out = write_report(&meta(ExportFormat::Excel), dir.path(), ok_items(fifty()), |_| true).unwrap();
        let xml = String::from_utf8(zip_entry(&out.path, "xl/worksheets/sheet3.xml")).unwrap();
        assert!(xml.contains(r#"<autoFilter ref="A1:N51"/>"#), "{}", &xml[..600]);
        assert!(xml.contains(r#"ySplit="1""#) && xml.contains(r#"state="frozen""#));
        assert!(xml.contains("<cols>"), "column widths set");
    }

    #[test]
    fn excel_spills_onto_numbered_sheets_past_the_row_limit() {
        let dir = tempfile::tempdir().unwrap();
        let acts = fifty();
        let out = write_report_with(&meta(ExportFormat::Excel), dir.path(), ok_items(acts.clone()), |_| true, 20).unwrap();
        assert_eq!(out.rows, 50);
        assert_eq!(
            open_xlsx(&out.path).sheet_names(),
            ["Forside", "Sammendrag", "Aktiviteter", "Aktiviteter (2)", "Aktiviteter (3)"]
        );
        let mut ids = Vec::new();
        for (name, n) in [("Aktiviteter", 20), ("Aktiviteter (2)", 20), ("Aktiviteter (3)", 10)] {
            let rows = sheet(&out.path, name);
            assert_eq!(text(&rows[0][0]), "Aktivitets-ID", "{name} has its header");
            assert_eq!(rows.len(), 1 + n, "{name}");
            ids.extend(rows[1..].iter().map(|r| text(&r[0]).to_string()));
        }
        let want: Vec<String> = acts.iter().map(|a| a.activity_id.clone()).collect();
        assert_eq!(ids, want, "every row once, in order");
        let xml = String::from_utf8(zip_entry(&out.path, "xl/worksheets/sheet5.xml")).unwrap();
        assert!(xml.contains(r#"<autoFilter ref="A1:N11"/>"#));
        assert_eq!(xlsx_figures(&out.path), expected_figures(&acts), "summary covers every sheet");
    }
}
