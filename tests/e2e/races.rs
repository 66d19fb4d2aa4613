//! Races through the real server: many requests at once on one export
//! (or one idempotency key), on either backend. What must hold is what
//! the transition table and the idempotency key promise, whoever wins.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::*;
use futures::future::join_all;
use reqwest::Method;
use serde_json::Value;

const RACERS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_posts_with_one_key_create_one_export() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 20, 2025, 1);
    // At a limit of one export in flight, the winner's export is what
    // fills it: a loser that checks the limit after the winner stored it
    // must still replay the winner's answer, not refuse with a 429.
    let server = Server::start_with(dir.path(), &["--max-in-flight", "1"]);
    let token = token(dir.path(), &["org-a"]);
    let body = export_body("org-a", "2025-01-01", "2025-12-31", "json");

    let answers = join_all((0..RACERS).map(|_| server.create_keyed(&token, "one-key-for-all", body.clone()))).await;
    let mut ids: HashMap<String, usize> = HashMap::new();
    for (status, _, json) in &answers {
        assert_eq!(*status, 202, "{json}");
        *ids.entry(json["export_id"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(ids.len(), 1, "every answer names the same export: {ids:?}");
    let first = &answers[0].2;
    assert!(answers.iter().all(|(_, _, json)| json == first), "every answer is the first one");
    let replayed = answers.iter().filter(|(_, h, _)| h.get("idempotent-replayed").is_some()).count();
    assert_eq!(replayed, RACERS - 1, "all but the winner replay");

    let (total, listed) = server.list_all(&token).await;
    assert_eq!(total, 1);
    assert_eq!(listed[0]["export_id"], first["export_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cancels_of_a_running_export_succeed_once() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-big", long_export_rows(), 2025, 2);
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-big"]);
    let id = server.create(&token, export_body("org-big", "2025-01-01", "2025-12-31", "excel")).await;
    server.wait_for(&token, &id, Duration::from_secs(60), |j| j["status"] == "running").await;

    let path = format!("{API}/{id}/cancel");
    let answers = join_all((0..RACERS).map(|_| server.call(Method::PUT, &path, Some(&token), None))).await;
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for (status, _, json) in &answers {
        *by_status.entry(*status).or_default() += 1;
        match status {
            200 => assert_eq!(json["status"], "cancelled", "{json}"),
            409 => assert_eq!(json["code"], "invalid_transition", "{json}"),
            other => panic!("cancel answered {other}: {json}"),
        }
    }
    assert_eq!(by_status.get(&200), Some(&1), "{by_status:?}");
    assert_eq!(by_status.get(&409), Some(&(RACERS - 1)), "{by_status:?}");

    // The worker that was running it does not bring it back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let job = server.get(&token, &id).await;
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(server.files_of("org-big", &id).await.is_empty());
}

/// Retry and cancel sent to a failed export at the same moment, and then
/// with the cancel a little later each round, so it meets the retry queued,
/// starting or running: whichever wins, the end must be one of the orders'
/// ends, nothing may move it on afterwards, and GET and the list agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_racing_cancel_ends_consistently() {
    const CANCEL_DELAYS_MS: [u64; 7] = [0, 1, 3, 10, 30, 100, 300];
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-r"]);
    let mut endings: HashMap<String, usize> = HashMap::new();
    for (round, delay) in CANCEL_DELAYS_MS.into_iter().enumerate() {
        seed(dir.path(), "org-r", 30, 2025, 3);
        corrupt_one_activity(dir.path(), "org-r").await;
        let id = server.create(&token, export_body("org-r", "2025-01-01", "2025-12-31", "csv")).await;
        server.wait_status(&token, &id, "failed").await;
        // Seeding again repairs the record, so the retry can complete.
        seed(dir.path(), "org-r", 30, 2025, 3);

        let retry_path = format!("{API}/{id}/retry");
        let cancel_path = format!("{API}/{id}/cancel");
        let ((retried, _, retry_body), (cancelled, _, cancel_body)) =
            tokio::join!(server.call(Method::POST, &retry_path, Some(&token), None), async {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                server.call(Method::PUT, &cancel_path, Some(&token), None).await
            },);
        assert_eq!(retried, 200, "round {round}: a failed export can always be retried: {retry_body}");
        assert!(
            cancelled == 200 || (cancelled == 409 && cancel_body["code"] == "invalid_transition"),
            "round {round}: {cancel_body}"
        );

        let settled = server
            .wait_for(&token, &id, Duration::from_secs(120), |j| {
                !matches!(j["status"].as_str(), Some("queued" | "running"))
            })
            .await;
        let expected = if cancelled == 200 { "cancelled" } else { "completed" };
        assert_eq!(settled["status"], expected, "round {round}: retry 200, cancel {cancelled}: {settled}");
        assert_eq!(settled["retry_count"], 1, "{settled}");
        // Nothing moves it on afterwards, and the list agrees with GET.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let later = server.get(&token, &id).await;
        assert_eq!(later["status"], settled["status"], "round {round}: {later}");
        let (_, listed) = server.list_all(&token).await;
        let row: &Value = listed.iter().find(|j| j["export_id"] == id.as_str()).unwrap();
        assert_eq!(row["status"], later["status"]);
        if expected == "cancelled" {
            assert!(later["file_url"].is_null(), "{later}");
            assert!(server.files_of("org-r", &id).await.is_empty(), "round {round}: a cancelled export kept files");
        }
        *endings.entry(format!("{expected} (cancel {cancelled})")).or_default() += 1;
    }
    eprintln!("retry racing cancel, {} rounds: {endings:?}", CANCEL_DELAYS_MS.len());
}
