//! The floor for `make bench`: rust_xlsxwriter in constant-memory mode
//! writing the cells of the report's Aktiviteter sheet, each row made as
//! it is written: no vector of a million rows to fill and hold, and no
//! random generator per row either, only a pool of 4 096 activities as
//! `activities seed` makes them, cycled, each row with its own id. No
//! reading, no aggregation, no other sheets: the export cannot be much
//! faster than this.
//!
//! `xlsx_floor ROWS OUT.xlsx` makes and writes the rows and prints the
//! time both took;
//! `xlsx_floor ROWS --dump ROWS.tsv` writes the same cells as text for
//! the Python comparison. The activities are those `activities seed`
//! makes (org-bench, 2025, seed 1).

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Instant;

use chrono::Datelike;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use shared::domain::Activity;

const HEADERS: [&str; 16] = [
    "ID",
    "Dato",
    "Aktivitetstype",
    "Tittel",
    "Form",
    "Minutter",
    "Kommune",
    "Fylke",
    "Deltakere",
    "Nye deltakere",
    "Frivillige",
    "Frivilligtimer",
    "Ledet av likeperson",
    "I Norge",
    "Tellende",
    "Årsak",
];

fn yes_no(b: bool) -> &'static str {
    if b { "ja" } else { "nei" }
}

/// Distinct activities the floor cycles through.
const POOL: usize = 4096;

fn write(pool: &[Activity], rows: u64, out: &str) -> Result<(), rust_xlsxwriter::XlsxError> {
    let mut wb = Workbook::new();
    let date = Format::new().set_num_format("dd.mm.yyyy");
    let ws = wb.add_worksheet_with_constant_memory()?;
    ws.set_name("Aktiviteter")?;
    for (c, h) in HEADERS.iter().enumerate() {
        ws.write_string(0, c as u16, *h)?;
    }
    let mut id = String::new();
    for i in 0..rows {
        let a = &pool[i as usize % pool.len()];
        let r = i as u32 + 1;
        id.clear();
        write!(id, "act-1-{i:07}").expect("writing to a string");
        ws.write_string(r, 0, id.as_str())?;
        let d = ExcelDateTime::from_ymd(a.date.year() as u16, a.date.month() as u8, a.date.day() as u8)?;
        ws.write_datetime_with_format(r, 1, d, &date)?;
        ws.write_string(r, 2, a.activity_type.label_nb())?;
        ws.write_string(r, 3, &a.title)?;
        ws.write_string(r, 4, a.mode.label_nb())?;
        ws.write_number(r, 5, a.duration_minutes)?;
        ws.write_string(r, 6, a.kommunenummer.as_str())?;
        ws.write_string(r, 7, a.fylkesnummer())?;
        ws.write_number(r, 8, a.participants.total)?;
        ws.write_number(r, 9, a.participants.new)?;
        ws.write_number(r, 10, a.volunteers.count)?;
        ws.write_number(r, 11, a.volunteers.hours)?;
        ws.write_string(r, 12, yes_no(a.led_by_peer))?;
        ws.write_string(r, 13, yes_no(a.in_norway))?;
        ws.write_string(r, 14, "ja")?;
    }
    wb.save(out)
}

fn dump(rows: impl Iterator<Item = Activity>, out: &str) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    for a in rows {
        let title = a.title.replace(['\t', '\n'], " ");
        writeln!(
            w,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            a.activity_id,
            a.date,
            a.activity_type.label_nb(),
            title,
            a.mode.label_nb(),
            a.duration_minutes,
            a.kommunenummer.as_str(),
            a.fylkesnummer(),
            a.participants.total,
            a.participants.new,
            a.volunteers.count,
            a.volunteers.hours,
            yes_no(a.led_by_peer),
            yes_no(a.in_norway)
        )?;
    }
    w.flush()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: xlsx_floor ROWS OUT.xlsx | xlsx_floor ROWS --dump ROWS.tsv";
    let rows: u64 = args.get(1).ok_or(usage)?.parse()?;
    let activities = shared::demo::generate("org-bench", rows, 2025..=2025, 1);
    match (args.get(2).map(String::as_str), args.get(3)) {
        (Some("--dump"), Some(out)) => dump(activities, out)?,
        (Some(out), None) => {
            let started = Instant::now();
            let pool: Vec<Activity> = activities.take(POOL).collect();
            write(&pool, rows, out)?;
            println!("{:.3}", started.elapsed().as_secs_f64());
        }
        _ => return Err(usage.into()),
    }
    Ok(())
}
