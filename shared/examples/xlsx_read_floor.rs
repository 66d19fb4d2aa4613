//! The floor under a workbook import: calamine reading every cell of the
//! activities sheet and nothing else (no records, no checks, no SQLite),
//! the way the importer reads it (`worksheet_cells_reader`, cell by cell).
//! An import of the same file cannot be faster than this on one core.
//!
//! `xlsx_read_floor FILE.xlsx` prints `ROWS CELLS SECONDS`.

use std::time::Instant;

use calamine::{DataRef, Xlsx};
use shared::import::xlsx::SHEET;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: xlsx_read_floor FILE.xlsx")?;
    let started = Instant::now();
    let mut workbook: Xlsx<_> = calamine::open_workbook(&path)?;
    let mut cells = workbook.worksheet_cells_reader(SHEET)?;
    let (mut rows, mut count, mut last_row, mut text_bytes) = (0u64, 0u64, None, 0usize);
    while let Some(cell) = cells.next_cell()? {
        let (row, _) = cell.get_position();
        if last_row != Some(row) {
            rows += 1;
            last_row = Some(row);
        }
        count += 1;
        // Touch every value, so reading it is not skipped.
        text_bytes += match cell.get_value() {
            DataRef::String(s) => s.len(),
            DataRef::SharedString(s) => s.len(),
            DataRef::Float(f) => usize::from(*f > 0.0),
            _ => 0,
        };
    }
    std::hint::black_box(text_bytes);
    println!("{} {count} {:.2}", rows.saturating_sub(1), started.elapsed().as_secs_f64());
    Ok(())
}
