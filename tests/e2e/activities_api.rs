//! Small writes for systems that sync as they go, and the organisation's
//! own details, on either backend: a put of many activities is all or
//! nothing and says which were new; the list shows what a report counts,
//! page by page; delete; the organisation's name and number.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

fn activity(id: &str, date: &str, minutes: u32) -> Value {
    json!({
        "activity_id": id, "org_id": "org-a", "activity_type": "group_session", "title": format!("Gruppe {id}"),
        "date": date, "duration_minutes": minutes, "mode": "in_person", "kommunenummer": "0301", "in_norway": true,
        "participants": {"total": 3, "new": 1,
            "by_gender": {"female": 2, "male": 1, "other": 0, "unknown": 0},
            "by_age": {"0-5": 0, "6-12": 0, "13-17": 0, "18-24": 1, "25-66": 2, "67+": 0, "unknown": 0}},
        "volunteers": {"count": 1, "hours": 2.0}, "led_by_peer": true
    })
}

async fn put(server: &Server, token: &str, activities: Vec<Value>) -> (u16, Value) {
    let (status, _, json) =
        server.call(Method::PUT, ACTIVITIES, Some(token), Some(json!({"activities": activities}))).await;
    (status, json)
}

#[tokio::test]
async fn a_put_is_all_or_nothing_and_the_list_pages_through_what_a_report_counts() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-a"]);

    let batch: Vec<Value> =
        (0..30).map(|i| activity(&format!("p-{i:02}"), &format!("2025-03-{:02}", i % 28 + 1), 90)).collect();
    let (status, body) = put(&server, &token, batch.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["org_id"], "org-a");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 30);
    assert!(results.iter().all(|r| r["outcome"] == "created"), "{body}");
    assert_eq!(results[7]["activity_id"], "p-07", "in the order sent");

    // The same again, one moved to another day and one held abroad (which
    // the standard profile does not count).
    let mut again = batch.clone();
    again[0]["date"] = json!("2025-04-15");
    again[1]["in_norway"] = json!(false);
    let (status, body) = put(&server, &token, again).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["results"].as_array().unwrap().iter().all(|r| r["outcome"] == "replaced"), "{body}");

    // One bad activity refuses them all, each problem named by position.
    let mut mixed = vec![activity("n-1", "2025-05-01", 60), activity("n-2", "2025-05-02", 60)];
    mixed[1]["participants"]["new"] = json!(7);
    mixed.push(json!("not an activity"));
    let (status, problem) = put(&server, &token, mixed).await;
    assert_eq!((status, problem["code"].as_str()), (422, Some("validation_failed")), "{problem}");
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.iter().any(|f| f.starts_with("activities[1]")) && fields.contains(&"activities[2]"), "{fields:?}");
    let (status, _) = put(&server, &token, vec![]).await;
    assert_eq!(status, 422, "an empty put");
    let too_many: Vec<Value> = (0..1001).map(|i| activity(&format!("m-{i}"), "2025-05-01", 60)).collect();
    let (status, problem) = put(&server, &token, too_many).await;
    assert!(status == 413 || status == 422, "1001 activities: {status} {problem}");

    let all = server.activities(&token, "org-a", "2025-01-01", "2025-12-31").await;
    assert_eq!(all.len(), 30, "nothing of the refused puts was stored");
    let order: Vec<(String, String)> = all
        .iter()
        .map(|a| (a["date"].as_str().unwrap().to_string(), a["activity_id"].as_str().unwrap().to_string()))
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "report order: date, then id");
    assert_eq!(all.last().unwrap()["activity_id"], "p-00", "moved to April");
    let march = server.activities(&token, "org-a", "2025-03-01", "2025-03-31").await;
    assert_eq!(march.len(), 29, "p-00 is no longer in March");

    let (status, _, page) =
        server.call(Method::GET, &format!("{ACTIVITIES}?from=2025-03-01&to=2025-03-02"), Some(&token), None).await;
    assert_eq!(status, 200, "{page}");
    let abroad = page["data"].as_array().unwrap().iter().find(|j| j["activity"]["activity_id"] == "p-01").unwrap();
    assert_eq!(
        (abroad["counts"].as_bool(), abroad["not_counted_reason"].as_str()),
        (Some(false), Some("utlandet")),
        "{abroad}"
    );
    assert_eq!(page["profile"], "standard");

    // A cursor goes with the query it was given for.
    let first = format!("{ACTIVITIES}?from=2025-03-01&to=2025-03-31&limit=5");
    let (status, _, page) = server.call(Method::GET, &first, Some(&token), None).await;
    assert_eq!(status, 200, "{page}");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (status, _, next) = server.call(Method::GET, &format!("{first}&cursor={cursor}"), Some(&token), None).await;
    assert_eq!((status, next["data"].as_array().unwrap().len()), (200, 5), "{next}");
    for other in ["from=2024-03-01&to=2024-03-31", "from=2025-03-01&to=2025-03-31&type=open_meeting"] {
        let path = format!("{ACTIVITIES}?{other}&limit=5&cursor={cursor}");
        let (status, _, problem) = server.call(Method::GET, &path, Some(&token), None).await;
        assert_eq!((status, problem["code"].as_str()), (400, Some("invalid_query")), "{other}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "cursor");
    }

    for bad in [
        format!("{ACTIVITIES}?from=2025-03-01"),
        format!("{ACTIVITIES}?from=2025-02-30&to=2025-03-01"),
        format!("{ACTIVITIES}?from=2025-03-01&to=2025-03-31&cursor=zz"),
        format!("{ACTIVITIES}?from=2025-03-01&to=2025-03-31&type=knitting"),
        format!("{ACTIVITIES}?from=2025-03-01&to=2025-03-31&limit=0"),
        format!("{ACTIVITIES}?from=2025-03-01&to=2025-03-31&profile=nope"),
    ] {
        let (status, _, problem) = server.call(Method::GET, &bad, Some(&token), None).await;
        assert_eq!((status, problem["code"].as_str()), (400, Some("invalid_query")), "{bad}: {problem}");
    }
}

/// What a careless or hostile client sends: counts that add up only when
/// wrapped around in 32 bits, an attachment key climbing out of the
/// organisation's folder, and an activity of thousands of long unknown
/// field names. Each is refused, nothing is stored, and the answer stays
/// small however large the problems.
#[tokio::test]
async fn strange_activities_are_refused_with_a_bounded_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-a"]);

    let mut wrapped = activity("w-1", "2025-03-04", 90);
    wrapped["participants"]["by_gender"] = json!({"female": 4294967295u64, "male": 4, "other": 0, "unknown": 0});
    let mut climbing = activity("w-2", "2025-03-04", 90);
    climbing["attachments"] =
        json!([{"name": "x.pdf", "content_type": "application/pdf", "key": "org-a/../org-b/att-1/x.pdf"}]);
    let (status, problem) = put(&server, &token, vec![wrapped, climbing]).await;
    assert_eq!((status, problem["code"].as_str()), (422, Some("validation_failed")), "{problem}");
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"activities[0].participants.by_gender"), "{fields:?}");
    assert!(fields.contains(&"activities[1].attachments"), "{fields:?}");

    let mut noisy = activity("w-3", "2025-03-04", 90);
    for i in 0..2000 {
        noisy[format!("{i:04}-{}", "x".repeat(500))] = json!(1);
    }
    let sent = serde_json::to_vec(&json!({"activities": [noisy]})).unwrap().len();
    let (status, headers, problem) =
        server.call(Method::PUT, ACTIVITIES, Some(&token), Some(json!({"activities": [noisy]}))).await;
    assert_eq!(status, 422, "{problem}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/problem+json"));
    let errors = problem["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 101, "the first hundred and how many more");
    assert!(errors[100]["message"].as_str().unwrap().contains("1900 more"), "{}", errors[100]);
    let answered = problem.to_string().len();
    assert!(answered < 64 * 1024 && answered < sent / 10, "{answered} bytes answered to {sent} sent");

    assert!(server.activities(&token, "org-a", "2025-01-01", "2025-12-31").await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn delete_and_scoping() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let a = token(dir.path(), &["org-a"]);
    let b = token(dir.path(), &["org-b"]);
    let both = token(dir.path(), &["org-a", "org-b"]);
    assert_eq!(put(&server, &a, vec![activity("d-1", "2025-03-04", 90)]).await.0, 200);

    let (status, _, problem) =
        server.call(Method::DELETE, &format!("{ACTIVITIES}/d-1?org_id=org-a"), Some(&b), None).await;
    assert_eq!((status, problem["code"].as_str()), (403, Some("organisation_forbidden")), "{problem}");
    let (status, _, problem) = server.call(Method::DELETE, &format!("{ACTIVITIES}/d-1"), Some(&both), None).await;
    assert_eq!(status, 422, "which organisation is ambiguous: {problem}");
    for named in ["", "org%20a", "org-a%2F..", "%C3%B8rg"] {
        let (status, _, problem) =
            server.call(Method::DELETE, &format!("{ACTIVITIES}/d-1?org_id={named}"), Some(&a), None).await;
        assert_eq!((status, problem["code"].as_str()), (422, Some("validation_failed")), "{named:?}: {problem}");
        assert_eq!(problem["title"], "Invalid request");
    }
    let (status, _, problem) = server
        .call(
            Method::PUT,
            ACTIVITIES,
            Some(&b),
            Some(json!({"org_id": "org-a", "activities": [activity("x", "2025-03-04", 90)]})),
        )
        .await;
    assert_eq!(status, 403, "{problem}");
    let mut theirs = activity("x", "2025-03-04", 90);
    theirs["org_id"] = json!("org-a");
    let (status, problem) = put(&server, &b, vec![theirs]).await;
    assert_eq!(status, 422, "an activity of another organisation in the body: {problem}");

    let (status, _, body) = server.call(Method::DELETE, &format!("{ACTIVITIES}/d-1"), Some(&a), None).await;
    assert_eq!((status, body["deleted"].as_bool()), (200, Some(true)), "{body}");
    let (status, _, problem) = server.call(Method::DELETE, &format!("{ACTIVITIES}/d-1"), Some(&a), None).await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("activity_not_found")), "{problem}");
    assert!(server.activities(&a, "org-a", "2025-01-01", "2025-12-31").await.is_empty());
}

#[tokio::test]
async fn the_organisation_keeps_its_name_number_and_default_profile() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let a = token(dir.path(), &["org-a"]);
    let b = token(dir.path(), &["org-b"]);
    let path = "/api/v1/organisations/org-a";

    let (status, _, problem) = server.call(Method::GET, path, Some(&a), None).await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("organisation_not_found")), "{problem}");

    for (bad, field) in [
        (json!({"name": "Foreningen", "organisation_number": "974760674"}), "organisation_number"),
        (json!({"name": "Foreningen", "organisation_number": "12345678"}), "organisation_number"),
        (json!({"name": ""}), "name"),
        (json!({"name": "Foreningen", "contact_email": "not-an-address"}), "contact_email"),
        (json!({"name": "Foreningen", "default_report_profile": "knitting"}), "default_report_profile"),
    ] {
        let (status, _, problem) = server.call(Method::PUT, path, Some(&a), Some(bad.clone())).await;
        assert_eq!(status, 422, "{bad}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (status, _, problem) =
        server.call(Method::PUT, path, Some(&a), Some(json!({"name": "Foreningen", "shoe_size": 44}))).await;
    assert_eq!(status, 422, "an unknown field: {problem}");

    let body = json!({"name": "Foreningen for pårørende", "organisation_number": "974 760 673",
        "contact_email": "tilskudd@example.org", "default_report_profile": "likeperson"});
    let (status, _, stored) = server.call(Method::PUT, path, Some(&a), Some(body)).await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["organisation_number"], "974760673", "spaces dropped");
    let (status, _, got) = server.call(Method::GET, path, Some(&a), None).await;
    assert_eq!((status, &got), (200, &stored));
    let (status, _, problem) = server.call(Method::GET, path, Some(&b), None).await;
    assert_eq!(status, 404, "another organisation's details are not shown: {problem}");
    let (status, _, _) = server.call(Method::PUT, path, Some(&b), Some(json!({"name": "Kapret"}))).await;
    assert_eq!(status, 404);

    // The list judges by the organisation's profile unless told otherwise.
    let (status, _, page) =
        server.call(Method::GET, &format!("{ACTIVITIES}?from=2025-01-01&to=2025-12-31"), Some(&a), None).await;
    assert_eq!((status, page["profile"].as_str()), (200, Some("likeperson")), "{page}");

    // So does an export that names no profile; one that names one keeps it.
    let id = server.create(&a, export_body("org-a", "2025-01-01", "2025-12-31", "json")).await;
    let done = server.wait_status(&a, &id, "completed").await;
    assert_eq!(done["report_profile"], "likeperson");
    // The report carries the organisation's name and number.
    let report: Value = reqwest::get(done["file_url"].as_str().unwrap()).await.unwrap().json().await.unwrap();
    let header = &report["report"];
    assert_eq!(
        (header["organisation_name"].as_str(), header["organisation_number"].as_str()),
        (Some("Foreningen for pårørende"), Some("974760673")),
        "{header}"
    );
    let mut named = export_body("org-a", "2025-01-01", "2025-12-31", "json");
    named["report_profile"] = json!("standard");
    let id = server.create(&a, named).await;
    assert_eq!(server.get(&a, &id).await["report_profile"], "standard");
}
