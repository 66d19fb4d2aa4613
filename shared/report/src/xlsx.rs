//! The Excel report. Forside and Sammendrag are ordinary sheets added first
//! (so they come first in the tab order) and filled at the end, when the
//! figures are known; Aktiviteter is a constant-memory sheet whose rows go
//! straight to a temp file in the working directory as they arrive, and
//! spills onto "Aktiviteter (2)"... The sheets after it are added once the
//! last row is in, so the spill sheets stay next to the first.

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{
    Chart, ChartType, DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet,
};

use super::labels::{self, col};
use super::sheets::{self, Cell, HIDDEN, SheetModel, Style};
use super::{Activity, Finished, NotCountedReason, ReportError, ReportMeta, Sink};

/// Excel's 1,048,576 rows per sheet, less the header row.
pub(super) const MAX_DATA_ROWS: u32 = 1_048_575;

const COVER: usize = 0;
const SUMMARY: usize = 1;
const FIRST_ACTIVITY_SHEET: usize = 2;
const LAST_COL: u16 = labels::ACTIVITY_HEADERS.len() as u16 - 1;
/// Excel refuses longer cell text; a title that long is cut, not fatal.
const MAX_CELL_CHARS: usize = 32_767;

const ACTIVITY_WIDTHS: [f64; 16] =
    [16.0, 11.0, 22.0, 40.0, 10.0, 9.0, 11.0, 9.0, 10.0, 13.0, 10.0, 13.0, 18.0, 8.0, 9.0, 20.0];
const ATTACHMENT_WIDTHS: [f64; 6] = [16.0, 40.0, 24.0, 14.0, 66.0, 10.0];

/// Made once: `rust_xlsxwriter` hashes the format on every write, and a
/// fresh one per row would also allocate.
struct Formats {
    header: Format,
    title: Format,
    note: Format,
    date: Format,
    /// Indexed by bold (total rows) or not.
    text: [Format; 2],
    int: [Format; 2],
    dec: [Format; 2],
    day: [Format; 2],
    month: [Format; 2],
    datetime: [Format; 2],
    hidden: [Format; 2],
}

/// Months as a Norwegian reader says them ("jan. 2025"), whatever the
/// language of the spreadsheet program (`[$-414]` is nb-NO).
const MONTH_FORMAT: &str = "[$-414]mmm yyyy";

impl Formats {
    fn new() -> Self {
        let pair = |f: Format| [f.clone(), f.set_bold()];
        let left = |f: Format| f.set_align(FormatAlign::Left);
        Formats {
            header: Format::new().set_bold().set_text_wrap().set_border_bottom(FormatBorder::Thin),
            title: Format::new().set_bold().set_font_size(14),
            note: Format::new().set_italic(),
            date: Format::new().set_num_format("dd.mm.yyyy"),
            text: pair(Format::new()),
            int: pair(Format::new().set_num_format("#,##0")),
            dec: pair(Format::new().set_num_format("#,##0.00")),
            day: pair(left(Format::new().set_num_format("dd.mm.yyyy"))),
            month: pair(left(Format::new().set_num_format(MONTH_FORMAT))),
            datetime: pair(left(Format::new().set_num_format("dd.mm.yyyy hh:mm \"UTC\""))),
            hidden: pair(Format::new().set_align(FormatAlign::Right)),
        }
    }
}

/// Landscape, one page wide, the header row on every printed page.
fn print_setup(ws: &mut Worksheet, header_row: Option<u32>) -> Result<(), ReportError> {
    ws.set_landscape();
    ws.set_paper_size(9); // A4
    ws.set_print_fit_to_pages(1, 0);
    if let Some(r) = header_row {
        ws.set_repeat_rows(r, r)?;
    }
    Ok(())
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
    pub(super) fn create(
        meta: &'a ReportMeta,
        dir: &Path,
        path: &Path,
        rows_per_sheet: u32,
    ) -> Result<Self, ReportError> {
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
        header_row(ws, &self.f.header, &labels::ACTIVITY_HEADERS)?;
        ws.set_freeze_panes(1, 0)?;
        print_setup(ws, Some(0))?;
        self.sheet = FIRST_ACTIVITY_SHEET + n;
        self.row = 1;
        Ok(())
    }

    /// The filter range is only known once the sheet is full or the data ends.
    /// The widths are set here too, not before the rows: a sheet with column
    /// settings looks each unformatted cell's column up as it is written,
    /// a million rows times sixteen hash lookups. A constant-memory sheet
    /// writes its column settings when the workbook is saved, so they still
    /// reach the file.
    fn close_activity_sheet(&mut self) -> Result<(), ReportError> {
        let last = self.row - 1;
        let ws = self.wb.worksheet_from_index(self.sheet)?;
        ws.autofilter(0, 0, last, LAST_COL)?;
        column_widths(ws, &ACTIVITY_WIDTHS)
    }

    fn attachments(&mut self, done: Finished) -> Result<(), ReportError> {
        let ws = self.wb.add_worksheet_with_constant_memory()?;
        ws.set_name(labels::SHEET_ATTACHMENTS)?;
        header_row(ws, &self.f.header, &labels::ATTACHMENT_HEADERS)?;
        column_widths(ws, &ATTACHMENT_WIDTHS)?;
        print_setup(ws, Some(0))?;
        // Past Excel's limit the rest are counted on Kontroll, not listed.
        for (r, row) in (1..=MAX_DATA_ROWS).zip(done.attachments.rows()?) {
            let row = row?;
            ws.write_string(r, 0, cell_text(&row.activity_id))?;
            ws.write_string(r, 1, cell_text(&row.name))?;
            ws.write_string(r, 2, cell_text(&row.content_type))?;
            if let Some(size) = row.size_bytes {
                ws.write_number(r, 3, size as f64)?;
            }
            if let Some(sum) = &row.sha256 {
                ws.write_string(r, 4, sum)?;
            }
            if row.in_bundle.is_some() {
                ws.write_string(r, 5, labels::in_bundle_nb(row.in_bundle))?;
            }
        }
        Ok(())
    }
}

fn header_row(ws: &mut Worksheet, f: &Format, headers: &[&str]) -> Result<(), ReportError> {
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, f)?;
    }
    Ok(())
}

fn column_widths(ws: &mut Worksheet, widths: &[f64]) -> Result<(), ReportError> {
    for (c, w) in widths.iter().enumerate() {
        ws.set_column_width(c as u16, *w)?;
    }
    Ok(())
}

/// Writes a figure sheet; numbers stay numbers and dates dates.
fn render(ws: &mut Worksheet, f: &Formats, m: &SheetModel) -> Result<(), ReportError> {
    for (c, w) in m.widths.iter().enumerate() {
        ws.set_column_width(c as u16, *w)?;
    }
    for (r, row) in m.rows.iter().enumerate() {
        let r = r as u32;
        let b = usize::from(row.style == Style::Total);
        for (c, cell) in row.cells.iter().enumerate() {
            let c = c as u16;
            let text_format = match row.style {
                Style::Title => &f.title,
                Style::Header => &f.header,
                Style::Note => &f.note,
                Style::Body | Style::Total => &f.text[b],
            };
            match cell {
                Cell::Empty => {}
                Cell::Text(s) => {
                    ws.write_string_with_format(r, c, cell_text(s), text_format)?;
                }
                Cell::Int(n) => {
                    ws.write_number_with_format(r, c, *n as f64, &f.int[b])?;
                }
                Cell::Dec(x) => {
                    ws.write_number_with_format(r, c, *x, &f.dec[b])?;
                }
                Cell::Date(d) => {
                    ws.write_datetime_with_format(r, c, excel_date(*d)?, &f.day[b])?;
                }
                Cell::Month(d) => {
                    ws.write_datetime_with_format(r, c, excel_date(*d)?, &f.month[b])?;
                }
                Cell::DateTime(t) => {
                    ws.write_datetime_with_format(r, c, ExcelDateTime::from_timestamp(t.timestamp())?, &f.datetime[b])?;
                }
                Cell::Hidden => {
                    ws.write_string_with_format(r, c, HIDDEN, &f.hidden[b])?;
                }
            }
        }
    }
    print_setup(ws, m.header_row)?;
    if let Some(spec) = m.chart {
        let mut chart = Chart::new(ChartType::ColumnStacked);
        chart.title().set_name("Tellende aktiviteter per måned");
        for c in 1..=crate::domain::ActivityType::ALL.len() as u16 {
            chart
                .add_series()
                .set_name((m.name, spec.header_row, c))
                .set_categories((m.name, spec.first_row, 0, spec.last_row, 0))
                .set_values((m.name, spec.first_row, c, spec.last_row, c));
        }
        // The categories are dates: without a format on the axis LibreOffice
        // labels it with their serial numbers (45658, ...) rather than months.
        chart.x_axis().set_num_format(MONTH_FORMAT);
        chart.set_width(760).set_height(380);
        ws.insert_chart(spec.header_row, 9, &chart)?;
    }
    Ok(())
}

impl Sink for XlsxSink<'_> {
    fn row(&mut self, a: &Activity, outcome: Result<(), NotCountedReason>) -> Result<(), ReportError> {
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
        ws.write_string(r, col::COUNTED, labels::yes_no(outcome.is_ok()))?;
        if let Err(reason) = outcome {
            ws.write_string(r, col::REASON, reason.code())?;
        }
        self.row += 1;
        Ok(())
    }

    fn finish(mut self, done: Finished) -> Result<(), ReportError> {
        self.close_activity_sheet()?;
        let s = &done.summary;
        let leading = sheets::leading(self.meta, done.profile, s, &done.data_sha256);
        for (i, m) in [COVER, SUMMARY].into_iter().zip(&leading) {
            render(self.wb.worksheet_from_index(i)?, &self.f, m)?;
        }
        for m in sheets::trailing(s) {
            let ws = self.wb.add_worksheet();
            ws.set_name(m.name)?;
            render(ws, &self.f, &m)?;
        }
        let control = sheets::control(self.meta, done.profile, s, done.bundle);
        self.attachments(done)?;
        let ws = self.wb.add_worksheet();
        ws.set_name(control.name)?;
        render(ws, &self.f, &control)?;
        self.wb.save(&self.path)?;
        Ok(())
    }
}

fn excel_date(d: chrono::NaiveDate) -> Result<ExcelDateTime, ReportError> {
    use chrono::Datelike;
    let year =
        u16::try_from(d.year()).map_err(|_| ReportError::Write(format!("date {d} cannot be written to Excel")))?;
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
    use super::super::labels;
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

        assert_eq!(
            open_xlsx(&out.path).sheet_names(),
            ["Forside", "Sammendrag", "Aktiviteter", "Deltakere", "Geografi", "Frivillige", "Vedlegg", "Kontroll"]
        );

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
        assert_eq!([text(&r1[12]), text(&r1[13]), text(&r1[14])], ["ja", "ja", "ja"]);
        assert_eq!(r1[15], Data::Empty, "no reason when it counted");
        let r3 = &rows[3];
        assert_eq!(text(&r3[3]), "Samtale \"A\"\nlinje 2");
        assert_eq!([text(&r3[4]), text(&r3[12]), text(&r3[13])], ["Telefon", "nei", "nei"]);
        assert_eq!([text(&r3[14]), text(&r3[15])], ["nei", "utlandet"]);

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
        assert_eq!(xlsx_figures(&out.path)[6], [0.0; 8]);
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
        assert!(xml.contains(r#"<autoFilter ref="A1:P51"/>"#), "{}", &xml[..600]);
        assert!(xml.contains(r#"ySplit="1""#) && xml.contains(r#"state="frozen""#));
        assert_eq!(xml.matches("<col ").count(), labels::ACTIVITY_HEADERS.len(), "every column has its width");
    }

    #[test]
    fn excel_spills_onto_numbered_sheets_past_the_row_limit() {
        let dir = tempfile::tempdir().unwrap();
        let acts = fifty();
        let out = write_report_with(&meta(ExportFormat::Excel), dir.path(), ok_items(acts.clone()), |_| true, None, 20)
            .unwrap();
        assert_eq!(out.rows, 50);
        assert_eq!(
            open_xlsx(&out.path).sheet_names(),
            [
                "Forside",
                "Sammendrag",
                "Aktiviteter",
                "Aktiviteter (2)",
                "Aktiviteter (3)",
                "Deltakere",
                "Geografi",
                "Frivillige",
                "Vedlegg",
                "Kontroll"
            ]
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
        assert!(xml.contains(r#"<autoFilter ref="A1:P11"/>"#));
        assert_eq!(xlsx_figures(&out.path), expected_figures(&acts), "summary covers every sheet");
    }
}
