//! Every caller action the transition table forbids, tried through the
//! API on a real export in that status: 409 `invalid_transition`, and the
//! export is left as it was. The forbidden pairs come from the table
//! itself, so a change to the table changes what is tried here.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::*;
use reqwest::Method;
use shared::domain::status::{TRANSITIONS, next_status};
use shared::domain::{ExportStatus, Transition};

fn request(action: Transition, id: &str) -> (Method, String) {
    match action {
        Transition::Cancel => (Method::PUT, format!("{API}/{id}/cancel")),
        Transition::Retry => (Method::POST, format!("{API}/{id}/retry")),
        other => panic!("{} is the workflow's, not the caller's", other.as_str()),
    }
}

#[tokio::test]
async fn every_forbidden_caller_action_answers_409_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 50, 2025, 1);
    seed(dir.path(), "org-big", 150_000, 2025, 2);
    seed(dir.path(), "org-bad", 50, 2025, 3);
    // A record the store cannot read makes org-bad's exports fail.
    let db = rusqlite::Connection::open(dir.path().join("activities.sqlite3")).unwrap();
    db.execute("UPDATE activities SET body = '{broken' WHERE org_id = 'org-bad'", []).unwrap();
    // One worker: while org-big's export runs, the next one stays queued.
    let server = Server::start_with(dir.path(), &["--concurrency", "1"]);
    let token = token(dir.path(), &["org-a", "org-big", "org-bad"]);
    let body = |org: &str| export_body(org, "2025-01-01", "2025-12-31", "excel");

    let mut in_status: HashMap<ExportStatus, String> = HashMap::new();
    let completed = server.create(&token, body("org-a")).await;
    server.wait_status(&token, &completed, "completed").await;
    in_status.insert(ExportStatus::Completed, completed);
    let failed = server.create(&token, body("org-bad")).await;
    server.wait_status(&token, &failed, "failed").await;
    in_status.insert(ExportStatus::Failed, failed);
    let running = server.create(&token, body("org-big")).await;
    server.wait_for(&token, &running, Duration::from_secs(60), |j| j["status"] == "running").await;
    in_status.insert(ExportStatus::Running, running);
    let queued = server.create(&token, body("org-a")).await;
    in_status.insert(ExportStatus::Queued, queued);
    let cancelled = server.create(&token, body("org-a")).await;
    let (status, _, answer) = server.call(Method::PUT, &format!("{API}/{cancelled}/cancel"), Some(&token), None).await;
    assert_eq!(status, 200, "{answer}");
    in_status.insert(ExportStatus::Cancelled, cancelled);

    let caller_actions: Vec<Transition> = TRANSITIONS
        .iter()
        .map(|(_, t, _)| *t)
        .filter(|t| matches!(t, Transition::Cancel | Transition::Retry))
        .collect();
    assert!(caller_actions.contains(&Transition::Cancel) && caller_actions.contains(&Transition::Retry));
    let mut tried = Vec::new();
    for from in ExportStatus::ALL {
        for action in [Transition::Cancel, Transition::Retry] {
            if next_status(from, action).is_some() {
                continue;
            }
            let id = &in_status[&from];
            let before = server.get(&token, id).await;
            assert_eq!(before["status"], from.as_str(), "{id} moved on before the test could try it");
            let (method, path) = request(action, id);
            let (status, headers, problem) = server.call(method, &path, Some(&token), None).await;
            assert_eq!(status, 409, "{} from {from}: {problem}", action.as_str());
            assert_eq!(headers["content-type"], "application/problem+json");
            assert_eq!(problem["code"], "invalid_transition", "{problem}");
            assert!(problem["detail"].as_str().unwrap().contains(from.as_str()), "{problem}");
            let after = server.get(&token, id).await;
            assert_eq!(after["status"], before["status"], "{} from {from} changed the status", action.as_str());
            assert_eq!(after["retry_count"], before["retry_count"]);
            assert_eq!(after["cancelled_at"], before["cancelled_at"]);
            tried.push(format!("{} from {from}", action.as_str()));
        }
    }
    // What the table forbids today; if the table changes, this list must be looked at.
    assert_eq!(
        tried,
        [
            "retry from queued",
            "retry from running",
            "cancel from completed",
            "retry from completed",
            "cancel from failed",
            "cancel from cancelled"
        ]
    );
    println!("{} forbidden caller actions tried, each 409 invalid_transition", tried.len());
    // Delete is allowed from every status: the running export goes too.
    for id in in_status.values() {
        let (status, _, answer) = server.call(Method::DELETE, &format!("{API}/{id}"), Some(&token), None).await;
        assert_eq!(status, 200, "{answer}");
    }
}
