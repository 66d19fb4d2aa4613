//! What every activity store must do with writes: say whether a write
//! replaced, keep one record per id wherever its date moves, hand out
//! pages that continue exactly where the last one stopped, and take whole
//! imports that may replace a period and may be run again.

use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use shared::demo;
use shared::domain::{Activity, ActivityType, ImportId, Period};
use shared::ports::{ActivityQuery, ActivityStore, ImportOutcome, Stored};

use super::unique_org;

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A valid activity with this org, id, date and type.
pub fn activity(org: &str, id: &str, date: NaiveDate, t: ActivityType) -> Activity {
    let mut a = demo::generate(org, 1, 2025..=2025, 1).next().unwrap();
    a.org_id = org.to_string();
    a.activity_id = id.to_string();
    a.date = date;
    a.activity_type = t;
    a
}

fn query(org: &str, from: NaiveDate, to: NaiveDate) -> ActivityQuery {
    ActivityQuery { org_id: org.to_string(), from, to, types: vec![] }
}

fn year(org: &str, y: i32) -> ActivityQuery {
    query(org, day(y, 1, 1), day(y, 12, 31))
}

/// Everything the organisation has, in report order.
async fn everything(store: &dyn ActivityStore, org: &str) -> Vec<Activity> {
    let q = query(org, day(2000, 1, 1), day(2099, 12, 31));
    store.stream(q).map(|r| r.unwrap()).collect().await
}

async fn ids(store: &dyn ActivityStore, q: ActivityQuery) -> Vec<String> {
    store.stream(q).map(|r| r.unwrap().activity_id).collect().await
}

fn sorted(mut v: Vec<Activity>) -> Vec<Activity> {
    v.sort_by(|a, b| (a.date, &a.activity_id).cmp(&(b.date, &b.activity_id)));
    v
}

pub async fn activity_store_suite(store: &dyn ActivityStore) {
    puts_say_created_then_replaced(store).await;
    a_new_date_moves_the_activity(store).await;
    deletes_touch_one_activity_of_one_organisation(store).await;
    erasing_removes_every_activity_of_one_organisation(store).await;
    pages_continue_without_gaps_or_repeats(store).await;
    imports_add_and_replace_a_period(store).await;
}

async fn puts_say_created_then_replaced(store: &dyn ActivityStore) {
    use ActivityType::GroupSession;
    let org = unique_org("put");
    let a = activity(&org, "a", day(2025, 3, 1), GroupSession);
    let b = activity(&org, "b", day(2025, 3, 2), GroupSession);
    let first = store.put_activities(&org, vec![a.clone(), b.clone()]).await.unwrap();
    assert_eq!(first, vec![Stored::Created, Stored::Created]);

    let mut a2 = a.clone();
    a2.title = "Ny tittel".into();
    let c = activity(&org, "c", day(2025, 3, 3), GroupSession);
    let second = store.put_activities(&org, vec![c.clone(), a2.clone()]).await.unwrap();
    assert_eq!(second, vec![Stored::Created, Stored::Replaced], "in the order given");
    assert_eq!(everything(store, &org).await, vec![a2, b, c]);

    // more than one DynamoDB batch (25) still answers each in order
    let many: Vec<Activity> =
        (0..40).map(|i| activity(&org, &format!("m{i:02}"), day(2025, 4, 1), GroupSession)).collect();
    let stored = store.put_activities(&org, many[..30].to_vec()).await.unwrap();
    assert_eq!(stored, vec![Stored::Created; 30]);
    let stored = store.put_activities(&org, many.clone()).await.unwrap();
    let expected: Vec<Stored> = (0..40).map(|i| if i < 30 { Stored::Replaced } else { Stored::Created }).collect();
    assert_eq!(stored, expected);

    // another organisation's activity is refused, and nothing of the batch is stored
    let foreign = activity(&unique_org("put-foreign"), "z", day(2025, 3, 1), GroupSession);
    let mixed = vec![activity(&org, "n", day(2025, 5, 1), GroupSession), foreign];
    assert!(store.put_activities(&org, mixed).await.is_err());
    assert!(!ids(store, year(&org, 2025)).await.contains(&"n".to_string()));
}

async fn a_new_date_moves_the_activity(store: &dyn ActivityStore) {
    let org = unique_org("move");
    let march = query(&org, day(2025, 3, 1), day(2025, 3, 31));
    let a = activity(&org, "a", day(2025, 3, 15), ActivityType::OpenMeeting);
    store.put_activities(&org, vec![a.clone()]).await.unwrap();
    assert_eq!(store.count(&march).await.unwrap(), 1);

    let mut moved = a.clone();
    moved.date = day(2024, 11, 2);
    assert_eq!(store.put_activities(&org, vec![moved.clone()]).await.unwrap(), vec![Stored::Replaced]);
    assert_eq!(store.count(&march).await.unwrap(), 0, "the old date's period no longer sees it");
    assert!(store.activity_page(&march, None, 10).await.unwrap().is_empty());
    assert_eq!(everything(store, &org).await, vec![moved.clone()], "one record, under its new date");

    // and back again, by an import this time
    let mut writer = store.begin_import(&org, &ImportId::generate(Utc::now().date_naive()), None).await.unwrap();
    writer.write(vec![a.clone()]).await.unwrap();
    writer.finish().await.unwrap();
    assert_eq!(store.count(&year(&org, 2024)).await.unwrap(), 0);
    assert_eq!(everything(store, &org).await, vec![a]);
}

async fn deletes_touch_one_activity_of_one_organisation(store: &dyn ActivityStore) {
    let (org, other) = (unique_org("delete"), unique_org("delete-other"));
    let t = ActivityType::GroupSession;
    store
        .put_activities(&org, vec![activity(&org, "a", day(2025, 1, 1), t), activity(&org, "b", day(2025, 1, 1), t)])
        .await
        .unwrap();
    store.put_activities(&other, vec![activity(&other, "a", day(2025, 1, 1), t)]).await.unwrap();

    assert!(store.delete_activity(&org, "a").await.unwrap());
    assert!(!store.delete_activity(&org, "a").await.unwrap(), "gone already");
    assert!(!store.delete_activity(&org, "never").await.unwrap());
    assert_eq!(ids(store, year(&org, 2025)).await, vec!["b"]);
    assert_eq!(ids(store, year(&other, 2025)).await, vec!["a"], "the other organisation's 'a' stays");

    // a deleted id can be stored again, as new
    let again = store.put_activities(&org, vec![activity(&org, "a", day(2025, 2, 1), t)]).await.unwrap();
    assert_eq!(again, vec![Stored::Created]);
}

async fn erasing_removes_every_activity_of_one_organisation(store: &dyn ActivityStore) {
    let (org, other) = (unique_org("erase"), unique_org("erase-other"));
    let t = ActivityType::GroupSession;
    let mine: Vec<Activity> = (0..30).map(|i| activity(&org, &format!("a{i}"), day(2025, 1 + i % 12, 1), t)).collect();
    store.put_activities(&org, mine).await.unwrap();
    // one moved to another date, so a store keeping pointers has one that moved
    store.put_activities(&org, vec![activity(&org, "a0", day(2024, 6, 1), t)]).await.unwrap();
    store.put_activities(&other, vec![activity(&other, "a0", day(2025, 1, 1), t)]).await.unwrap();

    assert_eq!(store.erase_activities(&org).await.unwrap(), 30);
    let every_year = ActivityQuery { to: day(2099, 12, 31), ..year(&org, 2000) };
    assert_eq!(store.count(&every_year).await.unwrap(), 0);
    assert!(store.activity_page(&every_year, None, 10).await.unwrap().is_empty());
    assert_eq!(ids(store, year(&other, 2025)).await, vec!["a0"], "another organisation keeps its activities");
    assert_eq!(store.erase_activities(&org).await.unwrap(), 0);
    // an erased id is new when stored again
    let again = store.put_activities(&org, vec![activity(&org, "a1", day(2025, 2, 1), t)]).await.unwrap();
    assert_eq!(again, vec![Stored::Created]);
}

/// Reads the query page by page from `after`, checking each page's size.
async fn read_pages(
    store: &dyn ActivityStore,
    q: &ActivityQuery,
    mut after: Option<(NaiveDate, String)>,
    limit: u32,
) -> Vec<(NaiveDate, String)> {
    let mut out = Vec::new();
    loop {
        let page = store.activity_page(q, after.clone(), limit).await.unwrap();
        assert!(page.len() <= limit as usize, "a page of {} for a limit of {limit}", page.len());
        assert!(page.iter().all(|a| q.matches(a)), "a page holds only the query's activities");
        let Some(last) = page.last() else { return out };
        after = Some((last.date, last.activity_id.clone()));
        let short = page.len() < limit as usize;
        out.extend(page.into_iter().map(|a| (a.date, a.activity_id)));
        if short {
            // a short page is the last: nothing may follow it
            assert!(store.activity_page(q, after, limit).await.unwrap().is_empty());
            return out;
        }
    }
}

async fn pages_continue_without_gaps_or_repeats(store: &dyn ActivityStore) {
    use ActivityType::*;
    let (org, other) = (unique_org("pages"), unique_org("pages-other"));
    let types = [GroupSession, OpenMeeting, IndividualCounseling];
    // three to a day, ids out of date order, types mixed; one either side of 2025
    let mut mine: Vec<Activity> = (0..36)
        .map(|i| {
            let date = day(2025, 1, 1) + chrono::Duration::days((i / 3) * 30);
            activity(&org, &format!("p{:02}", (i * 7) % 36), date, types[i as usize % 3])
        })
        .collect();
    mine.push(activity(&org, "early", day(2024, 12, 31), GroupSession));
    mine.push(activity(&org, "late", day(2026, 1, 1), GroupSession));
    store.put_activities(&org, mine.clone()).await.unwrap();
    let theirs: Vec<Activity> = mine.iter().map(|a| Activity { org_id: other.clone(), ..a.clone() }).collect();
    store.put_activities(&other, theirs).await.unwrap();

    let all = year(&org, 2025);
    let typed = ActivityQuery { types: vec![GroupSession, IndividualCounseling], ..all.clone() };
    for q in [&all, &typed] {
        let expected: Vec<(NaiveDate, String)> =
            sorted(mine.clone()).into_iter().filter(|a| q.matches(a)).map(|a| (a.date, a.activity_id)).collect();
        assert_eq!(expected.len(), if q.types.is_empty() { 36 } else { 24 });
        for limit in [1, 4, 5, 24, 36, 100] {
            assert_eq!(read_pages(store, q, None, limit).await, expected, "limit {limit}, types {:?}", q.types);
        }
        // a cursor that names no stored activity continues after where it would be
        for cursor in
            [(day(2025, 3, 2), "p99"), (day(2025, 3, 2), ""), (day(2025, 5, 15), "m"), (day(2025, 12, 27), "p")]
        {
            let after = (cursor.0, cursor.1.to_string());
            let rest: Vec<_> = expected.iter().filter(|k| **k > after).cloned().collect();
            assert_eq!(read_pages(store, q, Some(after), 4).await, rest, "after {cursor:?}");
        }
        // a cursor before the period reads it from its start; one after it, nothing
        let before = Some((day(2024, 12, 31), "zzz".to_string()));
        assert_eq!(read_pages(store, q, before, 7).await, expected);
        let after_end = Some((day(2026, 1, 1), "a".to_string()));
        assert!(store.activity_page(q, after_end, 7).await.unwrap().is_empty());
    }
    let none = ActivityQuery { types: vec![PeerSupportCourse], ..all };
    assert!(store.activity_page(&none, None, 10).await.unwrap().is_empty());
}

async fn import(
    store: &dyn ActivityStore,
    org: &str,
    id: ImportId,
    replace: Option<Period>,
    file: Vec<Activity>,
) -> ImportOutcome {
    let mut w = store.begin_import(org, &id, replace).await.unwrap();
    w.write(file).await.unwrap();
    w.finish().await.unwrap()
}

async fn imports_add_and_replace_a_period(store: &dyn ActivityStore) {
    use ActivityType::GroupSession as G;
    let (org, other) = (unique_org("import"), unique_org("import-other"));
    let today = Utc::now().date_naive();
    let y2025 = Period { from: day(2025, 1, 1), to: day(2025, 12, 31) };
    let at = |id: &str, date: NaiveDate| activity(&org, id, date, G);
    let before = vec![
        at("p1", day(2025, 1, 1)),
        at("p2", day(2025, 6, 1)),
        at("p3", day(2025, 6, 1)),
        at("p4", day(2025, 12, 31)),
        at("q1", day(2024, 12, 31)),
        at("r1", day(2026, 1, 1)),
    ];
    store.put_activities(&org, before.clone()).await.unwrap();
    let theirs = activity(&other, "p3", day(2025, 6, 1), G);
    store.put_activities(&other, vec![theirs.clone()]).await.unwrap();

    // without a period: written in two batches, nothing removed
    let added = vec![at("n1", day(2025, 3, 1)), at("n2", day(2024, 5, 5)), at("n3", day(2025, 9, 9))];
    let mut w = store.begin_import(&org, &ImportId::generate(today), None).await.unwrap();
    w.write(added[..2].to_vec()).await.unwrap();
    w.write(added[2..].to_vec()).await.unwrap();
    assert_eq!(w.finish().await.unwrap(), ImportOutcome { written: 3, removed: 0 });
    assert_eq!(everything(store, &org).await, sorted([before.clone(), added.clone()].concat()));

    // replacing 2025: p1 changed, p2 moved within the year, n5 new; p3, p4,
    // n1 and n3 are 2025's and not in the file; q1, n2, r1 and the other
    // organisation's p3 are outside what it replaces
    let mut p1 = at("p1", day(2025, 1, 1));
    p1.title = "Endret".into();
    let file = vec![p1, at("p2", day(2025, 2, 2)), at("n5", day(2025, 12, 31))];
    let id = ImportId::generate(today);
    let run = |file: Vec<Activity>, id: ImportId| import(store, &org, id, Some(y2025), file);
    assert_eq!(run(file.clone(), id.clone()).await, ImportOutcome { written: 3, removed: 4 });
    let after = sorted([file.clone(), vec![before[4].clone(), before[5].clone(), added[1].clone()]].concat());
    assert_eq!(everything(store, &org).await, after);
    assert_eq!(ids(store, query(&org, day(2025, 6, 1), day(2025, 6, 1))).await, Vec::<String>::new());
    assert_eq!(everything(store, &other).await, vec![theirs.clone()]);

    // the same import again (a redelivery): the same end state, nothing more removed
    assert_eq!(run(file.clone(), id).await, ImportOutcome { written: 3, removed: 0 });
    assert_eq!(everything(store, &org).await, after);

    // a run that stops half way, then the same import from the start: the
    // store ends as if the first run had never been
    let id = ImportId::generate(today);
    let mut abandoned = store.begin_import(&org, &id, Some(y2025)).await.unwrap();
    abandoned.write(vec![file[0].clone()]).await.unwrap();
    drop(abandoned);
    let last = vec![file[0].clone(), at("n6", day(2025, 7, 7))];
    assert_eq!(run(last.clone(), id).await, ImportOutcome { written: 2, removed: 2 });
    let end = sorted([last, vec![before[4].clone(), before[5].clone(), added[1].clone()]].concat());
    assert_eq!(everything(store, &org).await, end);
    assert_eq!(everything(store, &other).await, vec![theirs]);
}
