//! Workbooks (`.xlsx`), read with calamine cell by cell: the sheet named
//! `Aktiviteter` (the template's), or else the first. Before calamine sees
//! it, the archive is measured: a few kilobytes that unpack to gigabytes
//! (a zip bomb) are refused unread. A formula is taken at the value Excel
//! saved with it; one saved without a value is named as such.

use std::collections::HashSet;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use calamine::{DataRef, Reader, Xlsx, XlsxError};

use crate::cells::CellValue;
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

/// The rows of the activities sheet. calamine's cell reader borrows the
/// workbook, so the rows are read here on a thread of their own and handed
/// over in order through a small channel: memory stays flat however long
/// the sheet is.
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
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Row, FileError>>(256);
    std::thread::Builder::new()
        .name("xlsx-import".into())
        .spawn(move || {
            if let Err(e) = read_sheet(&mut workbook, &sheet, &tx) {
                let _ = tx.send(Err(e));
            }
        })
        .map_err(|e| FileError::new("unreadable_file", format!("reading thread: {e}")))?;
    Ok(Box::new(rx.into_iter()))
}

fn read_sheet(
    workbook: &mut Xlsx<BufReader<File>>,
    sheet: &str,
    tx: &std::sync::mpsc::SyncSender<Result<Row, FileError>>,
) -> Result<(), FileError> {
    let mut cells = workbook.worksheet_cells_reader(sheet).map_err(xlsx_err)?;
    let mut columns: Option<Vec<Option<&'static Column>>> = None;
    let mut current: Option<(u32, Vec<CellValue>)> = None;
    let mut empty_required = false;
    let mut flush = |row: u32,
                     values: Vec<CellValue>,
                     columns: &mut Option<Vec<Option<&'static Column>>>|
     -> Result<bool, FileError> {
        if values.iter().all(CellValue::is_empty) {
            return Ok(true);
        }
        match columns {
            None => {
                let headers: Vec<String> =
                    values.iter().map(|v| if let CellValue::Text(t) = v { t.clone() } else { String::new() }).collect();
                *columns = Some(map_header(headers.iter().map(String::as_str))?);
                Ok(true)
            }
            Some(cols) => {
                let line = u64::from(row) + 1;
                let record = record_of(line, cols, &values);
                if let Err(errors) = &record.record
                    && errors.iter().any(|e| e.code == "missing_value")
                {
                    empty_required = true;
                }
                Ok(tx.send(Ok(record)).is_ok())
            }
        }
    };
    while let Some(cell) = cells.next_cell().map_err(xlsx_err)? {
        let (row, col) = cell.get_position();
        if current.as_ref().is_none_or(|(r, _)| *r != row) {
            if let Some((r, values)) = current.take()
                && !flush(r, values, &mut columns)?
            {
                return Ok(());
            }
            current = Some((row, Vec::new()));
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
    if let Some((r, values)) = current.take() {
        flush(r, values, &mut columns)?;
    }
    if columns.is_none() {
        return Err(FileError::new("empty_file", format!("the sheet {sheet} has no header row")));
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
fn report_formulas(
    workbook: &mut Xlsx<BufReader<File>>,
    sheet: &str,
    tx: &std::sync::mpsc::SyncSender<Result<Row, FileError>>,
) {
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
        let _ = tx.send(Ok(Row { line, record: Err(vec![e]) }));
    }
}
