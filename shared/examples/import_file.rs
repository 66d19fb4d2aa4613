//! Writes the file `make bench` imports: ROWS activities as `activities
//! seed` makes them (org-bench, 2025, seed 1), as JSON Lines or as a
//! workbook with the template's columns, the way a grant officer's filled
//! template looks (text and number cells, one sheet).
//!
//! `import_file ROWS OUT.jsonl` or `import_file ROWS OUT.xlsx`.

use std::io::{BufWriter, Write};

use rust_xlsxwriter::Workbook;
use serde_json::Value;
use shared::import::columns::{COLUMNS, Kind};
use shared::import::xlsx::SHEET;

fn cell(record: &Value, path: &str) -> Value {
    path.split('.').fold(record.clone(), |v, part| v.get(part).cloned().unwrap_or(Value::Null))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (rows, out): (u64, &str) = match args.as_slice() {
        [_, rows, out] => (rows.parse()?, out),
        _ => return Err("usage: import_file ROWS OUT.{jsonl,xlsx}".into()),
    };
    let activities = shared::demo::generate("org-bench", rows, 2025..=2025, 1);
    if out.ends_with(".jsonl") {
        let mut w = BufWriter::new(std::fs::File::create(out)?);
        for a in activities {
            serde_json::to_writer(&mut w, &a)?;
            w.write_all(b"\n")?;
        }
        w.flush()?;
        return Ok(());
    }
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet_with_constant_memory()?;
    ws.set_name(SHEET)?;
    for (c, column) in COLUMNS.iter().enumerate() {
        ws.write_string(0, c as u16, column.header)?;
    }
    for (r, a) in activities.enumerate() {
        let record = serde_json::to_value(&a)?;
        let row = r as u32 + 1;
        for (c, column) in COLUMNS.iter().enumerate() {
            let c = c as u16;
            match (column.kind, cell(&record, column.path)) {
                (_, Value::Null) => {}
                (Kind::Count | Kind::Decimal, Value::Number(n)) => {
                    ws.write_number(row, c, n.as_f64().unwrap_or(0.0))?;
                }
                (Kind::YesNo, Value::Bool(b)) => {
                    ws.write_string(row, c, if b { "ja" } else { "nei" })?;
                }
                (Kind::List, Value::Array(items)) => {
                    let text: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                    if !text.is_empty() {
                        ws.write_string(row, c, text.join(", "))?;
                    }
                }
                (Kind::Attachments, _) => {}
                (_, Value::String(s)) => {
                    ws.write_string(row, c, s)?;
                }
                (_, other) => {
                    ws.write_string(row, c, other.to_string())?;
                }
            }
        }
    }
    wb.save(out)?;
    Ok(())
}
