//! A sample activity, export and import, for the unit tests of this crate and of
//! the crates built on it (feature `fixtures`).

use chrono::{DateTime, NaiveDate, Utc};

use super::{
    Activity, ExportFormat, ExportId, ExportJob, ImportFormat, ImportId, ImportJob, ImportStatus, Period, RowError,
    ValidRequest,
};

/// The activity record the domain notes document, valid and countable.
pub fn activity() -> Activity {
    serde_json::from_str(
        r#"{"activity_id":"act-000123","org_id":"org-demo","activity_type":"group_session",
 "title":"Samtalegruppe for pårørende","date":"2025-03-04","start_time":"18:00",
 "duration_minutes":90,"mode":"in_person","kommunenummer":"0301","in_norway":true,
 "participants":{"total":8,"new":2,
   "by_gender":{"female":5,"male":3,"other":0,"unknown":0},
   "by_age":{"0-5":0,"6-12":0,"13-17":1,"18-24":2,"25-66":5,"67+":0,"unknown":0}},
 "volunteers":{"count":2,"hours":4.0},"led_by_peer":true,
 "target_groups":["relatives"],
 "attachments":[{"name":"oppmøteliste.pdf","content_type":"application/pdf","key":"org-demo/att-20250304-q7x2mk/oppmøteliste.pdf"}]}"#,
    )
    .unwrap()
}

/// A queued excel export of org-demo's 2025, made on 2026-03-26.
pub fn job() -> ExportJob {
    let at: DateTime<Utc> = "2026-03-26T10:00:00Z".parse().unwrap();
    let request = ValidRequest {
        org_id: None,
        format: ExportFormat::Excel,
        period_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        period_to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        activity_types: vec![],
        include_attachments: false,
        submit_to_bufdir_api: false,
        report_profile: "standard".into(),
    };
    ExportJob::queued(
        ExportId::parse("exp-20260326-xyz789").unwrap(),
        "org-demo".into(),
        request,
        "tester".into(),
        at,
        1,
    )
}

/// An import of org-demo's 2025 that failed on one row, made on 2026-03-26.
pub fn import() -> ImportJob {
    let at: DateTime<Utc> = "2026-03-26T10:00:00Z".parse().unwrap();
    let id = ImportId::parse("imp-20260326-xyz789").unwrap();
    ImportJob {
        upload_key: format!("org-demo/{id}/upload.csv"),
        import_id: id,
        org_id: "org-demo".into(),
        status: ImportStatus::AwaitingUpload,
        format: ImportFormat::Csv,
        replace_period: Some(Period {
            from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        }),
        requested_by: "tester".into(),
        created_at: at,
        updated_at: at,
        upload_expires_at: at + chrono::Duration::hours(1),
        max_upload_bytes: 1 << 20,
        uploaded_at: None,
        finished_at: None,
        rows_total: 3,
        rows_written: 0,
        rows_removed: 0,
        error_count: 1,
        errors: vec![RowError::new(3, Some("dato"), "invalid_value", "not a date: 31.02.2025")],
        error_code: None,
        error_message: None,
        lease_until: None,
        runs: 0,
        version: 1,
    }
}
