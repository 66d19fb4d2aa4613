//! Workbooks (`.xlsx`), read with calamine cell by cell: the sheet named
//! `Aktiviteter` (the template's), or else the first. Before calamine sees
//! it, the archive is measured: a few kilobytes that unpack to gigabytes
//! (a zip bomb) are refused unread. A formula is taken at the value Excel
//! saved with it; one saved without a value is named as such.

use std::collections::HashSet;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender};

use calamine::{DataRef, Reader, Xlsx, XlsxError};

use crate::cells::{self, CellValue};
use crate::columns::Column;
use crate::domain::RowError;
use crate::read::{FileError, Row, Rows, map_header, record_of};

/// The template's sheet of activities.
pub const SHEET: &str = "Aktiviteter";
/// Unpacked, the whole workbook may not exceed this.
const MAX_UNPACKED: u64 = 2 * 1024 * 1024 * 1024;
/// Nor may one part unpack to more than this many times its packed size
/// (spreadsheet XML packs about 10:1; bombs, thousands to one).
const MAX_RATIO: u64 = 200;
const MAX_ENTRIES: usize = 10_000;

/// Measures the archive without unpacking it.
fn check_archive(path: &Path) -> Result<(), FileError> {
    let not_a_workbook = || FileError::new("unreadable_file", "the upload is not an .xlsx workbook");
    let mut zip =
        zip::ZipArchive::new(File::open(path).map_err(|_| not_a_workbook())?).map_err(|_| not_a_workbook())?;
    if zip.len() > MAX_ENTRIES {
        return Err(FileError::new("workbook_too_large", format!("the workbook has more than {MAX_ENTRIES} parts")));
    }
    let mut unpacked = 0u64;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|_| not_a_workbook())?;
        unpacked = unpacked.saturating_add(entry.size());
        let ratio_ok = entry.size() < 1024 * 1024 || entry.size() / entry.compressed_size().max(1) <= MAX_RATIO;
        if !ratio_ok || unpacked > MAX_UNPACKED {
            return Err(FileError::new(
                "workbook_too_large",
                "the workbook unpacks to far more than its size (a zip bomb?); it was not opened",
            ));
        }
    }
    Ok(())
}

fn cell_value(data: &DataRef<'_>) -> CellValue {
    match data {
        DataRef::Empty => CellValue::Empty,
        DataRef::Int(i) => CellValue::Number(*i as f64),
        DataRef::Float(f) => CellValue::Number(*f),
        DataRef::String(s) => CellValue::Text(s.clone()),
        DataRef::SharedString(s) => CellValue::Text((*s).to_string()),
        DataRef::Bool(b) => CellValue::Bool(*b),
        DataRef::DateTime(d) if d.is_datetime() => {
            d.as_datetime().map_or(CellValue::Number(d.as_f64()), |t| CellValue::Date(t.date()))
        }
        DataRef::DateTime(d) => CellValue::Number(d.as_f64()),
        DataRef::DateTimeIso(s) => CellValue::Text(s.get(..10).unwrap_or(s).to_string()),
        DataRef::DurationIso(s) => CellValue::Text(s.clone()),
        DataRef::Error(e) => CellValue::Text(format!("#{e:?}")),
    }
}

fn xlsx_err(e: XlsxError) -> FileError {
    FileError::new("unreadable_file", format!("the workbook cannot be read: {e}"))
}

/// What the reading thread hands over.
enum Sent {
    /// The header row, mapped to columns: always first.
    Columns(Vec<Option<&'static Column>>),
    /// Rows as cells, by the batch: a hand-over per row woke the other
    /// thread for every row, and took a tenth of the reading thread's time.
    Cells(Vec<(u64, Vec<CellValue>)>),
    Row(Row),
    Failed(FileError),
    /// The whole sheet was read. Without it, a closed channel means the
    /// thread died part way (calamine panics on some broken files), and
    /// the rows so far must not pass for the whole file.
    End,
}

/// Rows handed over at a time.
const BATCH: usize = 256;

/// The rows of the activities sheet. calamine's cell reader borrows the
/// workbook, so the sheet is read on a thread of its own and its cells
/// handed over in order through a small channel: memory stays flat however
/// long the sheet is. The cells become records on the receiving side,
/// where they are checked: records made on one thread and dropped on
/// another took glibc's slow path for most of their allocations.
pub fn rows(path: &Path) -> Result<Rows, FileError> {
    check_archive(path)?;
    let mut workbook: Xlsx<BufReader<File>> = calamine::open_workbook(path).map_err(xlsx_err)?;
    let names = workbook.sheet_names();
    let sheet = names
        .iter()
        .find(|n| n.as_str() == SHEET)
        .or_else(|| names.first())
        .cloned()
        .ok_or_else(|| FileError::new("empty_file", "the workbook has no sheets"))?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Sent>(4);
    std::thread::Builder::new()
        .name("xlsx-import".into())
        .spawn(move || {
            let read =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_sheet(&mut workbook, &sheet, &tx)));
            let _ = tx.send(match read {
                Ok(Ok(())) => Sent::End,
                Ok(Err(e)) => Sent::Failed(e),
                Err(_) => Sent::Failed(broken()),
            });
        })
        .map_err(|e| FileError::new("unreadable_file", format!("reading thread: {e}")))?;
    Ok(Box::new(SheetRows { rx, columns: Vec::new(), pending: Vec::new().into_iter(), over: false }))
}

fn broken() -> FileError {
    FileError::new("unreadable_file", "the workbook is damaged and cannot be read to the end")
}

/// The receiving side: each row's cells made into its record.
struct SheetRows {
    rx: Receiver<Sent>,
    columns: Vec<Option<&'static Column>>,
    pending: std::vec::IntoIter<(u64, Vec<CellValue>)>,
    /// The end, or the failure, has been told.
    over: bool,
}

impl Iterator for SheetRows {
    type Item = Result<Row, FileError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((line, cells)) = self.pending.next() {
                return Some(Ok(record_of(line, &self.columns, cells)));
            }
            if self.over {
                return None;
            }
            match self.rx.recv() {
                Ok(Sent::Columns(columns)) => self.columns = columns,
                Ok(Sent::Cells(batch)) => self.pending = batch.into_iter(),
                Ok(Sent::Row(row)) => return Some(Ok(row)),
                Ok(Sent::End) => self.over = true,
                Ok(Sent::Failed(e)) => {
                    self.over = true;
                    return Some(Err(e));
                }
                Err(_) => {
                    self.over = true;
                    return Some(Err(broken()));
                }
            }
        }
    }
}

fn read_sheet(workbook: &mut Xlsx<BufReader<File>>, sheet: &str, tx: &SyncSender<Sent>) -> Result<(), FileError> {
    let mut cells = workbook.worksheet_cells_reader(sheet).map_err(xlsx_err)?;
    let mut columns: Option<Vec<Option<&'static Column>>> = None;
    let mut current: Option<(u32, Vec<CellValue>)> = None;
    let mut width = 0;
    let mut batch = Vec::with_capacity(BATCH);
    let mut empty_required = false;
    // false once the receiving side is gone: nothing more is read.
    let mut flush =
        |row: u32, values: Vec<CellValue>, batch: &mut Vec<(u64, Vec<CellValue>)>| -> Result<bool, FileError> {
            if values.iter().all(CellValue::is_empty) {
                return Ok(true);
            }
            let Some(cols) = &columns else {
                let headers: Vec<String> =
                    values.iter().map(|v| if let CellValue::Text(t) = v { t.clone() } else { String::new() }).collect();
                let mapped = map_header(headers.iter().map(String::as_str))?;
                columns = Some(mapped.clone());
                return Ok(tx.send(Sent::Columns(mapped)).is_ok());
            };
            // A row shorter than the header leaves its last columns empty.
            let padded = values.iter().chain(std::iter::repeat(&CellValue::Empty));
            empty_required |= cols.iter().zip(padded).any(|(c, cell)| c.is_some_and(|c| cells::missing(c, cell)));
            batch.push((u64::from(row) + 1, values));
            if batch.len() < BATCH {
                return Ok(true);
            }
            Ok(tx.send(Sent::Cells(std::mem::replace(batch, Vec::with_capacity(BATCH)))).is_ok())
        };
    while let Some(cell) = cells.next_cell().map_err(xlsx_err)? {
        let (row, col) = cell.get_position();
        if current.as_ref().is_none_or(|(r, _)| *r != row) {
            if let Some((r, values)) = current.take() {
                width = width.max(values.len());
                if !flush(r, values, &mut batch)? {
                    return Ok(());
                }
            }
            // As wide as the widest row so far: grown cell by cell, a row
            // of 27 cells was reallocated six times.
            current = Some((row, Vec::with_capacity(width)));
        }
        let values = &mut current.as_mut().expect("set above").1;
        let col = col as usize;
        if col >= 16_384 {
            continue;
        }
        if values.len() <= col {
            values.resize(col + 1, CellValue::Empty);
        }
        values[col] = cell_value(cell.get_value());
    }
    if let Some((r, values)) = current.take()
        && !flush(r, values, &mut batch)?
    {
        return Ok(());
    }
    if columns.is_none() {
        return Err(FileError::new("empty_file", format!("the sheet {sheet} has no header row")));
    }
    if !batch.is_empty() && tx.send(Sent::Cells(batch)).is_err() {
        return Ok(());
    }
    drop(cells);
    if empty_required {
        report_formulas(workbook, sheet, tx);
    }
    Ok(())
}

/// Cells that held a formula but no value read as empty; when a row had
/// an empty required cell, the formulas are looked up so the person is
/// told to save the values rather than that the cell is empty.
fn report_formulas(workbook: &mut Xlsx<BufReader<File>>, sheet: &str, tx: &SyncSender<Sent>) {
    let Ok(mut cells) = workbook.worksheet_cells_reader(sheet) else { return };
    let mut rows = HashSet::new();
    while let Ok(Some(f)) = cells.next_formula() {
        if !f.get_value().is_empty() {
            rows.insert(f.get_position().0);
        }
    }
    for row in rows {
        let line = u64::from(row) + 1;
        let e = RowError::new(
            line,
            None,
            "formula_without_value",
            "the row has a formula with no saved value: open the workbook in Excel and save it, or paste the values",
        );
        let _ = tx.send(Sent::Row(Row { line, record: Err(vec![e]) }));
    }
}

#[cfg(test)]
mod tests {
    //! Workbooks made here with rust_xlsxwriter and, where a real file
    //! would come from elsewhere (a formula Excel never calculated, a
    //! bomb), taken apart and put together again with the zip crate.
    use std::io::{Read, Write};

    use rust_xlsxwriter::{Formula, Workbook};

    use super::*;
    use crate::columns::COLUMNS;
    use crate::domain::ImportFormat;

    fn header_and(rows: impl Fn(&mut rust_xlsxwriter::Worksheet, u32) -> bool) -> Vec<u8> {
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet().set_name(SHEET).unwrap();
        for (c, column) in COLUMNS.iter().enumerate() {
            ws.write_string(0, c as u16, column.header).unwrap();
        }
        let mut row = 1;
        while rows(ws, row) {
            row += 1;
        }
        wb.save_to_buffer().unwrap()
    }

    /// `rows` of the template's example, row `r` with the id `a-{r}`,
    /// each then changed by `edit`.
    fn examples(rows: u32, edit: impl Fn(&mut rust_xlsxwriter::Worksheet, u32)) -> Vec<u8> {
        header_and(|ws, row| {
            if row > rows {
                return false;
            }
            example(ws, row, &format!("a-{row}"));
            edit(ws, row);
            true
        })
    }

    /// The template's example row at `row`, `id` as its activity id.
    fn example(ws: &mut rust_xlsxwriter::Worksheet, row: u32, id: &str) {
        for (c, column) in COLUMNS.iter().enumerate() {
            let value = if column.path == "activity_id" { id } else { column.example };
            ws.write_string(row, c as u16, value).unwrap();
        }
    }

    fn column(header: &str) -> u16 {
        COLUMNS.iter().position(|c| c.header == header).unwrap() as u16
    }

    fn read(body: &[u8]) -> Result<Vec<Row>, FileError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload.xlsx");
        std::fs::write(&path, body).unwrap();
        crate::read::open(ImportFormat::Xlsx, &path)?.collect()
    }

    /// `body` with each part passed through `edit` (by name, stored again deflated).
    fn rezip(body: &[u8], edit: impl Fn(&str, Vec<u8>) -> Vec<u8>) -> Vec<u8> {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body)).unwrap();
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for i in 0..zip.len() {
            let mut part = zip.by_index(i).unwrap();
            let name = part.name().to_string();
            let mut bytes = Vec::new();
            part.read_to_end(&mut bytes).unwrap();
            out.start_file(name.as_str(), options).unwrap();
            out.write_all(&edit(&name, bytes)).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn rows_come_in_order_with_their_spreadsheet_row_across_many_hand_overs() {
        // Several batches and a part of one, a blank row and a bad row between.
        let n = BATCH as u32 * 3 + 7;
        let body = header_and(|ws, row| {
            match row {
                r if r > n => return false,
                100 => {}
                500 => {
                    example(ws, row, "bad");
                    ws.write_string(row, column("deltakere"), "mange").unwrap();
                }
                _ => example(ws, row, &format!("a-{row}")),
            }
            true
        });
        let rows = read(&body).unwrap();
        assert_eq!(rows.len(), n as usize - 1, "the blank row is skipped");
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        let expected: Vec<u64> = (2..=u64::from(n) + 1).filter(|l| *l != 101).collect();
        assert_eq!(lines, expected);
        for row in &rows {
            match &row.record {
                Ok(record) => assert_eq!(record["activity_id"], format!("a-{}", row.line - 1)),
                Err(errors) => {
                    assert_eq!(row.line, 501);
                    assert_eq!(errors[0].field.as_deref(), Some("deltakere"), "{errors:?}");
                }
            }
        }
    }

    #[test]
    fn a_formula_is_read_at_its_saved_value() {
        let body = examples(1, |ws, row| {
            ws.write_formula(row, column("deltakere"), Formula::new("=5+3").set_result("8")).unwrap();
        });
        let rows = read(&body).unwrap();
        let record = rows[0].record.as_ref().unwrap();
        assert_eq!(record["participants"]["total"], 8);
    }

    #[test]
    fn a_formula_without_a_saved_value_is_named() {
        let body = examples(2, |ws, row| {
            if row == 2 {
                ws.write_formula(row, column("deltakere"), "=5+3").unwrap();
            }
        });
        // As a program that writes formulas but never calculates them saves it.
        let uncalculated = rezip(&body, |name, bytes| {
            if !name.starts_with("xl/worksheets/") {
                return bytes;
            }
            let xml = String::from_utf8(bytes).unwrap();
            let (before, after) = xml.split_once("</f>").expect("the formula");
            let after = &after[after.find("</c>").unwrap()..];
            format!("{before}</f>{after}").into_bytes()
        });
        let rows = read(&uncalculated).unwrap();
        let codes: Vec<(u64, &str)> = rows
            .iter()
            .flat_map(|r| r.record.as_ref().err().into_iter().flatten().map(|e| (e.line, e.code.as_str())))
            .collect();
        assert!(codes.contains(&(3, "formula_without_value")), "{codes:?}");
        assert!(rows.iter().any(|r| r.line == 2 && r.record.is_ok()), "the row without a formula is good");
    }

    #[test]
    fn a_workbook_that_breaks_part_way_is_unreadable_not_shorter() {
        // Its last row names a shared string that is not there: calamine
        // panics on it, after whole batches of rows were handed over.
        let body = examples(BATCH as u32 * 3 + 7, |_, _| {});
        let broken = rezip(&body, |name, bytes| {
            if !name.starts_with("xl/worksheets/") {
                return bytes;
            }
            let xml = String::from_utf8(bytes).unwrap();
            let at = xml.rfind("t=\"s\"><v>").unwrap() + "t=\"s\"><v>".len();
            let end = at + xml[at..].find("</v>").unwrap();
            format!("{}999999{}", &xml[..at], &xml[end..]).into_bytes()
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload.xlsx");
        std::fs::write(&path, &broken).unwrap();
        let rows: Vec<Result<Row, FileError>> = crate::read::open(ImportFormat::Xlsx, &path).unwrap().collect();
        let (last, before) = rows.split_last().unwrap();
        assert_eq!(last.as_ref().err().map(|e| e.code), Some("unreadable_file"));
        assert!(before.iter().all(Result::is_ok));
        assert!(before.len() < BATCH * 3 + 7, "the broken row is not among them");
    }

    #[test]
    fn a_zip_bomb_is_refused_unopened() {
        let body = examples(1, |_, _| {});
        // 8 MB of one byte packs to a few kilobytes.
        let bomb = rezip(
            &body,
            |name, bytes| {
                if name.starts_with("xl/worksheets/") { vec![b' '; 8 * 1024 * 1024] } else { bytes }
            },
        );
        assert!(bomb.len() < 100 * 1024, "{} bytes", bomb.len());
        assert_eq!(read(&bomb).err().unwrap().code, "workbook_too_large");
    }

    #[test]
    fn what_is_not_a_workbook_or_has_no_header_says_so() {
        assert_eq!(read(b"aktivitet_id;dato\n").err().unwrap().code, "unreadable_file");
        let mut wb = Workbook::new();
        wb.add_worksheet().set_name(SHEET).unwrap();
        let empty = wb.save_to_buffer().unwrap();
        assert_eq!(read(&empty).err().unwrap().code, "empty_file");
        let mut wb = Workbook::new();
        wb.add_worksheet().set_name(SHEET).unwrap().write_string(0, 0, "navn").unwrap();
        let unknown = wb.save_to_buffer().unwrap();
        assert_eq!(read(&unknown).err().unwrap().code, "unknown_columns");
    }
}
