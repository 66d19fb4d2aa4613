//! Demo data generation, and seeding it into a real SQLite store. Files
//! are imported by the import path, tested in `import_runs`.

use std::collections::HashSet;

use chrono::{Datelike, NaiveDate, Weekday};
use shared::adapters::embedded::{DataDir, SqliteActivities};
use shared::demo;
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
