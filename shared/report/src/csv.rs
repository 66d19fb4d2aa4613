//! The CSV report: a ZIP holding one CSV per Excel sheet (`Forside.csv`,
//! `Sammendrag.csv`, `Aktiviteter.csv`, `Deltakere.csv`, `Geografi.csv`,
//! `Frivillige.csv`, `Vedlegg.csv`, `Kontroll.csv`), the same rows, labels
//! and hidden cells (`:`) as the workbook. Written
//! for Norwegian Excel: UTF-8 with BOM (else it guesses Windows-1252), `;`
//! between fields and a decimal comma (`,` is the decimal mark there),
//! CRLF line ends, ISO dates (YYYY-MM-DD, unambiguous in every locale).
//!
//! Aktiviteter.csv is streamed into its ZIP entry as rows arrive, all of
//! it in one file (CSV has no row limit); the rest follow once the figures
//! are known. A month is written YYYY-MM.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::labels;
use super::sheets::{self, Cell, HIDDEN, SheetModel};
use super::{Activity, Finished, NotCountedReason, ReportError, ReportMeta, Sink};

const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Rows are gathered here and handed to the compressor in large pieces:
/// per-field writes into the deflater cost far more than the copying.
const FLUSH_AT: usize = 64 * 1024;

pub(super) struct CsvSink<'a> {
    meta: &'a ReportMeta,
    zip: ZipWriter<BufWriter<File>>,
    options: SimpleFileOptions,
    buf: Vec<u8>,
}

impl<'a> CsvSink<'a> {
    pub(super) fn create(meta: &'a ReportMeta, path: &Path) -> Result<Self, ReportError> {
        let file = File::create(path)?;
        let options = zip_options(meta);
        // Without the large-file flag an entry over 4 GiB fails with an error
        // instead of writing a broken archive; that is ~25 million rows,
        // far past any real period, so the zip64 headers are not worth it.
        let mut zip = ZipWriter::new(BufWriter::new(file));
        zip.start_file("Aktiviteter.csv", options)?;
        let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
        buf.extend_from_slice(BOM);
        Line::new(&mut buf).all(&labels::ACTIVITY_HEADERS);
        Ok(CsvSink { meta, zip, options, buf })
    }

    fn flush_buf(&mut self) -> Result<(), ReportError> {
        self.zip.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    fn entry(&mut self, name: &str, bytes: &[u8]) -> Result<(), ReportError> {
        self.zip.start_file(format!("{name}.csv"), self.options)?;
        self.zip.write_all(bytes)?;
        Ok(())
    }
}

fn sheet_csv(m: &SheetModel) -> Vec<u8> {
    let mut buf = BOM.to_vec();
    for row in &m.rows {
        let mut line = Line::new(&mut buf);
        for cell in &row.cells {
            match cell {
                Cell::Empty => line.text(""),
                Cell::Text(s) => line.text(s),
                Cell::Int(n) => line.int(*n),
                Cell::Dec(x) => line.dec(*x),
                Cell::Date(d) => line.date(*d),
                Cell::Month(d) => line.text(&d.format("%Y-%m").to_string()),
                Cell::DateTime(t) => line.text(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                Cell::Hidden => line.text(HIDDEN),
            }
        }
        line.end();
    }
    buf
}

impl Sink for CsvSink<'_> {
    fn row(&mut self, a: &Activity, outcome: Result<(), NotCountedReason>) -> Result<(), ReportError> {
        let mut line = Line::new(&mut self.buf);
        line.text(&a.activity_id);
        line.date(a.date);
        line.text(a.activity_type.label_nb());
        line.text(&a.title);
        line.text(a.mode.label_nb());
        line.int(a.duration_minutes.into());
        line.text(&a.kommunenummer);
        line.text(a.fylkesnummer());
        line.int(a.participants.total.into());
        line.int(a.participants.new.into());
        line.int(a.volunteers.count.into());
        line.dec(a.volunteers.hours);
        line.text(labels::yes_no(a.led_by_peer));
        line.text(labels::yes_no(a.in_norway));
        line.text(labels::yes_no(outcome.is_ok()));
        line.text(outcome.err().map_or("", NotCountedReason::code));
        line.end();
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn finish(mut self, done: Finished) -> Result<(), ReportError> {
        self.flush_buf()?;
        let s = &done.summary;
        for m in sheets::leading(self.meta, done.profile, s, &done.data_sha256) {
            self.entry(m.name, &sheet_csv(&m))?;
        }
        for m in sheets::trailing(s) {
            self.entry(m.name, &sheet_csv(&m))?;
        }
        let control = sheet_csv(&sheets::control(self.meta, done.profile, s, done.bundle));
        self.zip.start_file(format!("{}.csv", labels::SHEET_ATTACHMENTS), self.options)?;
        self.buf.extend_from_slice(BOM);
        Line::new(&mut self.buf).all(&labels::ATTACHMENT_HEADERS);
        for row in done.attachments.rows()? {
            let row = row?;
            let mut line = Line::new(&mut self.buf);
            line.text(&row.activity_id);
            line.text(&row.name);
            line.text(&row.content_type);
            line.text(&row.size_bytes.map(|n| n.to_string()).unwrap_or_default());
            line.text(row.sha256.as_deref().unwrap_or(""));
            line.text(labels::in_bundle_nb(row.in_bundle));
            line.end();
            if self.buf.len() >= FLUSH_AT {
                self.flush_buf()?;
            }
        }
        self.flush_buf()?;
        self.entry(labels::SHEET_CONTROL, &control)?;
        // into_inner surfaces the last flush's error instead of losing it in drop.
        self.zip.finish()?.into_inner().map_err(|e| e.into_error())?;
        Ok(())
    }
}

/// Deflated entries that carry the report's own timestamp rather than
/// 1980-01-01 (the CSV ZIP and the attachments bundle alike).
pub(super) fn zip_options(meta: &ReportMeta) -> SimpleFileOptions {
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    match zip_time(meta.generated_at) {
        Some(dt) => options.last_modified_time(dt),
        None => options,
    }
}

fn zip_time(t: chrono::DateTime<chrono::Utc>) -> Option<zip::DateTime> {
    use chrono::{Datelike, Timelike};
    let year = u16::try_from(t.year()).ok()?;
    zip::DateTime::from_date_and_time(
        year,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
    )
    .ok()
}

/// One CSV record being appended to a buffer.
struct Line<'b> {
    buf: &'b mut Vec<u8>,
    first: bool,
}

impl<'b> Line<'b> {
    fn new(buf: &'b mut Vec<u8>) -> Self {
        Line { buf, first: true }
    }

    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b';');
        }
        self.first = false;
    }

    fn text(&mut self, s: &str) {
        self.sep();
        // A cell starting like a formula would be run by Excel on open;
        // the apostrophe makes it plain text (OWASP "CSV injection").
        let formula = matches!(s.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'));
        let quote = formula || s.bytes().any(|b| matches!(b, b';' | b'"' | b'\n' | b'\r'));
        if !quote {
            self.buf.extend_from_slice(s.as_bytes());
            return;
        }
        self.buf.push(b'"');
        if formula {
            self.buf.push(b'\'');
        }
        for part in s.split_inclusive('"') {
            self.buf.extend_from_slice(part.as_bytes());
            if part.ends_with('"') {
                self.buf.push(b'"');
            }
        }
        self.buf.push(b'"');
    }

    fn int(&mut self, n: u64) {
        self.sep();
        // Writing into a Vec cannot fail.
        let _ = write!(self.buf, "{n}");
    }

    /// Shortest exact form, with a decimal comma: 4.5 -> "4,5", 3.0 -> "3".
    fn dec(&mut self, x: f64) {
        self.sep();
        let start = self.buf.len();
        let _ = write!(self.buf, "{x}");
        if let Some(dot) = self.buf[start..].iter().position(|&b| b == b'.') {
            self.buf[start + dot] = b',';
        }
    }

    fn date(&mut self, d: chrono::NaiveDate) {
        self.sep();
        // NaiveDate's Display is ISO 8601, without parsing a format string per row.
        let _ = write!(self.buf, "{d}");
    }

    fn end(self) {
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A whole record of text fields.
    fn all(mut self, fields: &[&str]) {
        for f in fields {
            self.text(f);
        }
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(f: impl FnOnce(&mut Line)) -> String {
        let mut buf = Vec::new();
        let mut l = Line::new(&mut buf);
        f(&mut l);
        l.end();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn fields_are_quoted_only_when_needed() {
        let s = line(|l| {
            l.text("plain");
            l.text("a;b");
            l.text("say \"hi\"");
            l.text("two\nlines");
            l.text("=1+1");
            l.text("");
        });
        assert_eq!(s, "plain;\"a;b\";\"say \"\"hi\"\"\";\"two\nlines\";\"'=1+1\";\r\n");
    }

    #[test]
    fn numbers_use_a_decimal_comma_and_dates_are_iso() {
        let s = line(|l| {
            l.int(1_000_000);
            l.dec(4.5);
            l.dec(3.0);
            l.dec(0.25);
            l.date(chrono::NaiveDate::from_ymd_opt(2025, 3, 4).unwrap());
        });
        assert_eq!(s, "1000000;4,5;3;0,25;2025-03-04\r\n");
    }
}

#[cfg(test)]
mod zip_tests {
    use super::super::test_data::*;
    use super::super::write_report;
    use super::labels;
    use crate::domain::ExportFormat;

    #[test]
    fn csv_zip_holds_one_bom_semicolon_file_per_sheet_with_hand_counted_summary() {
        let dir = tempfile::tempdir().unwrap();
        let out = write_report(&meta(ExportFormat::Csv), dir.path(), ok_items(tiny()), |_| true).unwrap();
        assert_eq!(out.filename, "bufdir-org-demo-2025-01-01-2025-12-31.zip");
        assert_eq!(out.content_type, "application/zip");
        assert_eq!(out.rows, 4);

        let archive = zip::ZipArchive::new(std::fs::File::open(&out.path).unwrap()).unwrap();
        let names: Vec<&str> = archive.file_names().collect();
        assert_eq!(names.len(), 8);
        for n in [
            "Forside.csv",
            "Sammendrag.csv",
            "Aktiviteter.csv",
            "Deltakere.csv",
            "Geografi.csv",
            "Frivillige.csv",
            "Vedlegg.csv",
            "Kontroll.csv",
        ] {
            assert!(names.contains(&n), "{n} in {names:?}");
            assert!(zip_entry(&out.path, n).starts_with(b"\xEF\xBB\xBF"), "{n} starts with a BOM");
        }

        let raw = String::from_utf8(zip_entry(&out.path, "Aktiviteter.csv")).unwrap();
        assert!(raw.contains("\r\nact-1;2025-01-15;Samtalegruppe;\"Samtalegruppe; pårørende\";Fysisk;90;0301;03;8;2;2;4;ja;ja;ja;\r\n"), "{raw}");
        assert!(raw.contains(";1103;11;12;3;3;4,5;nei;ja;ja;\r\n"), "decimal comma: {raw}");
        let rows = parse_csv(raw.as_bytes());
        assert_eq!(rows[0], labels::ACTIVITY_HEADERS);
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[3][3], "Samtale \"A\"\nlinje 2");
        assert_eq!(rows[3][6], "0301");

        let summary = String::from_utf8(zip_entry(&out.path, "Sammendrag.csv")).unwrap();
        assert!(summary.contains("\r\nTotalt;4;3;3;5,25;26;6;6;10\r\n"), "{summary}");
        let rows = parse_csv(summary.as_bytes());
        assert_eq!(rows[0], labels::SUMMARY_HEADERS);
        assert_eq!(rows[1][0], "Samtalegruppe");
        assert_eq!(csv_figures(&out.path), tiny_expected());

        let cover = parse_csv(&zip_entry(&out.path, "Forside.csv"));
        let value = |label: &str| cover.iter().find(|r| r[0] == label).unwrap()[1].clone();
        assert_eq!(value("Organisasjon"), "org-demo");
        assert_eq!(value("Periode fra"), "2025-01-01");
        assert_eq!(value("Periode til"), "2025-12-31");
        assert_eq!(value("Generert"), "2025-06-01T10:30:00Z");
        assert_eq!(value("Antall aktiviteter"), "4");
        assert_eq!(value("Aktivitetstyper"), "Alle");
        assert_eq!(value("Kodeliste"), "SSB kommunenummer, som registrert");
    }
}
