//! Activities, metadata and real-reader helpers for the report tests.

use std::io::Read;
use std::path::Path;

use calamine::{Data, Reader, Xlsx};
use chrono::{NaiveDate, TimeZone, Utc};

use super::{ReportMeta, TypeFigures};
use crate::domain::{Activity, ActivityType, ByAge, ByGender, ExportFormat, Mode, Participants, Volunteers};

pub fn meta(format: ExportFormat) -> ReportMeta {
    ReportMeta {
        export_id: "exp-test-0001".into(),
        org_id: "org-demo".into(),
        organisation_name: None,
        organisation_number: None,
        format,
        period_from: date(2025, 1, 1),
        period_to: date(2025, 12, 31),
        activity_types: vec![],
        report_profile: "standard".into(),
        generated_at: Utc.with_ymd_and_hms(2025, 6, 1, 10, 30, 0).unwrap(),
    }
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[allow(clippy::too_many_arguments)]
pub fn activity(
    id: &str,
    t: ActivityType,
    day: NaiveDate,
    minutes: u32,
    mode: Mode,
    kommune: &str,
    (total, new): (u32, u32),
    (volunteers, hours): (u32, f64),
) -> Activity {
    Activity {
        activity_id: id.into(),
        org_id: "org-demo".into(),
        activity_type: t,
        title: format!("Aktivitet {id}"),
        date: day,
        start_time: None,
        duration_minutes: minutes,
        mode,
        kommunenummer: kommune.into(),
        in_norway: true,
        participants: Participants {
            total,
            new,
            by_gender: ByGender { female: total, ..Default::default() },
            by_age: ByAge { unknown: total, ..Default::default() },
        },
        volunteers: Volunteers { count: volunteers, hours },
        led_by_peer: false,
        target_groups: vec![],
        attachments: vec![],
    }
}

/// Four activities whose figures the tests state literally (see `tiny_expected`).
pub fn tiny() -> Vec<Activity> {
    use ActivityType::*;
    let mut a1 = activity("act-1", GroupSession, date(2025, 1, 15), 90, Mode::InPerson, "0301", (8, 2), (2, 4.0));
    a1.title = "Samtalegruppe; pårørende".into();
    a1.led_by_peer = true;
    let a2 = activity("act-2", GroupSession, date(2025, 2, 1), 60, Mode::Digital, "4601", (5, 0), (1, 1.5));
    let mut a3 = activity("act-3", IndividualCounseling, date(2025, 2, 3), 45, Mode::Phone, "0301", (1, 1), (0, 0.0));
    a3.title = "Samtale \"A\"\nlinje 2".into();
    a3.in_norway = false;
    let a4 = activity("act-4", VolunteerTraining, date(2025, 3, 10), 120, Mode::InPerson, "1103", (12, 3), (3, 4.5));
    vec![a1, a2, a3, a4]
}

/// Sammendrag for [`tiny`] under the standard profile, worked out by hand,
/// in `ActivityType::ALL` order then Totalt: activities, countable,
/// activity days, hours, participations, new, volunteers, volunteer hours.
pub fn tiny_expected() -> Vec<[f64; 8]> {
    vec![
        [2.0, 2.0, 2.0, 2.5, 13.0, 2.0, 3.0, 5.5], // group_session: 90+60 min, two dates
        [1.0, 0.0, 0.0, 0.75, 1.0, 1.0, 0.0, 0.0], // individual_counseling: abroad, not counted
        [0.0; 8],
        [0.0; 8],
        [0.0; 8],
        [1.0, 1.0, 1.0, 2.0, 12.0, 3.0, 3.0, 4.5], // volunteer_training: 120 min
        [4.0, 3.0, 3.0, 5.25, 26.0, 6.0, 6.0, 10.0], // Totalt: 315 min
    ]
}

/// Fifty varied activities: every type, every mode, leading-zero codes.
pub fn fifty() -> Vec<Activity> {
    let kommuner = ["0301", "4601", "5001", "1103", "0301", "3201", "1506"];
    let modes = [Mode::InPerson, Mode::Digital, Mode::Phone];
    (0..50u32)
        .map(|i| {
            let mut a = activity(
                &format!("act-{i:04}"),
                ActivityType::ALL[(i as usize * 7 + i as usize / 6) % 6],
                date(2025, 1 + i % 12, 1 + i % 28),
                30 + 15 * (i % 7),
                modes[i as usize % 3],
                kommuner[i as usize % kommuner.len()],
                (3 + i % 9, i % 4),
                (i % 3, f64::from(i % 5) * 0.75),
            );
            a.led_by_peer = i % 2 == 0;
            a.in_norway = i % 10 != 9;
            a
        })
        .collect()
}

/// The Sammendrag a reader should find under the standard profile (held
/// in Norway counts), summed the plain way.
pub fn expected_figures(acts: &[Activity]) -> Vec<[f64; 8]> {
    let mut rows = vec![[0.0; 8]; 7];
    let mut minutes = [0u64; 7];
    let mut days = vec![std::collections::BTreeSet::new(); 6];
    for a in acts {
        if a.in_norway {
            days[a.activity_type.index()].insert(a.date);
        }
        for r in [a.activity_type.index(), 6] {
            rows[r][0] += 1.0;
            rows[r][1] += f64::from(u8::from(a.in_norway));
            minutes[r] += u64::from(a.duration_minutes);
            rows[r][4] += f64::from(a.participants.total);
            rows[r][5] += f64::from(a.participants.new);
            rows[r][6] += f64::from(a.volunteers.count);
        }
    }
    // Volunteer hours: per type in row order, the total as the sum of the rows,
    // the same order the writer adds them in, so equality can be exact.
    for t in ActivityType::ALL {
        let h: f64 = acts.iter().filter(|a| a.activity_type == t).map(|a| a.volunteers.hours).sum();
        rows[t.index()][7] = h;
        rows[t.index()][2] = days[t.index()].len() as f64;
    }
    rows[6][7] = (0..6).map(|r| rows[r][7]).sum();
    rows[6][2] = (0..6).map(|r| rows[r][2]).sum();
    for r in 0..7 {
        rows[r][3] = minutes[r] as f64 / 60.0;
    }
    rows
}

pub fn figures(t: &TypeFigures) -> [f64; 8] {
    [
        t.activities as f64,
        t.countable as f64,
        t.activity_days as f64,
        t.hours(),
        t.participations as f64,
        t.new_participants as f64,
        t.volunteers as f64,
        t.volunteer_hours,
    ]
}

pub fn ok_items(acts: Vec<Activity>) -> impl Iterator<Item = Result<Activity, crate::ports::PortError>> {
    acts.into_iter().map(Ok)
}

pub fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

// ---- Excel, read back with calamine ----

pub fn open_xlsx(path: &Path) -> Xlsx<std::io::BufReader<std::fs::File>> {
    calamine::open_workbook(path).unwrap()
}

pub fn sheet(path: &Path, name: &str) -> Vec<Vec<Data>> {
    let range = open_xlsx(path).worksheet_range(name).unwrap();
    range.rows().map(|r| r.to_vec()).collect()
}

pub fn num(d: &Data) -> f64 {
    match d {
        Data::Float(f) => *f,
        Data::Int(i) => *i as f64,
        Data::DateTime(dt) => dt.as_f64(),
        other => panic!("expected a number, got {other:?}"),
    }
}

pub fn text(d: &Data) -> &str {
    match d {
        Data::String(s) => s,
        other => panic!("expected text, got {other:?}"),
    }
}

/// Sammendrag figures as a table of numbers, checking the labels on the way.
pub fn xlsx_figures(path: &Path) -> Vec<[f64; 8]> {
    let rows = sheet(path, "Sammendrag");
    rows[1..8]
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let label = if i < 6 { ActivityType::ALL[i].label_nb() } else { "Totalt" };
            assert_eq!(text(&r[0]), label);
            std::array::from_fn(|c| num(&r[c + 1]))
        })
        .collect()
}

// ---- CSV in a ZIP, read back with the zip crate ----

pub fn zip_entry(path: &Path, name: &str) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    archive.by_name(name).unwrap().read_to_end(&mut out).unwrap();
    out
}

/// A strict reader for the dialect we promise: BOM, `;`, CRLF, `"` quoting.
pub fn parse_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    let s = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").expect("BOM")).unwrap();
    assert!(s.ends_with("\r\n"), "every record ends with CRLF");
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, s.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) => quoted = true,
            (';', false) => record.push(std::mem::take(&mut field)),
            ('\r', false) => {
                assert_eq!(chars.next(), Some('\n'), "bare CR");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            ('\n', false) => panic!("bare LF outside quotes"),
            (c, _) => field.push(c),
        }
    }
    records
}

/// Decimal comma back to a number; a dot would be a bug.
pub fn csv_num(s: &str) -> f64 {
    assert!(!s.contains('.'), "decimal point in {s:?}");
    s.replace(',', ".").parse().unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

pub fn csv_figures(path: &Path) -> Vec<[f64; 8]> {
    let rows = parse_csv(&zip_entry(path, "Sammendrag.csv"));
    assert_eq!(rows[7][0], "Totalt");
    rows[1..8].iter().map(|r| std::array::from_fn(|c| csv_num(&r[c + 1]))).collect()
}

// ---- JSON ----

pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

pub fn json_figures(path: &Path) -> Vec<[f64; 8]> {
    let v = json(path);
    let s = &v["summary"];
    let keys = [
        "activities",
        "countable_activities",
        "activity_days",
        "hours",
        "participations",
        "new_participants",
        "volunteers",
        "volunteer_hours",
    ];
    let row = |o: &serde_json::Value| std::array::from_fn(|c| o[keys[c]].as_f64().unwrap());
    let mut out: Vec<[f64; 8]> = s["by_type"].as_array().unwrap().iter().map(row).collect();
    out.push(row(&s["total"]));
    out
}
