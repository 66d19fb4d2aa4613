//! Files that do not import: any bad row fails the whole file, every bad
//! row is named by its line, field and code, and nothing of the file is
//! written, whatever the organisation had before.

use shared::demo;
use shared::domain::{Activity, ImportFormat, ImportStatus, MAX_KEPT_ERRORS};
use shared::import::from_file::{FromFileError, import_file};

use super::{Backend, activity, day, jsonl, sorted};
use crate::conformance::unique_org;

/// A line of the file and the one problem it must be reported with.
type Line = (Vec<u8>, Option<(&'static str, Option<&'static str>)>);

fn good(a: &Activity) -> Line {
    (serde_json::to_vec(a).unwrap(), None)
}

fn bad(body: Vec<u8>, code: &'static str, field: Option<&'static str>) -> Line {
    (body, Some((code, field)))
}

pub async fn bad_rows_fail_the_import_and_write_nothing(b: &Backend) {
    let org = unique_org("bad");
    let earlier: Vec<Activity> = demo::generate(&org, 20, 2025..=2025, 1).collect();
    let job = b.import(&org, ImportFormat::Jsonl, None, &jsonl(&earlier)).await;
    assert_eq!(job.status, ImportStatus::Completed, "{:?}", job.errors);

    // 500 good rows, then a row with each problem between more good ones
    let fresh: Vec<Activity> = demo::generate(&org, 500, 2025..=2025, 7).collect();
    let mut lines: Vec<Line> = fresh.iter().map(good).collect();
    // each with an id of its own, so no row is also a duplicate
    let edit = |id: &str, f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = serde_json::to_value(activity(&org, id, day(2025, 6, 1))).unwrap();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let mut changed = earlier[0].clone();
    changed.title = "Endret tittel".into();
    lines.extend([
        bad(edit("e1", &|v| v["org_id"] = "org-b".into()), "other_organisation", Some("org_id")),
        bad(b"{not json".to_vec(), "invalid_json", None),
        bad(edit("e2", &|v| v["participants"]["new"] = 99.into()), "inconsistent_counts", Some("participants.new")),
        good(&changed),
        bad(edit("e3", &|v| v["diagnosis"] = "secret".into()), "unknown_field", Some("diagnosis")),
        bad(b"\xff\xfe broken".to_vec(), "invalid_utf8", None),
        (Vec::new(), None),
        bad(serde_json::to_vec(&fresh[0]).unwrap(), "duplicate_activity_id", Some("activity_id")),
        bad(edit("e4", &|v| v["date"] = "1999-06-01".into()), "invalid_value", Some("date")),
        bad(edit("e5", &|v| v["kommunenummer"] = "9999".into()), "unknown_kommunenummer", Some("kommunenummer")),
        good(&activity(&org, "last", day(2025, 12, 31))),
    ]);
    let expected: Vec<(u64, &str, Option<&str>)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, (_, problem))| problem.map(|(code, field)| (i as u64 + 1, code, field)))
        .collect();
    let body = lines.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>().join(&b'\n');

    // replacing 2025: a partial write would also have removed what the file leaves out
    let job = b.import(&org, ImportFormat::Jsonl, Some((2025, 2025)), &body).await;
    assert_eq!(job.status, ImportStatus::Failed);
    assert_eq!(job.error_code.as_deref(), Some("invalid_rows"));
    let found: Vec<(u64, &str, Option<&str>)> =
        job.errors.iter().map(|e| (e.line, e.code.as_str(), e.field.as_deref())).collect();
    assert_eq!(found, expected, "each bad row once, by line, code and field");
    assert_eq!(job.error_count, expected.len() as u64);
    let message = |line: u64| job.errors.iter().find(|e| e.line == line).unwrap().message.clone();
    assert!(message(501).contains("org-b"), "{}", message(501));
    assert!(message(503).contains("participants.new"), "{}", message(503));
    assert!(message(505).contains("diagnosis"), "{}", message(505));
    assert!(message(508).contains("line 1"), "names the first line with the id: {}", message(508));
    assert_eq!(
        (job.rows_total, job.rows_written, job.rows_removed),
        (lines.len() as u64 - 1, 0, 0),
        "the blank line is no row"
    );
    assert!(job.error_message.unwrap().contains("nothing was imported"));

    assert_eq!(b.count(&org).await, 20, "nothing written, nothing removed");
    assert_eq!(b.stored(&org).await, sorted(earlier), "the changed title was not written either");
    assert!(b.ctx.uploads.list(&format!("{org}/")).await.unwrap().is_empty(), "a failed import's file is removed");
}

pub async fn problems_past_the_kept_hundred_are_counted(b: &Backend) {
    let org = unique_org("garbage");
    const LINES: u64 = 150;
    let body: String = (0..LINES).map(|i| format!("{{\"line\": {i}}}\n")).collect();
    let job = b.import(&org, ImportFormat::Jsonl, None, body.as_bytes()).await;
    assert_eq!((job.status, job.error_code.as_deref()), (ImportStatus::Failed, Some("invalid_rows")));
    // every line has the same problems: the missing fields and the unknown one
    assert_eq!(job.rows_total, LINES, "every row was read");
    let per_line = job.error_count / LINES;
    assert!(per_line >= 2 && job.error_count == per_line * LINES, "{} problems", job.error_count);
    assert_eq!(job.errors.len(), MAX_KEPT_ERRORS, "the first hundred are kept");
    assert!(job.errors.windows(2).all(|w| w[0].line <= w[1].line), "in file order");
    assert_eq!(job.errors[0].line, 1);
    assert_eq!(job.errors.last().unwrap().line, (MAX_KEPT_ERRORS as u64 - 1) / per_line + 1);
    assert!(job.errors.iter().any(|e| (e.code.as_str(), e.field.as_deref()) == ("unknown_field", Some("line"))));
    assert!(job.errors.iter().any(|e| (e.code.as_str(), e.field.as_deref()) == ("missing_value", Some("date"))));

    // a file with no rows, and files whose header or bytes are wrong, fail whole
    for (format, body, code) in [
        (ImportFormat::Jsonl, &b"\n\n"[..], "empty_file"),
        (ImportFormat::Csv, b"aktivitet_id;dato\nx;2025-01-01\n", "missing_columns"),
        (ImportFormat::Csv, b"\xff\xfeaktivitet_id\n", "invalid_utf8"),
        (ImportFormat::Xlsx, b"not a workbook", "unreadable_file"),
    ] {
        let job = b.import(&org, format, None, body).await;
        assert_eq!((job.status, job.error_code.as_deref()), (ImportStatus::Failed, Some(code)), "{format:?}");
        assert!(job.error_message.is_some() && job.errors.is_empty(), "{format:?}: {:?}", job.errors);
    }
    assert_eq!(b.count(&org).await, 0);

    // a file that is not there makes an import that waits for its upload
    let missing = b.file("gone.jsonl", b"");
    std::fs::remove_file(&missing).unwrap();
    let uploads = b.ctx.uploads.as_ref();
    let outcome = import_file(&b.service, uploads, &b.ctx, &org, ImportFormat::Jsonl, None, &missing).await;
    assert!(matches!(outcome, Err(FromFileError::Storage(_))), "{outcome:?}");
    assert_eq!(b.listed(&org).await[0].status, ImportStatus::AwaitingUpload);
}

/// A bad row after batches of good ones were handed to the store (a store
/// that imports atomically writes while it checks): still nothing stays.
pub async fn a_bad_row_after_written_batches_leaves_nothing(b: &Backend) {
    let org = unique_org("late-bad");
    let earlier: Vec<Activity> = demo::generate(&org, 10, 2025..=2025, 2).collect();
    let job = b.import(&org, ImportFormat::Jsonl, None, &jsonl(&earlier)).await;
    assert_eq!(job.status, ImportStatus::Completed, "{:?}", job.errors);

    let fresh: Vec<Activity> = demo::generate(&org, 2600, 2025..=2025, 9).collect();
    let mut body = jsonl(&fresh[..2500]);
    body.extend_from_slice(b"{\"activity_id\": \"broken\"}\n");
    body.extend(jsonl(&fresh[2500..]));
    let job = b.import(&org, ImportFormat::Jsonl, None, &body).await;
    assert_eq!((job.status, job.error_code.as_deref()), (ImportStatus::Failed, Some("invalid_rows")));
    assert_eq!(job.rows_total, 2601);
    assert!(job.errors.iter().all(|e| e.line == 2501), "{:?}", job.errors);
    assert_eq!(job.rows_written, 0);
    assert_eq!(b.stored(&org).await, sorted(earlier), "the earlier activities, and none of the file's");
}

/// The template's example row `rows` times (ids `{prefix}-{n}`, all on
/// 2025-03-04), as a workbook.
fn workbook(prefix: &str, rows: u32) -> Vec<u8> {
    use shared::import::columns::COLUMNS;
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet().set_name(shared::import::xlsx::SHEET).unwrap();
    for row in 0..=rows {
        for (c, column) in COLUMNS.iter().enumerate() {
            let value = match row {
                0 => column.header.to_string(),
                n if column.path == "activity_id" => format!("{prefix}-{n}"),
                _ => column.example.to_string(),
            };
            ws.write_string(row, c as u16, value).unwrap();
        }
    }
    wb.save_to_buffer().unwrap()
}

/// `body` with the last shared-string cell of its sheet pointing past the
/// workbook's strings, as a damaged file can: the reader breaks there.
fn broken_at_the_end(body: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).unwrap();
        let name = part.name().to_string();
        let mut bytes = Vec::new();
        part.read_to_end(&mut bytes).unwrap();
        if name.starts_with("xl/worksheets/") {
            let xml = String::from_utf8(bytes).unwrap();
            let at = xml.rfind("t=\"s\"><v>").unwrap() + "t=\"s\"><v>".len();
            let end = at + xml[at..].find("</v>").unwrap();
            bytes = format!("{}999999{}", &xml[..at], &xml[end..]).into_bytes();
        }
        out.start_file(name.as_str(), zip::write::SimpleFileOptions::default()).unwrap();
        out.write_all(&bytes).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// A workbook that cannot be read to its end fails as unreadable, even
/// after batches of its rows were written and with a period to replace:
/// its rows so far are not taken for the whole file.
pub async fn a_workbook_broken_part_way_changes_nothing(b: &Backend) {
    let org = unique_org("broken-xlsx");
    let job = b.import(&org, ImportFormat::Xlsx, None, &workbook("kept", 30)).await;
    assert_eq!(job.status, ImportStatus::Completed, "{:?} {:?}", job.error_message, job.errors);
    let before = b.stored(&org).await;
    assert_eq!(before.len(), 30);

    let broken = broken_at_the_end(&workbook("new", 2600));
    let job = b.import(&org, ImportFormat::Xlsx, Some((2025, 2025)), &broken).await;
    assert_eq!((job.status, job.error_code.as_deref()), (ImportStatus::Failed, Some("unreadable_file")));
    assert_eq!((job.rows_written, job.rows_removed), (0, 0));
    assert_eq!(b.stored(&org).await, before, "nothing written, nothing removed");
}
