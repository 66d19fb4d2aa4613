//! The audit trail: who created, cancelled, retried and deleted an export,
//! when, in which request, and how its status moved; in GET as `history`,
//! and kept by the store after the export is deleted.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// A token for `org` whose subject is `subject`.
fn token_of(data: &std::path::Path, subject: &str, org: &str) -> String {
    cli(data, &["token", "--org", org, "--subject", subject]).trim().to_string()
}

/// Calls the API as `token` with `request_id` as the request's id.
async fn call(
    server: &Server,
    method: Method,
    path: &str,
    token: &str,
    request_id: &str,
    body: Option<Value>,
) -> Value {
    let mut req =
        reqwest::Client::new().request(method, server.url(path)).bearer_auth(token).header("x-request-id", request_id);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert!((200..300).contains(&status), "{path}: {status} {body}");
    body
}

/// (action, actor, request_id) of the entries the callers made, skipping the system's own.
fn by_callers(entries: &[Value]) -> Vec<(String, String, String)> {
    entries
        .iter()
        .filter(|e| !e["actor"].as_str().unwrap().starts_with("system:"))
        .map(|e| {
            let field = |f: &str| e[f].as_str().unwrap_or_default().to_string();
            (field("action"), field("actor"), field("request_id"))
        })
        .collect()
}

#[tokio::test]
async fn two_callers_create_cancel_retry_and_delete_and_the_trail_outlives_the_export() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-big", long_export_rows(), 2025, 2);
    let server = Server::start(dir.path());
    let (kari, ola) = (token_of(dir.path(), "kari", "org-big"), token_of(dir.path(), "ola", "org-big"));

    let body = export_body("org-big", "2025-01-01", "2025-12-31", "excel");
    let created = call(&server, Method::POST, API, &kari, "req-create", Some(body)).await;
    let id = created["export_id"].as_str().unwrap().to_string();
    let reason = json!({ "reason": "wrong period" });
    call(&server, Method::PUT, &format!("{API}/{id}/cancel"), &ola, "req-cancel", Some(reason)).await;
    call(&server, Method::POST, &format!("{API}/{id}/retry"), &kari, "req-retry", None).await;
    // The completion's entry is written just after the status: wait for both.
    let ended = |j: &Value| {
        j["status"] == "completed"
            && j["history"].as_array().and_then(|h| h.last()).is_some_and(|e| e["action"] == "completed")
    };
    let done = server.wait_for(&kari, &id, std::time::Duration::from_secs(120), ended).await;

    let history = done["history"].as_array().unwrap().clone();
    let expected =
        [("created", "kari", "req-create"), ("cancelled", "ola", "req-cancel"), ("retried", "kari", "req-retry")]
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
    assert_eq!(by_callers(&history), expected, "{history:#?}");
    let first = &history[0];
    assert_eq!((&first["from_status"], &first["to_status"]), (&Value::Null, &json!("queued")), "{first}");
    let of = |action: &str| history.iter().find(|e| e["action"] == action).unwrap().clone();
    assert_eq!(of("cancelled")["to_status"], "cancelled");
    assert!(["queued", "running"].contains(&of("cancelled")["from_status"].as_str().unwrap()));
    assert_eq!((&of("retried")["from_status"], &of("retried")["to_status"]), (&json!("cancelled"), &json!("queued")));
    // the second attempt ran and ended as the workflow says, newest last
    let last = history.last().unwrap();
    assert_eq!(
        (&last["action"], &last["actor"], &last["request_id"]),
        (&json!("completed"), &json!("system:workflow"), &Value::Null)
    );
    assert_eq!((&last["from_status"], &last["to_status"]), (&json!("running"), &json!("completed")));
    let times: Vec<&str> = history.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first: {times:?}");

    call(&server, Method::DELETE, &format!("{API}/{id}"), &ola, "req-delete", None).await;
    let (status, _, _) = server.call(Method::GET, &format!("{API}/{id}"), Some(&kari), None).await;
    assert_eq!(status, 404);
    let kept = audit_entries(dir.path(), &id).await;
    let mut all = expected.to_vec();
    all.push(("deleted".into(), "ola".into(), "req-delete".into()));
    assert_eq!(by_callers(&kept), all, "the trail is kept after the export is gone: {kept:#?}");
    let deleted = kept.last().unwrap();
    assert_eq!((&deleted["from_status"], &deleted["to_status"]), (&json!("completed"), &Value::Null));
}
