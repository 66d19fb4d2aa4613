//! Demo data generation and JSON Lines import against a real SQLite store.

use std::collections::HashSet;
use std::io::Cursor;

use chrono::{Datelike, NaiveDate, Weekday};
use futures::StreamExt;
use shared::adapters::embedded::{DataDir, SqliteActivities};
use shared::demo::{self, ImportError, MAX_REPORTED_ERRORS};
use shared::domain::{Activity, ActivityType, Mode};
use shared::ports::{ActivityQuery, ActivitySource};

fn store() -> (tempfile::TempDir, SqliteActivities) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(tmp.path()).unwrap();
    let store = SqliteActivities::open(&dir.db_path()).unwrap();
    (tmp, store)
}

fn whole_range(org: &str) -> ActivityQuery {
    ActivityQuery {
        org_id: org.into(),
        from: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2100, 12, 31).unwrap(),
        types: vec![],
    }
}

async fn stored(store: &SqliteActivities, org: &str) -> Vec<Activity> {
    store.stream(whole_range(org)).map(|r| r.unwrap()).collect().await
}

#[test]
fn seed_is_deterministic_and_seed_dependent() {
    let a: Vec<Activity> = demo::generate("org-demo", 500, 2024..=2025, 7).collect();
    let b: Vec<Activity> = demo::generate("org-demo", 500, 2024..=2025, 7).collect();
    let c: Vec<Activity> = demo::generate("org-demo", 500, 2024..=2025, 8).collect();
    assert_eq!(a, b);
    assert_ne!(a.iter().map(|x| &x.title).collect::<Vec<_>>(), c.iter().map(|x| &x.title).collect::<Vec<_>>());
    // a prefix of a longer run is the shorter run
    let longer: Vec<Activity> = demo::generate("org-demo", 1000, 2024..=2025, 7).take(500).collect();
    assert_eq!(a, longer);
}

#[test]
fn seeded_activities_are_valid_and_varied() {
    const N: usize = 10_000;
    let mut ids = HashSet::new();
    let mut types = HashSet::new();
    let mut modes = HashSet::new();
    let mut kommuner = HashSet::new();
    let (mut weekend, mut abroad, mut with_volunteers, mut new_total) = (0, 0, 0, 0u64);
    for a in demo::generate("org-demo", N as u64, 2023..=2025, 99) {
        assert!(a.problems().is_empty(), "{}: {:?}", a.activity_id, a.problems());
        assert_eq!(a.org_id, "org-demo");
        assert!((2023..=2025).contains(&a.date.year()));
        assert!((30..=180).contains(&a.duration_minutes) && a.duration_minutes % 15 == 0);
        assert!(a.volunteers.count <= 4);
        assert_eq!(a.volunteers.count == 0, a.volunteers.hours == 0.0);
        assert!(a.attachments.is_empty());
        assert!(!a.title.is_empty() && !a.target_groups.is_empty());
        if a.mode == Mode::Phone {
            assert_eq!(a.activity_type, ActivityType::IndividualCounseling);
        }
        ids.insert(a.activity_id.clone());
        types.insert(a.activity_type);
        modes.insert(a.mode);
        kommuner.insert(a.kommunenummer.clone());
        weekend += matches!(a.date.weekday(), Weekday::Sat | Weekday::Sun) as usize;
        abroad += (!a.in_norway) as usize;
        with_volunteers += (a.volunteers.count > 0) as usize;
        new_total += u64::from(a.participants.new);
    }
    assert_eq!(ids.len(), N, "activity ids are unique");
    assert_eq!(types.len(), ActivityType::ALL.len());
    assert_eq!(modes.len(), 3);
    assert!(kommuner.contains("0301") && kommuner.len() >= 10);
    assert!(weekend > 0 && weekend < N / 5, "mostly weekdays: {weekend} of {N} on weekends");
    assert!(abroad > 0 && abroad < N / 10);
    assert!(with_volunteers > N / 2);
    assert!(new_total > 0);
}

#[tokio::test]
async fn seeding_stores_every_activity_and_reseeding_replaces_them() {
    let (_tmp, store) = store();
    assert_eq!(store.insert_all(demo::generate("org-a", 3_000, 2025..=2025, 1)).await.unwrap(), 3_000);
    assert_eq!(store.insert_all(demo::generate("org-a", 3_000, 2025..=2025, 1)).await.unwrap(), 3_000);
    assert_eq!(store.count(&whole_range("org-a")).await.unwrap(), 3_000);
    assert_eq!(store.count(&whole_range("org-b")).await.unwrap(), 0);
}

fn jsonl(activities: &[Activity]) -> String {
    activities.iter().map(|a| serde_json::to_string(a).unwrap() + "\n").collect()
}

#[test]
fn parse_jsonl_names_each_bad_line() {
    let good: Vec<Activity> = demo::generate("org-a", 3, 2025..=2025, 5).collect();
    let mut wrong_org = good[0].clone();
    wrong_org.org_id = "org-b".into();
    let mut inconsistent = good[1].clone();
    inconsistent.participants.new = inconsistent.participants.total + 1;
    let mut unknown_field = serde_json::to_value(&good[2]).unwrap();
    unknown_field["diagnosis"] = "secret".into();
    let text = format!(
        "{}\n   \n{}\n{{not json\n{}\n{}\n{}",
        serde_json::to_string(&good[0]).unwrap(),
        serde_json::to_string(&wrong_org).unwrap(),
        serde_json::to_string(&inconsistent).unwrap(),
        unknown_field,
        serde_json::to_string(&good[2]).unwrap(), // last line without a newline
    );
    let results: Vec<_> = demo::parse_jsonl(Cursor::new(text), "org-a").collect();
    assert_eq!(results.len(), 6, "the blank line is skipped");
    assert_eq!(results[0].as_ref().unwrap(), &good[0]);
    let err = |i: usize| results[i].as_ref().unwrap_err();
    assert_eq!(err(1).line, 3);
    assert!(err(1).message.contains("org-b"), "{}", err(1).message);
    assert_eq!(err(2).line, 4);
    assert_eq!(err(3).line, 5);
    assert!(err(3).message.contains("participants.new"), "{}", err(3).message);
    assert_eq!(err(4).line, 6);
    assert!(err(4).message.contains("diagnosis"), "{}", err(4).message);
    assert_eq!(results[5].as_ref().unwrap(), &good[2]);
    assert_eq!(err(4).to_string(), format!("line 6: {}", err(4).message));
}

#[test]
fn parse_jsonl_survives_bad_utf8() {
    let good = serde_json::to_string(&demo::generate("org-a", 1, 2025..=2025, 5).next().unwrap()).unwrap();
    let mut bytes = b"\xff\xfe broken\n".to_vec();
    bytes.extend_from_slice(good.as_bytes());
    let results: Vec<_> = demo::parse_jsonl(Cursor::new(bytes), "org-a").collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].as_ref().unwrap_err().line, 1);
    assert!(results[1].is_ok());
}

#[tokio::test]
async fn import_is_all_or_nothing() {
    let (tmp, store) = store();
    let activities: Vec<Activity> = demo::generate("org-a", 2_000, 2025..=2025, 3).collect();

    // one bad line near the end: nothing of the file is stored
    let mut bad = activities.clone();
    bad[1_500].duration_minutes = 0;
    let path = tmp.path().join("bad.jsonl");
    std::fs::write(&path, jsonl(&bad)).unwrap();
    match demo::import_file(&store, "org-a", &path).await {
        Err(ImportError::BadLines { lines, more }) => {
            assert_eq!(lines.len(), 1);
            assert_eq!(lines[0].line, 1_501);
            assert!(lines[0].message.contains("duration_minutes"), "{}", lines[0].message);
            assert!(!more);
        }
        other => panic!("expected bad lines, got {other:?}"),
    }
    assert_eq!(store.count(&whole_range("org-a")).await.unwrap(), 0);

    // the good file goes in whole
    let path = tmp.path().join("good.jsonl");
    std::fs::write(&path, jsonl(&activities)).unwrap();
    assert_eq!(demo::import_file(&store, "org-a", &path).await.unwrap(), 2_000);
    assert_eq!(store.count(&whole_range("org-a")).await.unwrap(), 2_000);

    // a bad re-import leaves the earlier import untouched
    let mut changed = activities.clone();
    changed[0].title = "Endret tittel".into();
    changed[10].org_id = "org-other".into();
    let path = tmp.path().join("changed.jsonl");
    std::fs::write(&path, jsonl(&changed)).unwrap();
    assert!(matches!(demo::import_file(&store, "org-a", &path).await, Err(ImportError::BadLines { .. })));
    let mut expected = activities.clone();
    expected.sort_by(|a, b| (a.date, &a.activity_id).cmp(&(b.date, &b.activity_id)));
    assert_eq!(stored(&store, "org-a").await, expected);
}

#[tokio::test]
async fn import_stops_after_enough_bad_lines() {
    let (tmp, store) = store();
    let mut text = String::new();
    for i in 0..100 {
        text.push_str(&format!("{{\"line\": {i}}}\n"));
    }
    let path = tmp.path().join("garbage.jsonl");
    std::fs::write(&path, text).unwrap();
    match demo::import_file(&store, "org-a", &path).await {
        Err(ImportError::BadLines { lines, more }) => {
            assert_eq!(lines.len(), MAX_REPORTED_ERRORS);
            assert_eq!(lines.iter().map(|l| l.line).collect::<Vec<_>>(), (1..=MAX_REPORTED_ERRORS).collect::<Vec<_>>());
            assert!(more);
        }
        other => panic!("expected bad lines, got {other:?}"),
    }
    assert!(matches!(
        demo::import_file(&store, "org-a", &tmp.path().join("missing.jsonl")).await,
        Err(ImportError::Io(_))
    ));
}

#[tokio::test]
async fn the_documented_example_imports() {
    let (tmp, store) = store();
    let path = tmp.path().join("example.jsonl");
    let example = r#"{"activity_id":"act-000123","org_id":"org-demo","activity_type":"group_session","title":"Samtalegruppe for pårørende","date":"2025-03-04","start_time":"18:00","duration_minutes":90,"mode":"in_person","kommunenummer":"0301","in_norway":true,"participants":{"total":8,"new":2,"by_gender":{"female":5,"male":3,"other":0,"unknown":0},"by_age":{"0-5":0,"6-12":0,"13-17":1,"18-24":2,"25-66":5,"67+":0,"unknown":0}},"volunteers":{"count":2,"hours":4.0},"led_by_peer":true,"target_groups":["relatives"],"attachments":[{"name":"oppmøteliste.pdf","content_type":"application/pdf","key":"k1"}]}"#;
    std::fs::write(&path, format!("{example}\n")).unwrap();
    assert_eq!(demo::import_file(&store, "org-demo", &path).await.unwrap(), 1);
    let back = stored(&store, "org-demo").await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].attachments[0].name, "oppmøteliste.pdf");
}
