//! The golden dataset: 254 activities built by hand (see
//! `fixtures/golden/generate.py` for the blocks) to hit every counting
//! rule, every gender and age band and small cells in Deltakere and
//! Geografi. Every expected figure below is worked out from the block
//! table by hand; none comes from the code under test. The workbook is
//! read back with calamine, and the CSV and JSON must carry the same.
//!
//! Set `GOLDEN_OUT_DIR` to keep the generated files (the LibreOffice
//! read-back script does).

use std::io::Read;
use std::path::{Path, PathBuf};

use calamine::{Data, Reader};
use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::domain::{Activity, ActivityType, ExportFormat};
use shared::report::{ReportError, ReportMeta, write_bundle, write_report};

const FIXTURE: &str = include_str!("../fixtures/golden/activities.jsonl");
const SCHEMA: &str = include_str!("../../../docs/report.schema.json");

/// Hours are minutes / 60; the minute sums are worked out per block:
/// group  A1 40x45 + A2 20x44 + A3 20x45 + A4 10x44 + A5 10x90 + H 45 = 4965
/// indiv  B1 30x60 + B2 20x30 + B3 25x30 + B4 5x30                    = 3300
/// course C1 12x90 + C2 8x89                                          = 1792
/// outreach 20x60 = 1200; open E1 20x120 + G 3x60 = 2580; training 10x180 = 1800
/// total 4965 + 3300 + 1792 + 1200 + 2580 + 1800 = 15637
const MINUTES: [f64; 7] = [4965.0, 3300.0, 1792.0, 1200.0, 2580.0, 1800.0, 15637.0];

/// Sammendrag under likeperson: label, activities, countable, activity
/// days, (hours from MINUTES), participations, new, volunteers, volunteer hours.
fn expected_summary() -> Vec<(&'static str, [f64; 8])> {
    let rows = [
        // 101 = 40+20+20+10+10+1; counted: A1 40 + H 1; A2 too short, A3/A4
        // too few, A5 abroad. Days: A1's 40 dates and H's 15 June.
        ("Samtalegruppe", [101.0, 41.0, 41.0, 324.0, 84.0, 111.0, 120.75]),
        // Counted: B1 30 in person + B2 20 digital; B2's dates are B1's first 20.
        ("Individuell samtale", [80.0, 50.0, 30.0, 80.0, 55.0, 30.0, 30.0]),
        // C1 (90 min) counts, C2 (89 min) does not.
        ("Likepersonskurs", [20.0, 12.0, 12.0, 120.0, 72.0, 40.0, 60.0]),
        // D1 in person counts, D2 by phone does not.
        ("Oppsøkende besøk", [20.0, 15.0, 15.0, 35.0, 5.0, 15.0, 15.0]),
        // E1 20 and G 3 all count; G's dates (the 21st) differ from E1's.
        ("Åpent møte", [23.0, 23.0, 23.0, 203.0, 43.0, 63.0, 121.5]),
        // Not part of the peer-support scheme.
        ("Opplæring av frivillige", [10.0, 0.0, 0.0, 50.0, 0.0, 40.0, 120.0]),
        ("Totalt", [254.0, 141.0, 121.0, 812.0, 259.0, 299.0, 467.25]),
    ];
    rows.iter()
        .zip(MINUTES)
        .map(|((label, f), minutes)| (*label, [f[0], f[1], f[2], minutes / 60.0, f[3], f[4], f[5], f[6]]))
        .collect()
}

/// Countable activities per month (Jan..Dec) by type, from each block's
/// date rule: a block of n starting in January puts ceil((n - m) / 12)
/// in month m (0-based), and H is in June.
const MONTHS: [[u64; 6]; 12] = [
    // group, indiv, course, outreach, open, training
    [4, 5, 1, 2, 3, 0],
    [4, 5, 1, 2, 3, 0],
    [4, 5, 1, 2, 3, 0],
    [4, 5, 1, 1, 2, 0],
    [3, 5, 1, 1, 2, 0],
    [4, 5, 1, 1, 2, 0],
    [3, 4, 1, 1, 2, 0],
    [3, 4, 1, 1, 2, 0],
    [3, 3, 1, 1, 1, 0],
    [3, 3, 1, 1, 1, 0],
    [3, 3, 1, 1, 1, 0],
    [3, 3, 1, 1, 1, 0],
];

/// Deltakere by gender (female, male, other, unknown, row total). `:` is
/// hidden: individual/other = 3 (B1b) is small; the cheapest rectangle
/// that protects it adds individual/unknown (5), group/other (20) and
/// group/unknown (10), the only row with a non-zero "other" being group.
const GENDER: [[&str; 5]; 7] = [
    ["182", "112", ":", ":", "324"],
    ["52", "20", ":", ":", "80"],
    ["84", "36", "0", "0", "120"],
    ["5", "30", "0", "0", "35"],
    ["103", "100", "0", "0", "203"],
    ["50", "0", "0", "0", "50"],
    ["476", "298", "23", "15", "812"],
];

/// Deltakere by age band (0-5, 6-12, 13-17, 18-24, 25-66, 67+, unknown,
/// total). Open meeting/6-12 = 3 (G) is small; individual is the only
/// other row with 6-12 participants, and the cheapest rectangle through
/// it uses unknown (individual 5, open meeting 0).
const AGE: [[&str; 8]; 7] = [
    ["0", "0", "80", "60", "124", "40", "20", "324"],
    ["0", ":", "0", "30", "0", "25", ":", "80"],
    ["0", "0", "0", "48", "72", "0", "0", "120"],
    ["0", "0", "5", "0", "0", "30", "0", "35"],
    ["80", ":", "0", "0", "120", "0", ":", "203"],
    ["0", "0", "0", "0", "50", "0", "0", "50"],
    ["80", "23", "85", "138", "366", "95", "25", "812"],
];

/// Geografi per fylke by type, then total. 55 Troms has 3 (G): hidden; the
/// only other fylke with open meetings is Oslo, and its cheapest partner
/// column is individual (Oslo 30, Troms 0). Abroad: A5 and B4.
const FYLKER: [(&str, &str, [&str; 7]); 7] = [
    ("03", "03 Oslo", ["140", ":", "72", "0", ":", "0", "442"]),
    ("11", "11 Rogaland", ["0", "25", "0", "30", "0", "0", "55"]),
    ("46", "46 Vestland", ["64", "20", "0", "5", "0", "50", "139"]),
    ("50", "50 Trøndelag", ["40", "0", "48", "0", "0", "0", "88"]),
    ("55", "55 Troms", ["0", ":", "0", "0", ":", "0", "3"]),
    ("", "Utlandet", ["80", "5", "0", "0", "0", "0", "85"]),
    ("", "Totalt", ["324", "80", "120", "35", "203", "50", "812"]),
];

/// Listed kommuner: Oslo and Troms hide cells, so none of theirs; in
/// Vestland 4631 is small (4), and listing 4601 or 4626 would leave 4 as
/// the remainder of the fylke, so neither is listed. Left out: 0301, 4601,
/// 4626, 4631, 5501.
const KOMMUNER: [(&str, &str, [&str; 7]); 2] = [
    ("1103", "Rogaland", ["0", "25", "0", "30", "0", "0", "55"]),
    ("5001", "Trøndelag", ["40", "0", "48", "0", "0", "0", "88"]),
];
const KOMMUNER_LEFT_OUT: u64 = 5;

/// Not counted, by reason: abroad A5 10 + B4 5; not in the scheme F1 10;
/// phone B3 25 + D2 5; too few participants A3 20 + A4 10 (44 min as
/// well, but participants are checked first); too short A2 20 + C2 8.
const REASONS: [(&str, u64); 6] = [
    ("utlandet", 15),
    ("ikke_i_ordningen", 10),
    ("telefon", 30),
    ("form_ikke_tellende", 0),
    ("for_faa_deltakere", 30),
    ("for_kort", 28),
];
/// Four per table: one small cell and three that protect it.
const HIDDEN_CELLS: u64 = 12;
/// C1 12 course certificates + E1 20 attendance lists.
const ATTACHMENTS: u64 = 32;

const SHEETS: [&str; 8] =
    ["Forside", "Sammendrag", "Aktiviteter", "Deltakere", "Geografi", "Frivillige", "Vedlegg", "Kontroll"];

fn activities() -> Vec<Activity> {
    FIXTURE
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let a: Activity = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
            assert!(a.problems().is_empty(), "line {}: {:?}", i + 1, a.problems());
            a
        })
        .collect()
}

fn meta(format: ExportFormat, profile: &str) -> ReportMeta {
    ReportMeta {
        export_id: "exp-golden-0001".into(),
        org_id: "org-golden".into(),
        organisation_name: Some("Foreningen for pårørende".into()),
        organisation_number: Some("974760673".into()),
        format,
        period_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        period_to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        activity_types: vec![],
        report_profile: profile.into(),
        generated_at: Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0).unwrap(),
    }
}

/// Writes the golden report in `format` into `GOLDEN_OUT_DIR` when set
/// (kept for LibreOffice), else into `tmp`.
fn generate(format: ExportFormat, profile: &str, tmp: &Path) -> PathBuf {
    let dir = std::env::var_os("GOLDEN_OUT_DIR").map(PathBuf::from).unwrap_or_else(|| tmp.to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let out = write_report(&meta(format, profile), &dir, activities().into_iter().map(Ok), |_| true).unwrap();
    assert_eq!(out.rows, 254);
    out.path
}

// ---- reading back: every source becomes rows of strings ----

/// A cell as the CSV would print it, with a decimal point: numbers in
/// their shortest form, text as is, hidden as `:`.
fn xlsx_cell(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) => format!("{f}"),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => format!("serial:{}", dt.as_f64()),
        other => panic!("unexpected cell {other:?}"),
    }
}

fn xlsx_sheet(path: &Path, name: &str) -> Vec<Vec<String>> {
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook(path).unwrap();
    let range = wb.worksheet_range(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    // calamine pads rows to the widest; trailing empty cells are not data.
    range
        .rows()
        .map(|r| {
            let mut cells: Vec<String> = r.iter().map(xlsx_cell).collect();
            while cells.last().is_some_and(String::is_empty) {
                cells.pop();
            }
            cells
        })
        .collect()
}

fn zip_entry(path: &Path, name: &str) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    archive.by_name(name).unwrap_or_else(|e| panic!("{name}: {e}")).read_to_end(&mut out).unwrap();
    out
}

/// The dialect we promise: BOM, `;`, CRLF, `"` quoting; decimal commas
/// become points so rows compare with the workbook's.
fn csv_sheet(path: &Path, name: &str) -> Vec<Vec<String>> {
    let bytes = zip_entry(path, &format!("{name}.csv"));
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").expect("BOM")).unwrap();
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (';', false) => row.push(std::mem::take(&mut field)),
            ('\r', false) => {
                assert_eq!(chars.next(), Some('\n'));
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    rows.into_iter()
        .map(|r: Vec<String>| {
            let mut cells: Vec<String> = r.into_iter().map(|f| decimal_point(&f)).collect();
            while cells.last().is_some_and(String::is_empty) {
                cells.pop();
            }
            cells
        })
        .collect()
}

fn decimal_point(f: &str) -> String {
    let numeric = f.split_once(',').is_some_and(|(a, b)| {
        !a.is_empty() && !b.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit())
    });
    if numeric { f.replacen(',', ".", 1) } else { f.to_string() }
}

fn num(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

fn find<'a>(rows: &'a [Vec<String>], first: &str) -> &'a [String] {
    rows.iter().find(|r| r.first().is_some_and(|c| c == first)).unwrap_or_else(|| panic!("no row {first:?}"))
}

/// Index of the row that starts `first`, after row `from`.
fn position(rows: &[Vec<String>], first: &str, from: usize) -> usize {
    from + rows[from..]
        .iter()
        .position(|r| r.first().is_some_and(|c| c == first))
        .unwrap_or_else(|| panic!("no row {first:?}"))
}

// ---- the figures, checked against any source's rows ----

fn check_summary(rows: &[Vec<String>]) {
    assert_eq!(rows[0][..3], ["Aktivitetstype", "Aktiviteter", "Tellende aktiviteter"]);
    for (i, (label, want)) in expected_summary().iter().enumerate() {
        let row = &rows[1 + i];
        assert_eq!(row[0], *label);
        for (c, w) in want.iter().enumerate() {
            assert!((num(&row[c + 1]) - w).abs() < 1e-9, "{label} column {}: {} != {w}", c + 1, row[c + 1]);
        }
    }
    let header = position(rows, "Måned", 8);
    for (m, want) in MONTHS.iter().enumerate() {
        let row = &rows[header + 1 + m];
        let got: Vec<u64> = row[1..8].iter().map(|c| num(c) as u64).collect();
        let mut expected = want.to_vec();
        expected.push(want.iter().sum());
        assert_eq!(got, expected, "month {}", m + 1);
    }
    assert_eq!(rows.len(), header + 13, "twelve months and nothing after");
}

fn check_table<const N: usize>(rows: &[Vec<String>], title: &str, want: &[[&str; N]]) {
    let header = position(rows, title, 0) + 1;
    let labels = [
        "Samtalegruppe",
        "Individuell samtale",
        "Likepersonskurs",
        "Oppsøkende besøk",
        "Åpent møte",
        "Opplæring av frivillige",
        "Totalt",
    ];
    for (i, (label, w)) in labels.iter().zip(want).enumerate() {
        let row = &rows[header + 1 + i];
        assert_eq!(row[0], *label, "{title}");
        assert_eq!(row[1..], w[..], "{title}: {label}");
    }
}

fn check_participants(rows: &[Vec<String>]) {
    check_table(rows, "Etter kjønn", &GENDER);
    check_table(rows, "Etter alder", &AGE);
}

fn check_geography(rows: &[Vec<String>]) {
    let header = position(rows, "Fylke", 0);
    for (i, (_, label, w)) in FYLKER.iter().enumerate() {
        let row = &rows[header + 1 + i];
        assert_eq!(row[0], *label);
        assert_eq!(row[1..], w[..], "{label}");
    }
    let header = position(rows, "Kommunenr.", header);
    assert!(
        rows[header - 1][0].contains(&format!("({KOMMUNER_LEFT_OUT} kommuner er utelatt)")),
        "{:?}",
        rows[header - 1]
    );
    assert_eq!(rows.len(), header + 1 + KOMMUNER.len());
    for (i, (code, fylke, w)) in KOMMUNER.iter().enumerate() {
        let row = &rows[header + 1 + i];
        assert_eq!([row[0].as_str(), row[1].as_str()], [*code, *fylke]);
        assert_eq!(row[2..], w[..], "{code}");
    }
}

fn check_control(rows: &[Vec<String>]) {
    let value = |label: &str| num(&find(rows, label)[2]) as u64;
    assert_eq!(value("Aktiviteter lest"), 254);
    assert_eq!(value("Tellende aktiviteter"), 141);
    assert_eq!(value("Ikke tellende aktiviteter"), 113);
    for (code, n) in REASONS {
        assert_eq!(value(code), n, "{code}");
    }
    assert_eq!(value("Skjulte celler i alt"), HIDDEN_CELLS);
    assert_eq!(value("Skjulte celler som summene likevel avslører"), 0);
    assert_eq!(value("Kommuner utelatt i Geografi"), KOMMUNER_LEFT_OUT);
    assert_eq!(value("Vedlegg i aktivitetene"), ATTACHMENTS);
    assert_eq!(find(rows, "Rapportprofil")[1], "likeperson");
}

fn check_volunteers(rows: &[Vec<String>]) {
    assert_eq!(rows[0], ["Måned", "Aktivitetstype", "Aktiviteter", "Frivillige", "Frivilligtimer"]);
    // Every type has activities in every month (each block of 12 or more
    // starts in January) except training: F1's 10 run January..October.
    assert_eq!(rows.len(), 1 + 5 * 12 + 10 + 1);
    let total = find(rows, "Totalt");
    assert_eq!([num(&total[2]), num(&total[3]), num(&total[4])], [254.0, 299.0, 467.25]);
}

/// Activity rows by id: Tellende and Årsak for one of each rule's sides.
fn check_activities(rows: &[Vec<String>]) {
    assert_eq!(rows.len(), 255);
    assert_eq!(rows[0][14..], ["Tellende", "Årsak"]);
    let judged = |id: &str| {
        let r = find(rows, id);
        (r[14].clone(), r.get(15).cloned().unwrap_or_default())
    };
    for (id, counted, reason) in [
        ("g-A1-000", "ja", ""),                   // 3 participants, 45 min
        ("g-A2-000", "nei", "for_kort"),          // 44 min
        ("g-A3-000", "nei", "for_faa_deltakere"), // 2 participants
        ("g-A4-000", "nei", "for_faa_deltakere"), // 2 and 44 min: the first reason
        ("g-A5-000", "nei", "utlandet"),
        ("g-H-000", "ja", ""),
        ("g-B1a-000", "ja", ""),
        ("g-B2-000", "ja", ""), // digital
        ("g-B3-000", "nei", "telefon"),
        ("g-B4-000", "nei", "utlandet"), // phone and abroad: where comes first
        ("g-C1-000", "ja", ""),          // 90 min
        ("g-C2-000", "nei", "for_kort"), // 89 min
        ("g-D2-000", "nei", "telefon"),
        ("g-G-000", "ja", ""),
        ("g-F1-000", "nei", "ikke_i_ordningen"),
    ] {
        assert_eq!(judged(id), (counted.to_string(), reason.to_string()), "{id}");
    }
    let yes = rows[1..].iter().filter(|r| r[14] == "ja").count();
    assert_eq!(yes, 141);
    for (code, n) in REASONS {
        assert_eq!(rows[1..].iter().filter(|r| r.get(15).is_some_and(|c| c == code)).count() as u64, n, "{code}");
    }
}

fn check_attachments(rows: &[Vec<String>]) {
    assert_eq!(rows[0][..3], ["Aktivitets-ID", "Filnavn", "Innholdstype"]);
    assert_eq!(rows.len() as u64, 1 + ATTACHMENTS);
    assert_eq!(rows[1..].iter().filter(|r| r[1] == "kursbevis.pdf").count(), 12);
    assert_eq!(rows[1..].iter().filter(|r| r[1] == "oppmøteliste.pdf").count(), 20);
}

#[test]
fn the_workbook_read_back_with_calamine_has_the_hand_counted_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let path = generate(ExportFormat::Excel, "likeperson", tmp.path());
    let wb: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
    assert_eq!(wb.sheet_names(), SHEETS);
    check_summary(&xlsx_sheet(&path, "Sammendrag"));
    check_participants(&xlsx_sheet(&path, "Deltakere"));
    check_geography(&xlsx_sheet(&path, "Geografi"));
    check_control(&xlsx_sheet(&path, "Kontroll"));
    check_volunteers(&xlsx_sheet(&path, "Frivillige"));
    check_activities(&xlsx_sheet(&path, "Aktiviteter"));
    check_attachments(&xlsx_sheet(&path, "Vedlegg"));

    let cover = xlsx_sheet(&path, "Forside");
    assert_eq!(find(&cover, "Rapportprofil")[1], "likeperson");
    assert_eq!(find(&cover, "Organisasjon")[1], "Foreningen for pårørende");
    assert_eq!(find(&cover, "Organisasjonsnummer")[1], "974760673");
    assert_eq!(find(&cover, "Organisasjons-ID")[1], "org-golden");
    assert_eq!(
        find(&cover, "Tilskuddsordning")[1],
        "Tilskudd til funksjonshemmedes organisasjoner (likepersonsarbeid)"
    );
    assert_eq!(find(&cover, "Prikkegrense")[1], "5");
    assert_eq!(find(&cover, "Tellende aktiviteter")[1], "141");
    assert!(find(&cover, "Periode fra")[1].starts_with("serial:"), "a real date");
    assert_eq!(find(&cover, "Sjekksum for dataene (SHA-256)")[1].len(), 64);

    // The month table feeds a chart, and every sheet prints landscape.
    let chart = String::from_utf8(zip_entry(&path, "xl/charts/chart1.xml")).unwrap();
    assert!(chart.contains("<c:grouping val=\"stacked\"/>") && chart.contains("Sammendrag!$A$12:$A$23"), "{chart}");
    // Its category axis names months; LibreOffice would show date serials otherwise.
    assert!(chart.contains("formatCode=\"[$-414]mmm yyyy\""), "{chart}");
    // A header word never breaks, so every column is at least as wide as its
    // headers' longest words (Sammendrag's month table shares its columns).
    let summary = String::from_utf8(zip_entry(&path, "xl/worksheets/sheet2.xml")).unwrap();
    let width = |col: usize| -> f64 {
        let attr = |tag: &str, name: &str| -> f64 {
            let at = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            tag[at..at + tag[at..].find('"').unwrap()].parse().unwrap()
        };
        summary
            .split("<col ")
            .skip(1)
            .map(|tag| (attr(tag, "min"), attr(tag, "max"), attr(tag, "width")))
            .find(|(min, max, _)| (*min..=*max).contains(&(col as f64)))
            .unwrap_or_else(|| panic!("no width for column {col}"))
            .2
    };
    for (i, t) in ActivityType::ALL.iter().enumerate() {
        let word = t.label_nb().split(' ').map(|w| w.chars().count()).max().unwrap() as f64;
        assert!(width(i + 2) >= word + 1.0, "column {} ({}) is {} wide", i + 2, t.label_nb(), width(i + 2));
    }
    for n in 1..=8 {
        let xml = String::from_utf8(zip_entry(&path, &format!("xl/worksheets/sheet{n}.xml"))).unwrap();
        assert!(xml.contains("orientation=\"landscape\"") && xml.contains("fitToHeight=\"0\""), "sheet{n}");
    }
}

#[test]
fn csv_carries_the_same_rows_as_the_workbook() {
    let tmp = tempfile::tempdir().unwrap();
    let xlsx = generate(ExportFormat::Excel, "likeperson", tmp.path());
    let zip = generate(ExportFormat::Csv, "likeperson", tmp.path());
    let names: Vec<String> =
        zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap().file_names().map(String::from).collect();
    for s in SHEETS {
        assert!(names.contains(&format!("{s}.csv")), "{s}.csv in {names:?}");
    }
    check_summary(&csv_sheet(&zip, "Sammendrag"));
    check_participants(&csv_sheet(&zip, "Deltakere"));
    check_geography(&csv_sheet(&zip, "Geografi"));
    check_control(&csv_sheet(&zip, "Kontroll"));
    check_volunteers(&csv_sheet(&zip, "Frivillige"));
    check_activities(&csv_sheet(&zip, "Aktiviteter"));
    check_attachments(&csv_sheet(&zip, "Vedlegg"));
    // Cell for cell, where neither side holds a date.
    for s in ["Deltakere", "Geografi", "Kontroll", "Vedlegg"] {
        assert_eq!(csv_sheet(&zip, s), xlsx_sheet(&xlsx, s), "{s}");
    }
    assert_eq!(csv_sheet(&zip, "Sammendrag")[..8], xlsx_sheet(&xlsx, "Sammendrag")[..8]);
}

fn json_table(t: &Value) -> Vec<Vec<String>> {
    let cell = |v: &Value| if v.is_null() { ":".to_string() } else { v.to_string() };
    let mut rows: Vec<Vec<String>> = t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut cells: Vec<String> = r["cells"].as_array().unwrap().iter().map(cell).collect();
            cells.push(r["total"].to_string());
            cells
        })
        .collect();
    let mut totals: Vec<String> = t["column_totals"].as_array().unwrap().iter().map(cell).collect();
    totals.push(t["total"].to_string());
    rows.push(totals);
    rows
}

#[test]
fn json_carries_the_same_figures_and_meets_its_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let path = generate(ExportFormat::Json, "likeperson", tmp.path());
    let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();

    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The schema does bite: a hidden cell written as ":" is not a count.
    let mut bad = v.clone();
    bad["participants"]["by_gender"]["rows"][0]["cells"][2] = Value::from(":");
    assert!(!validator.is_valid(&bad));

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
    let s = &v["summary"];
    let mut got: Vec<&Value> = s["by_type"].as_array().unwrap().iter().collect();
    got.push(&s["total"]);
    for (entry, (label, want)) in got.iter().zip(expected_summary()) {
        for (k, w) in keys.iter().zip(want) {
            assert!((entry[k].as_f64().unwrap() - w).abs() < 1e-9, "{label} {k}: {} != {w}", entry[k]);
        }
    }
    for (m, want) in MONTHS.iter().enumerate() {
        let month = &s["months"][m];
        assert_eq!(month["month"], format!("2025-{:02}", m + 1));
        assert_eq!(month["countable_by_type"], serde_json::json!(want));
    }

    let as_strings =
        |t: &[[&str; 5]]| t.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect::<Vec<Vec<String>>>();
    assert_eq!(json_table(&v["participants"]["by_gender"]), as_strings(&GENDER));
    let age: Vec<Vec<String>> = AGE.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(json_table(&v["participants"]["by_age"]), age);

    let geo = &v["geography"];
    let fylker: Vec<Vec<String>> = FYLKER.iter().map(|(_, _, r)| r.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(json_table(&geo["fylker"]), fylker);
    let keys: Vec<&str> =
        geo["fylker"]["rows"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, FYLKER[..6].iter().map(|(k, _, _)| *k).collect::<Vec<_>>());
    let kommuner: Vec<&str> =
        geo["kommuner"].as_array().unwrap().iter().map(|k| k["kommunenummer"].as_str().unwrap()).collect();
    assert_eq!(kommuner, ["1103", "5001"]);
    assert_eq!(geo["kommuner"][1]["by_type"], serde_json::json!([40, 0, 48, 0, 0, 0]));
    assert_eq!(geo["kommuner_left_out"], KOMMUNER_LEFT_OUT);

    let c = &v["control"];
    assert_eq!((c["activities_read"].as_u64(), c["countable_activities"].as_u64()), (Some(254), Some(141)));
    for (entry, (code, n)) in c["not_counted"].as_array().unwrap().iter().zip(REASONS) {
        assert_eq!((entry["code"].as_str().unwrap(), entry["activities"].as_u64().unwrap()), (code, n));
    }
    assert_eq!(c["hidden_cells"], HIDDEN_CELLS);
    assert_eq!(c["attachments"], ATTACHMENTS);
    assert_eq!(v["attachments"].as_array().unwrap().len() as u64, ATTACHMENTS);
    let acts = v["activities"].as_array().unwrap();
    assert_eq!(acts.iter().filter(|a| a["counted"] == true).count(), 141);
    let a2 = acts.iter().find(|a| a["activity_id"] == "g-A2-000").unwrap();
    assert_eq!((&a2["counted"], &a2["not_counted_reason"]), (&Value::from(false), &Value::from("for_kort")));
}

#[test]
fn the_standard_profile_counts_everything_held_in_norway() {
    let tmp = tempfile::tempdir().unwrap();
    let path = generate(ExportFormat::Json, "standard", tmp.path());
    let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // Only A5 (10) and B4 (5) were held abroad.
    assert_eq!(v["summary"]["total"]["countable_activities"], 239);
    assert_eq!(v["control"]["not_counted"][0]["activities"], 15);
    assert_eq!(v["report"]["report_profile"], "standard");
    // Standard keeps the figures that do not depend on counting.
    assert_eq!(v["summary"]["total"]["participations"], 812);
}

// ---- include_attachments: the bundle ----

/// The golden activities' attachment files in a folder, each holding its
/// own key as content, except `MISSING_KEY`'s.
const MISSING_KEY: &str = "org-golden/vedlegg/E1/7";

fn attachment_store(dir: &Path) -> PathBuf {
    let root = dir.join("attachments");
    for a in activities() {
        for att in a.attachments.iter().filter(|att| att.key != MISSING_KEY) {
            let path = root.join(&att.key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, att.key.repeat(100)).unwrap();
        }
    }
    root
}

fn bundle(profile: &str, dir: &Path) -> Result<shared::report::ReportOutput, ReportError> {
    let store = attachment_store(dir);
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut fetch = |key: &str, local: &Path| {
        let src = store.join(key);
        Ok(src.is_file() && std::fs::copy(&src, local).is_ok())
    };
    write_bundle(&meta(ExportFormat::Excel, profile), &out, activities().into_iter().map(Ok), |_| true, &mut fetch)
}

#[test]
fn the_bundle_carries_the_report_the_files_and_a_manifest_that_checks_out() {
    let tmp = tempfile::tempdir().unwrap();
    // likeperson lists a missing file instead of failing.
    let out = bundle("likeperson", tmp.path()).unwrap();
    assert_eq!(out.filename, "bufdir-org-golden-2025-01-01-2025-12-31-med-vedlegg.zip");
    assert_eq!(out.content_type, "application/zip");
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("out")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, [std::ffi::OsString::from(&out.filename)], "only the bundle is left");

    let mut archive = zip::ZipArchive::new(std::fs::File::open(&out.path).unwrap()).unwrap();
    let names: Vec<String> = archive.file_names().map(String::from).collect();
    let report = "bufdir-org-golden-2025-01-01-2025-12-31.xlsx";
    assert!(names.contains(&report.to_string()) && names.contains(&"manifest.json".to_string()), "{names:?}");
    let files: Vec<&String> = names.iter().filter(|n| n.starts_with("vedlegg/")).collect();
    assert_eq!(files.len() as u64, ATTACHMENTS - 1);
    assert!(files.contains(&&"vedlegg/g-C1-000/kursbevis.pdf".to_string()), "{files:?}");

    let manifest: Value = serde_json::from_slice(&zip_entry(&out.path, "manifest.json")).unwrap();
    let listed = manifest["attachments"].as_array().unwrap();
    assert_eq!(listed.len() as u64, ATTACHMENTS - 1);
    for entry in listed {
        let body = zip_entry(&out.path, entry["file"].as_str().unwrap());
        assert_eq!(entry["size_bytes"], body.len());
        assert_eq!(entry["sha256"], hex::encode(Sha256::digest(&body)));
        assert!(entry["name"] == "kursbevis.pdf" || entry["name"] == "oppmøteliste.pdf", "{entry}");
    }
    assert_eq!(manifest["missing"], serde_json::json!([{"activity_id": "g-E1-007", "name": "oppmøteliste.pdf"}]));
    let inner = zip_entry(&out.path, report);
    assert_eq!(manifest["report"]["file"], report);
    assert_eq!(manifest["report"]["sha256"], hex::encode(Sha256::digest(&inner)));

    // The workbook inside is the golden one, with the files' sizes on Vedlegg.
    let xlsx = tmp.path().join("inner.xlsx");
    std::fs::write(&xlsx, &inner).unwrap();
    check_summary(&xlsx_sheet(&xlsx, "Sammendrag"));
    let vedlegg = xlsx_sheet(&xlsx, "Vedlegg");
    assert_eq!(vedlegg[0], ["Aktivitets-ID", "Filnavn", "Innholdstype", "Størrelse (byte)", "SHA-256", "I pakken"]);
    assert_eq!(vedlegg[1..].iter().filter(|r| r[5] == "ja").count() as u64, ATTACHMENTS - 1);
    let missing: Vec<&Vec<String>> = vedlegg[1..].iter().filter(|r| r[5] == "mangler").collect();
    assert_eq!(missing.len(), 1);
    assert_eq!((missing[0][0].as_str(), missing[0][3].as_str()), ("g-E1-007", ""));
    let c1 = vedlegg.iter().find(|r| r[0] == "g-C1-000").unwrap();
    assert_eq!(c1[3], "2300", "'org-golden/vedlegg/C1/0' written 100 times");
    let control = xlsx_sheet(&xlsx, "Kontroll");
    assert_eq!(find(&control, "Vedleggsfiler med i pakken")[2], (ATTACHMENTS - 1).to_string());
    assert_eq!(find(&control, "Vedleggsfiler som mangler")[2], "1");
    archive.by_name("manifest.json").unwrap();
}

#[test]
fn a_missing_attachment_fails_the_standard_profile_naming_it_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    match bundle("standard", tmp.path()) {
        Err(e @ ReportError::MissingAttachment { .. }) => {
            let message = e.to_string();
            assert!(message.contains("oppmøteliste.pdf") && message.contains("g-E1-007"), "{message}");
        }
        other => panic!("expected the missing attachment to fail the export, got {:?}", other.map(|o| o.filename)),
    }
    assert_eq!(std::fs::read_dir(tmp.path().join("out")).unwrap().count(), 0, "nothing half-written is left");
}
