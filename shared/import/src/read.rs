//! Reading an uploaded file as rows, streaming: JSON Lines (one activity
//! per line), CSV (as Norwegian Excel saves it: `;` or `,`, with or without
//! a BOM, decimal commas) and workbooks. Each row is either a record in the
//! activity's JSON shape or the problems that kept it from being one; a
//! file that cannot be read at all is a [`FileError`].

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde_json::{Map, Value};

use crate::cells::{self, CellValue};
use crate::columns::{self, COLUMNS, Column};
use crate::domain::{ImportFormat, RowError};

/// The longest line (JSON Lines) or record (CSV) read: a real activity is
/// well under a kilobyte, and a longer one would only be held in memory.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

pub struct Row {
    /// The line (JSON Lines) or spreadsheet row (CSV, workbook; the header is row 1).
    pub line: u64,
    pub record: Result<Map<String, Value>, Vec<RowError>>,
}

/// Why a file as a whole could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FileError {
    /// `unreadable_file`, `missing_columns`, `unknown_columns`,
    /// `line_too_long`, `workbook_too_large`, `empty_file`.
    pub code: &'static str,
    pub message: String,
}

impl FileError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        FileError { code, message: message.into() }
    }
}

pub type Rows = Box<dyn Iterator<Item = Result<Row, FileError>> + Send>;

/// The file's rows, in order.
pub fn open(format: ImportFormat, path: &Path) -> Result<Rows, FileError> {
    let file =
        File::open(path).map_err(|e| FileError::new("unreadable_file", format!("the upload cannot be read: {e}")))?;
    match format {
        ImportFormat::Jsonl => Ok(Box::new(JsonLines { input: BufReader::new(file), line: 0, buf: Vec::new() })),
        ImportFormat::Csv => csv_rows(file),
        ImportFormat::Xlsx => crate::xlsx::rows(path),
    }
}

struct JsonLines<R> {
    input: R,
    line: u64,
    buf: Vec<u8>,
}

/// Reads up to and including the next `\n`, keeping at most `limit` bytes
/// of it: `Ok((bytes read, whole))`, `whole` false when the line was longer.
fn read_line_bounded(input: &mut impl BufRead, buf: &mut Vec<u8>, limit: usize) -> io::Result<(usize, bool)> {
    buf.clear();
    let mut read = 0;
    loop {
        let available = input.fill_buf()?;
        if available.is_empty() {
            return Ok((read, buf.len() <= limit));
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let n = chunk.len();
        if buf.len() <= limit {
            buf.extend_from_slice(&chunk[..n.min(limit + 1 - buf.len())]);
        }
        input.consume(n);
        read += n;
        if done {
            return Ok((read, buf.len() <= limit));
        }
    }
}

impl<R: BufRead> Iterator for JsonLines<R> {
    type Item = Result<Row, FileError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (read, whole) = match read_line_bounded(&mut self.input, &mut self.buf, MAX_LINE_BYTES) {
                Ok(r) => r,
                Err(e) => {
                    return Some(Err(FileError::new("unreadable_file", format!("the upload cannot be read: {e}"))));
                }
            };
            if read == 0 {
                return None;
            }
            self.line += 1;
            let line = self.line;
            let error = |code: &str, message: String| {
                Some(Ok(Row { line, record: Err(vec![RowError::new(line, None, code, message)]) }))
            };
            if !whole {
                return error("line_too_long", format!("the line is longer than {MAX_LINE_BYTES} bytes"));
            }
            let Ok(text) = std::str::from_utf8(&self.buf) else {
                return error("invalid_utf8", "the line is not UTF-8 text".to_string());
            };
            let text = if line == 1 { text.trim_start_matches('\u{feff}') } else { text };
            if text.trim().is_empty() {
                continue;
            }
            return match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(record)) => Some(Ok(Row { line, record: Ok(record) })),
                Ok(_) => error("invalid_json", "the line is not a JSON object".to_string()),
                Err(e) => error("invalid_json", format!("the line is not valid JSON: {e}")),
            };
        }
    }
}

/// Refuses to hand on more than `limit` bytes between two newlines, so a
/// CSV reader never holds a giant record.
struct LineLimit<R> {
    inner: R,
    since_newline: usize,
    limit: usize,
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        for b in &out[..n] {
            self.since_newline = if *b == b'\n' { 0 } else { self.since_newline + 1 };
            if self.since_newline > self.limit {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
        }
        Ok(n)
    }
}

/// The header row mapped to columns: each file column's [`Column`], after
/// checking that every required column is there and nothing unknown is.
pub fn map_header<'a>(headers: impl IntoIterator<Item = &'a str>) -> Result<Vec<Option<&'static Column>>, FileError> {
    let mut mapped = Vec::new();
    let mut unknown = Vec::new();
    for h in headers {
        if h.trim().is_empty() {
            mapped.push(None);
            continue;
        }
        match columns::find(h) {
            Some(c) if mapped.iter().flatten().any(|m: &&Column| m.header == c.header) => {
                return Err(FileError::new("duplicate_columns", format!("the column {} appears twice", c.header)));
            }
            Some(c) => mapped.push(Some(c)),
            None => {
                unknown.push(h.trim().to_string());
                mapped.push(None);
            }
        }
    }
    let missing: Vec<&str> = COLUMNS
        .iter()
        .filter(|c| c.required && !mapped.iter().flatten().any(|m| m.header == c.header))
        .map(|c| c.header)
        .collect();
    if !unknown.is_empty() {
        return Err(FileError::new(
            "unknown_columns",
            format!("unknown columns: {} (the template's columns are {})", unknown.join(", "), template_headers()),
        ));
    }
    if !missing.is_empty() {
        return Err(FileError::new(
            "missing_columns",
            format!(
                "missing columns: {} (a `;` file read as `,`, or the other way round, looks like this too)",
                missing.join(", ")
            ),
        ));
    }
    Ok(mapped)
}

fn template_headers() -> String {
    COLUMNS.iter().map(|c| c.header).collect::<Vec<_>>().join(", ")
}

/// One row's cells made into a record, or every cell that could not be read.
pub fn record_of(line: u64, columns: &[Option<&'static Column>], cells: impl IntoIterator<Item = CellValue>) -> Row {
    let mut record = Map::new();
    let mut errors = Vec::new();
    let mut cells = cells.into_iter();
    for column in columns {
        let cell = cells.next().unwrap_or(CellValue::Empty);
        let Some(column) = column else { continue };
        match cells::read(column, cell) {
            Ok(Some(v)) => columns::set_path(&mut record, column.path, v),
            Ok(None) => {}
            Err((code, message)) => errors.push(RowError::new(line, Some(column.header), code, message)),
        }
    }
    if cells.any(|c| !c.is_empty()) {
        errors.push(RowError::new(line, None, "extra_cells", "the row has more cells than the header has columns"));
    }
    Row { line, record: if errors.is_empty() { Ok(record) } else { Err(errors) } }
}

/// Which of `;` and `,` separates the header: the one that splits it into
/// known columns (Norwegian Excel writes `;`).
fn delimiter(header: &str) -> u8 {
    let known = |d: char| header.split(d).filter(|h| columns::find(h.trim_matches('"')).is_some()).count();
    if known(';') >= known(',') { b';' } else { b',' }
}

fn csv_rows(file: File) -> Result<Rows, FileError> {
    let mut input = BufReader::new(LineLimit { inner: file, since_newline: 0, limit: MAX_LINE_BYTES });
    // The header decides the separator; it is read here and handed back
    // to the CSV reader in front of the rest.
    let mut first = Vec::new();
    let too_long = || FileError::new("line_too_long", format!("the header line is longer than {MAX_LINE_BYTES} bytes"));
    let (_, whole) = read_line_bounded(&mut input, &mut first, MAX_LINE_BYTES).map_err(|e| {
        // LineLimit's refusal, before the bounded read sees the end of the line.
        if e.kind() == io::ErrorKind::InvalidData {
            too_long()
        } else {
            FileError::new("unreadable_file", format!("the upload cannot be read: {e}"))
        }
    })?;
    if !whole {
        return Err(too_long());
    }
    let header = std::str::from_utf8(&first)
        .map_err(|_| FileError::new("invalid_utf8", "the file is not UTF-8 text: save it as \"CSV UTF-8\""))?;
    let header = header.trim_start_matches('\u{feff}');
    if header.trim().is_empty() {
        return Err(FileError::new("empty_file", "the file has no header row"));
    }
    let delimiter = delimiter(header);
    let reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(io::Cursor::new(header.as_bytes().to_vec()).chain(input));
    let mut records = reader.into_byte_records();
    let header_record = match records.next() {
        Some(Ok(r)) => r,
        _ => return Err(FileError::new("empty_file", "the file has no header row")),
    };
    let headers: Vec<String> = header_record.iter().map(|h| String::from_utf8_lossy(h).into_owned()).collect();
    let columns = map_header(headers.iter().map(String::as_str))?;
    let mut row = 1u64;
    Ok(Box::new(records.filter_map(move |record| {
        row += 1;
        let line = row;
        let record = match record {
            Ok(r) => r,
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == io::ErrorKind::InvalidData) => {
                return Some(Err(FileError::new(
                    "line_too_long",
                    format!("row {line} is longer than {MAX_LINE_BYTES} bytes"),
                )));
            }
            Err(e) => return Some(Err(FileError::new("unreadable_file", format!("row {line} cannot be read: {e}")))),
        };
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            return None;
        }
        let mut cells = Vec::with_capacity(record.len());
        for field in record.iter() {
            match std::str::from_utf8(field) {
                Ok(text) => cells.push(CellValue::Text(text.to_string())),
                Err(_) => {
                    let e = RowError::new(
                        line,
                        None,
                        "invalid_utf8",
                        "the row is not UTF-8 text: save the file as \"CSV UTF-8\"",
                    );
                    return Some(Ok(Row { line, record: Err(vec![e]) }));
                }
            }
        }
        Some(Ok(record_of(line, &columns, cells)))
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_of(format: ImportFormat, body: &[u8]) -> Result<Vec<Row>, FileError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload");
        std::fs::write(&path, body).unwrap();
        open(format, &path)?.collect()
    }

    fn template_csv(sep: &str, bom: bool) -> String {
        let mut s = if bom { "\u{feff}".to_string() } else { String::new() };
        s += &COLUMNS.iter().map(|c| c.header).collect::<Vec<_>>().join(sep);
        s += "\r\n";
        let quote = |v: &str| if v.contains(sep) { format!("\"{v}\"") } else { v.to_string() };
        s += &COLUMNS.iter().map(|c| quote(c.example)).collect::<Vec<_>>().join(sep);
        s += "\r\n";
        s
    }

    #[test]
    fn csv_as_norwegian_excel_writes_it() {
        for (sep, bom) in [(";", true), (";", false), (",", true), (",", false)] {
            let rows = rows_of(ImportFormat::Csv, template_csv(sep, bom).as_bytes()).unwrap();
            assert_eq!(rows.len(), 1, "{sep} {bom}");
            let record = rows[0].record.as_ref().unwrap();
            assert_eq!(rows[0].line, 2);
            assert_eq!(record["volunteers"]["hours"], 4.5, "decimal comma with {sep}");
            assert_eq!(record["participants"]["by_age"]["67+"], 0);
            assert_eq!(record["kommunenummer"], "0301");
        }
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let header_only =
            COLUMNS.iter().filter(|c| c.header != "tittel").map(|c| c.header).collect::<Vec<_>>().join(";");
        let e = rows_of(ImportFormat::Csv, format!("{header_only}\n").as_bytes()).err().unwrap();
        assert_eq!(e.code, "missing_columns");
        assert!(e.message.contains("tittel"), "{}", e.message);
        let e = rows_of(
            ImportFormat::Csv,
            format!("{};kommentar\n", COLUMNS.iter().map(|c| c.header).collect::<Vec<_>>().join(";")).as_bytes(),
        )
        .err()
        .unwrap();
        assert_eq!(e.code, "unknown_columns");
        assert_eq!(rows_of(ImportFormat::Csv, b"").err().unwrap().code, "empty_file");
        assert_eq!(rows_of(ImportFormat::Csv, b"\xff\xfeaktivitet_id\n").err().unwrap().code, "invalid_utf8");
        let mut long = template_csv(";", false);
        long.push_str(&"x".repeat(MAX_LINE_BYTES + 10));
        let rows = rows_of(ImportFormat::Csv, long.as_bytes());
        assert_eq!(rows.err().unwrap().code, "line_too_long");
        // The header itself, with and without a line after it.
        for after in ["", "\nakt-1;04.03.2025\n"] {
            let header = format!("aktivitet_id;{}{after}", "x".repeat(MAX_LINE_BYTES + 10));
            assert_eq!(rows_of(ImportFormat::Csv, header.as_bytes()).err().unwrap().code, "line_too_long");
        }
    }

    #[test]
    fn json_lines_name_their_bad_lines() {
        let good = serde_json::to_string(&crate::domain::fixtures::activity()).unwrap();
        let mut body = format!("\u{feff}{good}\n\n[1,2]\n{{broken\n");
        body.push_str(&"x".repeat(MAX_LINE_BYTES + 1));
        body.push('\n');
        body.push_str(&good);
        let mut bytes = body.into_bytes();
        bytes.extend_from_slice(b"\n\xff\xfe\n");
        let rows = rows_of(ImportFormat::Jsonl, &bytes).unwrap();
        let summary: Vec<(u64, &str)> =
            rows.iter().map(|r| (r.line, r.record.as_ref().err().map_or("ok", |e| e[0].code.as_str()))).collect();
        assert_eq!(
            summary,
            [(1, "ok"), (3, "invalid_json"), (4, "invalid_json"), (5, "line_too_long"), (6, "ok"), (7, "invalid_utf8")]
        );
    }
}
