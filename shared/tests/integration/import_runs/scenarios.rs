//! Files that import: a large JSON Lines file, the documented example,
//! the templates the API serves, and a file that replaces a period.

use shared::demo;
use shared::domain::{Activity, ImportFormat, ImportStatus};

use super::{Backend, activity, day, jsonl, sorted};
use crate::conformance::unique_org;

/// The record the activity notes document, without `org_id`: a row takes
/// its import's organisation (which its attachment's key starts with).
const DOCUMENTED: &str = r#"{"activity_id":"act-000123","activity_type":"group_session","title":"Samtalegruppe for pårørende","date":"2025-03-04","start_time":"18:00","duration_minutes":90,"mode":"in_person","kommunenummer":"0301","in_norway":true,"participants":{"total":8,"new":2,"by_gender":{"female":5,"male":3,"other":0,"unknown":0},"by_age":{"0-5":0,"6-12":0,"13-17":1,"18-24":2,"25-66":5,"67+":0,"unknown":0}},"volunteers":{"count":2,"hours":4.0},"led_by_peer":true,"target_groups":["relatives"],"attachments":[{"name":"oppmøteliste.pdf","content_type":"application/pdf","key":"ORG/att-20250304-q7x2mk/oppmøteliste.pdf"}]}"#;

const TEMPLATE_CSV: &[u8] = include_bytes!("../../../core/templates/activities.csv");
const TEMPLATE_XLSX: &[u8] = include_bytes!("../../../core/templates/activities.xlsx");

pub async fn a_good_file_imports_whole(b: &Backend) {
    const N: u64 = 1_200;
    let org = unique_org("good");
    let activities: Vec<Activity> = demo::generate(&org, N, 2025..=2025, 3).collect();
    let job = b.import(&org, ImportFormat::Jsonl, None, &jsonl(&activities)).await;
    assert_eq!(job.status, ImportStatus::Completed, "{:?} {:?}", job.error_message, job.errors);
    assert_eq!((job.rows_total, job.rows_written, job.rows_removed), (N, N, 0));
    assert_eq!((job.error_count, job.errors.len(), job.error_code.as_deref()), (0, 0, None));
    assert!(job.finished_at.is_some() && job.uploaded_at.is_some());
    assert_eq!(job.lease_until, None, "a finished run lets go of its import");
    assert_eq!(b.count(&org).await, N);
    assert_eq!(b.stored(&org).await, sorted(activities));
    assert!(b.ctx.uploads.list(&format!("{org}/")).await.unwrap().is_empty(), "the upload is removed");
    assert_eq!(b.listed(&org).await, vec![job.clone()], "listed as it ended");

    // the documented record, with a byte order mark, a blank line and no
    // newline at the end; it replaces nothing of the first file
    let second = activity(&org, "act-000124", day(2025, 3, 5));
    let documented = DOCUMENTED.replace("ORG/", &format!("{org}/"));
    let body = format!("\u{feff}{documented}\n  \n{}", serde_json::to_string(&second).unwrap());
    let job = b.import(&org, ImportFormat::Jsonl, None, body.as_bytes()).await;
    assert_eq!(job.status, ImportStatus::Completed, "{:?}", job.errors);
    assert_eq!((job.rows_total, job.rows_written), (2, 2));
    assert_eq!(b.count(&org).await, N + 2);
    let documented = b.stored(&org).await.into_iter().find(|a| a.activity_id == "act-000123").unwrap();
    assert_eq!(documented.org_id, org);
    assert_eq!(documented.attachments[0].name, "oppmøteliste.pdf");
    assert_eq!(documented.participants.by_age.unknown, 0);
    assert_eq!(b.listed(&org).await.len(), 2);
}

pub async fn the_served_templates_import_as_they_are(b: &Backend) {
    let (from_csv, from_xlsx) = (unique_org("template-csv"), unique_org("template-xlsx"));
    for (org, format, body) in
        [(&from_csv, ImportFormat::Csv, TEMPLATE_CSV), (&from_xlsx, ImportFormat::Xlsx, TEMPLATE_XLSX)]
    {
        let job = b.import(org, format, None, body).await;
        assert_eq!(job.status, ImportStatus::Completed, "{format:?}: {:?} {:?}", job.error_message, job.errors);
        assert_eq!((job.rows_total, job.rows_written), (1, 1), "{format:?}: the example row");
    }
    let csv = b.stored(&from_csv).await;
    let xlsx = b.stored(&from_xlsx).await;
    assert_eq!(csv.len(), 1);
    let row = &csv[0];
    assert_eq!(
        (row.activity_id.as_str(), row.date, row.kommunenummer.as_str()),
        ("akt-2025-001", day(2025, 3, 4), "0301")
    );
    assert_eq!((row.participants.total, row.volunteers.hours), (8, 4.5), "a decimal comma");
    assert_eq!(xlsx.len(), 1);
    assert_eq!(Activity { org_id: from_csv.clone(), ..xlsx[0].clone() }, *row, "both templates say the same");
}

pub async fn replace_period_removes_what_the_file_left_out(b: &Backend) {
    let (org, other) = (unique_org("replace"), unique_org("replace-other"));
    let at = |id: &str, date| activity(&org, id, date);
    let before: Vec<Activity> = vec![
        at("a1", day(2025, 1, 1)),
        at("a2", day(2025, 2, 2)),
        at("a3", day(2025, 3, 3)),
        at("a4", day(2025, 4, 4)),
        at("a5", day(2025, 5, 5)),
        at("a6", day(2025, 12, 31)),
        at("b1", day(2024, 12, 31)),
        at("c1", day(2026, 1, 1)),
    ];
    assert_eq!(b.import(&org, ImportFormat::Jsonl, None, &jsonl(&before)).await.rows_written, 8);
    let theirs = vec![activity(&other, "a4", day(2025, 4, 4))];
    assert_eq!(b.import(&other, ImportFormat::Jsonl, Some((2025, 2025)), &jsonl(&theirs)).await.rows_written, 1);

    // 2025 is now a1 (retitled), a2, a3 (moved within the year) and a7
    let mut a1 = at("a1", day(2025, 1, 1));
    a1.title = "Endret tittel".into();
    let file = vec![a1, at("a2", day(2025, 2, 2)), at("a3", day(2025, 11, 11)), at("a7", day(2025, 7, 7))];
    let job = b.import(&org, ImportFormat::Jsonl, Some((2025, 2025)), &jsonl(&file)).await;
    assert_eq!(job.status, ImportStatus::Completed, "{:?}", job.errors);
    assert_eq!((job.rows_written, job.rows_removed), (4, 3), "a4, a5 and a6 removed");
    let expected = sorted([file.clone(), vec![before[6].clone(), before[7].clone()]].concat());
    assert_eq!(b.stored(&org).await, expected, "the years either side are left alone");
    assert_eq!(b.stored(&other).await, theirs, "so is another organisation's a4");

    // a row outside the period it replaces fails the file, which changes nothing
    let stray = vec![at("a8", day(2025, 8, 8)), at("b2", day(2024, 6, 1))];
    let job = b.import(&org, ImportFormat::Jsonl, Some((2025, 2025)), &jsonl(&stray)).await;
    assert_eq!(job.status, ImportStatus::Failed);
    let codes: Vec<(u64, &str)> = job.errors.iter().map(|e| (e.line, e.code.as_str())).collect();
    assert_eq!(codes, vec![(2, "outside_replace_period")]);
    assert_eq!(b.stored(&org).await, expected);

    // the same file again replaces nothing more
    let job = b.import(&org, ImportFormat::Jsonl, Some((2025, 2025)), &jsonl(&file)).await;
    assert_eq!((job.status, job.rows_written, job.rows_removed), (ImportStatus::Completed, 4, 0));
    assert_eq!(b.stored(&org).await, expected);
}
