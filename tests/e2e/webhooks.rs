//! Webhooks through the real server, to real receivers on loopback that
//! check every signature: each event type arrives; a receiver failing
//! twice gets each event once, in order; one that never accepts is
//! retried and then disabled; a hanging one times out; a redirect is not
//! followed; private targets are refused; a rotated secret overlaps; an
//! old signed delivery fails the README's own verification code. The
//! server's retry schedule is shortened (flags) so the whole life of a
//! delivery fits in seconds.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use shared::domain::{SIGNATURE_TOLERANCE_SECS, verify};

use crate::support::receiver::{Behaviour, Received, Receiver};
use crate::support::*;

const HOOKS: &str = "/api/v1/webhook-endpoints";
const ALL_TYPES: [&str; 6] =
    ["export.cancelled", "export.completed", "export.failed", "export.submitted", "import.completed", "import.failed"];

/// Retries after 200-400 ms, given up (and the endpoint disabled) 4 s after the event, 1 s to answer.
const FAST: &[&str] = &[
    "--webhook-allow-host",
    "127.0.0.1",
    "--webhook-retry-first-ms",
    "300",
    "--webhook-retry-max-ms",
    "600",
    "--webhook-give-up-after-secs",
    "4",
    "--webhook-timeout-ms",
    "1000",
];

async fn register(server: &Server, token: &str, url: &str, types: &[&str]) -> (String, String) {
    let (status, headers, body) =
        server.call(Method::POST, HOOKS, Some(token), Some(json!({ "url": url, "event_types": types }))).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(headers["location"], format!("{HOOKS}/{id}").as_str());
    let secret = body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{body}");
    (id, secret)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Every request the receiver got was signed with `secret`, just now.
fn assert_signed(received: &[Received], secret: &str) {
    for r in received {
        verify(&r.signature, r.body.as_bytes(), secret, now(), 60)
            .unwrap_or_else(|e| panic!("{e}: {} {}", r.signature, r.body));
    }
}

async fn deliveries(server: &Server, token: &str, endpoint: &str) -> Vec<Value> {
    let (status, _, body) =
        server.call(Method::GET, &format!("{HOOKS}/{endpoint}/deliveries"), Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

async fn endpoint(server: &Server, token: &str, id: &str) -> Value {
    let (status, _, body) = server.call(Method::GET, &format!("{HOOKS}/{id}"), Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn submitting(org: &str) -> Value {
    let mut body = export_body(org, "2025-01-01", "2025-12-31", "excel");
    body["submit_to_bufdir_api"] = json!(true);
    body
}

#[tokio::test]
async fn every_event_type_reaches_the_receiver_signed() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 200, 2025, 1);
    seed(dir.path(), "org-big", long_export_rows(), 2025, 2);
    let server = Server::start_with(dir.path(), FAST);
    let token = token(dir.path(), &["org-a", "org-big"]);
    let receiver = Receiver::start(Behaviour::Accept).await;
    let mut secrets = Vec::new();
    for org in ["org-a", "org-big"] {
        let body = json!({ "org_id": org, "url": receiver.url, "event_types": ALL_TYPES });
        let (status, _, created) = server.call(Method::POST, HOOKS, Some(&token), Some(body)).await;
        assert_eq!(status, 201, "{created}");
        secrets.push((created["id"].as_str().unwrap().to_string(), created["secret"].as_str().unwrap().to_string()));
    }

    // completed and submitted
    let done = server.create(&token, submitting("org-a")).await;
    server.wait_status(&token, &done, "completed").await;
    // cancelled, while it runs
    let cancelled = server.create(&token, export_body("org-big", "2025-01-01", "2025-12-31", "excel")).await;
    let (status, _, body) = server.call(Method::PUT, &format!("{API}/{cancelled}/cancel"), Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    // imports, one good and one with a bad row
    let template = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/shared/core/templates/activities.csv"));
    let imported = server.import(&token, json!({ "org_id": "org-a", "format": "csv" }), template.to_vec()).await;
    assert_eq!(imported["status"], "completed", "{imported}");
    let failed_import = server
        .import(&token, json!({ "org_id": "org-a", "format": "jsonl" }), b"{\"activity_id\":\"x\"}\n".to_vec())
        .await;
    assert_eq!(failed_import["status"], "failed", "{failed_import}");
    // failed: an activity the report cannot read
    corrupt_one_activity(dir.path(), "org-a").await;
    let failed = server.create(&token, export_body("org-a", "2025-01-01", "2025-12-31", "csv")).await;
    server.wait_status(&token, &failed, "failed").await;

    let received = receiver
        .wait_until(Duration::from_secs(30), |seen| {
            let types: std::collections::BTreeSet<String> =
                seen.iter().map(|r| r.json()["type"].as_str().unwrap().to_string()).collect();
            types.len() == ALL_TYPES.len()
        })
        .await;
    for r in &received {
        let event = r.json();
        let org = event["data"]["org_id"].as_str().unwrap();
        let secret = &secrets[if org == "org-a" { 0 } else { 1 }].1;
        verify(&r.signature, r.body.as_bytes(), secret, now(), 60).unwrap();
        assert_eq!(r.event_id, event["id"].as_str().unwrap());
        assert!(event["id"].as_str().unwrap().starts_with("evt_"));
        assert!(event["created_at"].as_str().unwrap().ends_with('Z'), "{event}");
        assert!(event["data"].get("type").is_none(), "{event}");
    }
    let of_type = |t: &str| received.iter().map(Received::json).find(|e| e["type"] == t).unwrap();
    assert_eq!(of_type("export.completed")["data"]["export_id"], done.as_str());
    assert_eq!(of_type("export.submitted")["data"]["export_id"], done.as_str());
    assert_eq!(of_type("export.cancelled")["data"]["export_id"], cancelled.as_str());
    assert_eq!(of_type("export.failed")["data"]["export_id"], failed.as_str());
    assert!(of_type("export.failed")["data"]["error_message"].as_str().is_some());
    let failed_export = of_type("export.failed");
    let code = failed_export["data"]["error_code"].as_str().unwrap();
    let detail = server.get(&token, &failed).await;
    assert_eq!((detail["error_code"].as_str(), code), (Some("internal"), "internal"), "{failed_export}");
    assert_eq!(of_type("import.completed")["data"]["import_id"], imported["import_id"]);
    assert_eq!(of_type("import.completed")["data"]["rows_written"], 1);
    assert_eq!(of_type("import.failed")["data"]["error_count"], failed_import["error_count"]);
    // the submission is announced before the completion
    let position = |t: &str| received.iter().position(|r| r.json()["type"] == t).unwrap();
    assert!(position("export.submitted") < position("export.completed"));

    // each delivery is listed as delivered, with its one attempt and the answer
    let listed = deliveries(&server, &token, &secrets[0].0).await;
    assert!(listed.len() >= 5, "{listed:#?}");
    for d in &listed {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempt_count"], 1);
        assert_eq!(d["attempts"][0]["status_code"], 200);
        assert_eq!(d["attempts"][0]["response_body"], "ok");
        assert_eq!(d["next_attempt_at"], Value::Null);
    }
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_each_event_once_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 150, 2025, 3);
    let server = Server::start_with(dir.path(), FAST);
    let token = token(dir.path(), &["org-a"]);
    let receiver = Receiver::start(Behaviour::FailFirst(2)).await;
    let (endpoint_id, secret) =
        register(&server, &token, &receiver.url, &["export.completed", "export.submitted"]).await;

    let id = server.create(&token, submitting("org-a")).await;
    server.wait_status(&token, &id, "completed").await;
    let seen = receiver
        .wait_until(Duration::from_secs(20), |seen| seen.iter().filter(|r| r.answered == 200).count() == 2)
        .await;
    assert_signed(&seen, &secret);
    let accepted: Vec<String> =
        receiver.accepted().iter().map(|r| r.json()["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(accepted, ["export.submitted", "export.completed"], "each once, in the order they happened");
    // the two refusals were both of the first event: the second waited its turn
    assert!(seen[..2].iter().all(|r| r.json()["type"] == "export.submitted"), "{seen:#?}");
    // waits between tries: at least half of the first ceiling
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(150), "{:?}", seen[1].at - seen[0].at);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.accepted().len(), 2, "nothing delivered twice");

    let listed = deliveries(&server, &token, &endpoint_id).await;
    let submitted = listed.iter().find(|d| d["event_type"] == "export.submitted").unwrap();
    assert_eq!((submitted["status"].as_str(), submitted["attempt_count"].as_u64()), (Some("delivered"), Some(3)));
    let codes: Vec<u64> =
        submitted["attempts"].as_array().unwrap().iter().map(|a| a["status_code"].as_u64().unwrap()).collect();
    assert_eq!(codes, [500, 500, 200]);
    assert_eq!(submitted["attempts"][0]["error"], "http_status");
    assert_eq!(submitted["attempts"][0]["response_body"], "receiver is down for maintenance");
    assert_eq!(endpoint(&server, &token, &endpoint_id).await["status"], "enabled");
}

#[tokio::test]
async fn a_receiver_that_never_accepts_is_retried_then_disabled() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 100, 2025, 4);
    let server = Server::start_with(dir.path(), FAST);
    let token = token(dir.path(), &["org-a"]);
    let receiver = Receiver::start(Behaviour::Fail).await;
    let (endpoint_id, _) = register(&server, &token, &receiver.url, &["export.completed"]).await;

    let id = server.create(&token, export_body("org-a", "2025-01-01", "2025-12-31", "json")).await;
    server.wait_status(&token, &id, "completed").await;
    let start = std::time::Instant::now();
    let disabled = loop {
        let e = endpoint(&server, &token, &endpoint_id).await;
        if e["status"] == "disabled" {
            break e;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never disabled: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(disabled["disabled_reason"].as_str().unwrap().contains("retry window"), "{disabled}");
    assert!(disabled["disabled_at"].is_string());
    let tries = receiver.received().len();
    assert!(tries >= 3, "retried: {tries}");
    let listed = deliveries(&server, &token, &endpoint_id).await;
    assert_eq!(listed[0]["status"], "failed");
    assert_eq!(listed[0]["attempt_count"].as_u64(), Some(tries as u64));
    assert!(listed[0]["failed_reason"].is_string());

    // a disabled endpoint gets nothing more; enabled again, it gets the next event
    let again = server.create(&token, export_body("org-a", "2025-01-01", "2025-06-30", "json")).await;
    server.wait_status(&token, &again, "completed").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.received().len(), tries);
    let (status, _, body) = server
        .call(Method::PATCH, &format!("{HOOKS}/{endpoint_id}"), Some(&token), Some(json!({ "enabled": true })))
        .await;
    assert_eq!((status, body["status"].as_str(), &body["disabled_reason"]), (200, Some("enabled"), &Value::Null));
    let third = server.create(&token, export_body("org-a", "2025-01-01", "2025-03-31", "json")).await;
    server.wait_status(&token, &third, "completed").await;
    receiver
        .wait_until(Duration::from_secs(20), |seen| {
            seen.iter().any(|r| r.json()["data"]["export_id"] == third.as_str())
        })
        .await;
}

#[tokio::test]
async fn a_hanging_receiver_times_out_and_a_redirect_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 100, 2025, 5);
    let server = Server::start_with(dir.path(), FAST);
    let token = token(dir.path(), &["org-a"]);
    let hanging = Receiver::start(Behaviour::Hang).await;
    let redirecting = Receiver::start(Behaviour::Redirect).await;
    let (hang_id, _) = register(&server, &token, &hanging.url, &["export.completed"]).await;
    let (redirect_id, _) = register(&server, &token, &redirecting.url, &["export.completed"]).await;

    let id = server.create(&token, export_body("org-a", "2025-01-01", "2025-12-31", "json")).await;
    server.wait_status(&token, &id, "completed").await;
    redirecting.wait_until(Duration::from_secs(20), |seen| seen.len() >= 2).await;
    hanging.wait_until(Duration::from_secs(20), |seen| seen.len() >= 2).await;

    let hung = &deliveries(&server, &token, &hang_id).await[0];
    let attempt = &hung["attempts"][0];
    assert_eq!((attempt["error"].as_str(), &attempt["status_code"]), (Some("timeout"), &Value::Null), "{hung}");
    let took = attempt["duration_ms"].as_u64().unwrap();
    assert!((900..5000).contains(&took), "cut off at the 1 s timeout: {took} ms");
    assert_eq!(hung["status"], "pending");

    assert!(redirecting.received().iter().all(|r| r.path == "/hook"), "the redirect's target was never asked");
    let moved = &deliveries(&server, &token, &redirect_id).await[0];
    let attempt = &moved["attempts"][0];
    assert_eq!(
        (attempt["error"].as_str(), attempt["status_code"].as_u64()),
        (Some("redirect_not_followed"), Some(302))
    );
}

#[tokio::test]
async fn private_and_plain_http_targets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), FAST);
    let token = token(dir.path(), &["org-a"]);
    for url in [
        "https://localhost:9/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
        "https://metadata.google.internal/",
        "http://hooks.example.org/plain",
        "ftp://hooks.example.org/",
        "https://user:secret@hooks.example.org/",
        "not a url",
        "",
    ] {
        let (status, _, body) = server
            .call(Method::POST, HOOKS, Some(&token), Some(json!({ "url": url, "event_types": ["export.completed"] })))
            .await;
        assert_eq!((status, body["code"].as_str()), (422, Some("validation_failed")), "{url}: {body}");
        assert_eq!(body["errors"][0]["field"], "url", "{url}: {body}");
    }
    // the allowed host is allowed, also over http
    let (status, _, body) = server
        .call(
            Method::POST,
            HOOKS,
            Some(&token),
            Some(json!({ "url": "http://127.0.0.1:9/hook", "event_types": ["export.completed"] })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_until_its_overlap_ends() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 100, 2025, 6);
    let server = Server::start_with(dir.path(), FAST);
    let token = token(dir.path(), &["org-a"]);
    let receiver = Receiver::start(Behaviour::Accept).await;
    let (endpoint_id, old) = register(&server, &token, &receiver.url, &["export.completed"]).await;

    let rotate = format!("{HOOKS}/{endpoint_id}/rotate-secret");
    let (status, _, body) =
        server.call(Method::POST, &rotate, Some(&token), Some(json!({ "expire_current_in_seconds": 3600 }))).await;
    assert_eq!(status, 200, "{body}");
    let new = body["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert!(body["previous_secret_expires_at"].is_string(), "{body}");

    let first = server.create(&token, export_body("org-a", "2025-01-01", "2025-12-31", "json")).await;
    server.wait_status(&token, &first, "completed").await;
    let seen = receiver.wait_until(Duration::from_secs(20), |seen| !seen.is_empty()).await;
    assert_eq!(seen[0].signature.matches("v1=").count(), 2, "{}", seen[0].signature);
    assert_signed(&seen, &old);
    assert_signed(&seen, &new);

    // rotated again with no overlap: only the newest signs
    let (_, _, body) =
        server.call(Method::POST, &rotate, Some(&token), Some(json!({ "expire_current_in_seconds": 0 }))).await;
    let newest = body["secret"].as_str().unwrap().to_string();
    let second = server.create(&token, export_body("org-a", "2025-01-01", "2025-06-30", "json")).await;
    server.wait_status(&token, &second, "completed").await;
    let seen = receiver.wait_until(Duration::from_secs(20), |seen| seen.len() == 2).await;
    assert_eq!(seen[1].signature.matches("v1=").count(), 1);
    assert_signed(&seen[1..], &newest);
    assert!(verify(&seen[1].signature, seen[1].body.as_bytes(), &new, now(), 60).is_err());
    // the secret is shown only when made
    assert!(endpoint(&server, &token, &endpoint_id).await.get("secret").is_none());
}

/// The README's verification code, run as an integrator would run it.
fn readme_verifies(secret: &str, header: &str, body: &str, at: i64) -> bool {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("<!-- webhook-verify -->").nth(1).expect("README has the verification example");
    let code = section.split("```python").nth(1).unwrap().split("```").next().unwrap();
    let body_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(body_file.path(), body).unwrap();
    let driver = format!(
        "{code}\nimport sys\nsys.exit(0 if verify(sys.argv[1], sys.argv[2], open(sys.argv[3], 'rb').read(), now=float(sys.argv[4])) else 1)\n"
    );
    let status = std::process::Command::new("python3")
        .args(["-c", &driver, secret, header])
        .arg(body_file.path())
        .arg(at.to_string())
        .status()
        .expect("python3");
    status.success()
}

#[tokio::test]
async fn an_old_signed_delivery_is_refused_by_the_documented_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 100, 2025, 7);
    let server = Server::start_with(dir.path(), FAST);
    let token = token(dir.path(), &["org-a"]);
    let receiver = Receiver::start(Behaviour::Accept).await;
    let (_, secret) = register(&server, &token, &receiver.url, &["export.completed"]).await;
    let id = server.create(&token, export_body("org-a", "2025-01-01", "2025-12-31", "json")).await;
    server.wait_status(&token, &id, "completed").await;
    let seen = receiver.wait_until(Duration::from_secs(20), |seen| !seen.is_empty()).await;
    let (header, body) = (&seen[0].signature, &seen[0].body);
    let t: i64 = header.split(',').next().unwrap().strip_prefix("t=").unwrap().parse().unwrap();

    assert!(readme_verifies(&secret, header, body, now()), "a fresh delivery verifies");
    assert!(
        !readme_verifies(&secret, header, body, t + SIGNATURE_TOLERANCE_SECS + 1),
        "a replay after the tolerance does not"
    );
    assert!(
        !readme_verifies(&secret, header, &body.replace("export.completed", "export.failed"), now()),
        "a changed body does not"
    );
    assert!(!readme_verifies("whsec_other", header, body, now()), "another secret does not");
    // the same rule in Rust
    assert!(
        verify(header, body.as_bytes(), &secret, t + SIGNATURE_TOLERANCE_SECS + 1, SIGNATURE_TOLERANCE_SECS).is_err()
    );
}

#[tokio::test]
async fn endpoints_are_the_callers_own_capped_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), FAST);
    let a = token(dir.path(), &["org-a"]);
    let b = token(dir.path(), &["org-b"]);
    let new_hook =
        |n: usize| json!({ "url": format!("https://hooks{n}.example.org/x"), "event_types": ["export.failed"] });

    // a burst of 30 parallel creates: exactly 16 land
    let calls: Vec<_> = (0..30).map(|n| server.call(Method::POST, HOOKS, Some(&a), Some(new_hook(n)))).collect();
    let answers = futures::future::join_all(calls).await;
    let created: Vec<&Value> = answers.iter().filter(|(s, _, _)| *s == 201).map(|(_, _, b)| b).collect();
    assert_eq!(created.len(), 16);
    for (status, _, body) in answers.iter().filter(|(s, _, _)| *s != 201) {
        assert_eq!((*status, body["code"].as_str()), (409, Some("webhook_endpoint_limit_reached")), "{body}");
    }
    let (_, _, listed) = server.call(Method::GET, HOOKS, Some(&a), None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 16);
    assert!(listed["data"][0].get("secret").is_none());

    // another organisation sees none of them, and cannot touch them
    let id = created[0]["id"].as_str().unwrap();
    let (_, _, theirs) = server.call(Method::GET, HOOKS, Some(&b), None).await;
    assert_eq!(theirs["data"], json!([]));
    for (method, path) in [
        (Method::GET, format!("{HOOKS}/{id}")),
        (Method::DELETE, format!("{HOOKS}/{id}")),
        (Method::POST, format!("{HOOKS}/{id}/rotate-secret")),
        (Method::GET, format!("{HOOKS}/{id}/deliveries")),
        (Method::GET, format!("{HOOKS}/whe-20260101-abcdef")),
        (Method::GET, format!("{HOOKS}/..%2F..%2Fetc")),
    ] {
        let (status, _, body) = server.call(method.clone(), &path, Some(&b), None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("webhook_endpoint_not_found")),
            "{method} {path}: {body}"
        );
    }
    let (status, _, body) =
        server.call(Method::PATCH, &format!("{HOOKS}/{id}"), Some(&b), Some(json!({ "enabled": false }))).await;
    assert_eq!(status, 404, "{body}");
    let (status, _, body) = server.call(Method::GET, &format!("{HOOKS}?org_id=org-a"), Some(&b), None).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("organisation_forbidden")), "{body}");

    // bad input: clear 4xx, field by field
    for (bad, field) in [
        (json!({ "url": "https://x.example.org/", "event_types": [] }), "event_types"),
        (json!({ "url": "https://x.example.org/", "event_types": ["export.exploded"] }), "event_types"),
        (json!({ "url": "https://x.example.org/" }), "event_types"),
        (json!({ "event_types": ["export.failed"] }), "url"),
        (
            json!({ "url": "https://x.example.org/", "event_types": ["export.failed"], "description": "x".repeat(501) }),
            "description",
        ),
        (json!({ "url": "https://x.example.org/", "event_types": ["export.failed"], "org_id": "../x" }), "org_id"),
    ] {
        let (status, _, body) = server.call(Method::POST, HOOKS, Some(&b), Some(bad.clone())).await;
        assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some(field)), "{bad}: {body}");
    }
    for bad in [
        json!({ "url": 5, "event_types": "export.failed" }),
        json!([1, 2]),
        json!({ "url": "https://x.example.org/", "event_types": ["export.failed"], "secret": "mine" }),
    ] {
        let (status, _, body) = server.call(Method::POST, HOOKS, Some(&b), Some(bad.clone())).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("invalid_body")), "{bad}: {body}");
    }
    let (status, _, body) = server.call(Method::PATCH, &format!("{HOOKS}/{id}"), Some(&a), Some(json!({}))).await;
    assert_eq!(status, 422, "an empty change: {body}");
    let (status, _, body) = server
        .call(
            Method::POST,
            &format!("{HOOKS}/{id}/rotate-secret"),
            Some(&a),
            Some(json!({ "expire_current_in_seconds": 604801 })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _, body) = server.call(Method::GET, &format!("{HOOKS}/{id}/deliveries?limit=0"), Some(&a), None).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_query")), "{body}");
    let (status, _, _) = server.call(Method::POST, HOOKS, None, Some(new_hook(1))).await;
    assert_eq!(status, 401);

    // changes, then delete frees a place
    let (status, _, changed) = server
        .call(
            Method::PATCH,
            &format!("{HOOKS}/{id}"),
            Some(&a),
            Some(json!({ "event_types": ["import.failed", "export.failed"], "description": "Regnskap" })),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["event_types"], json!(["export.failed", "import.failed"]));
    assert_eq!(changed["description"], "Regnskap");
    let (status, _, body) = server.call(Method::DELETE, &format!("{HOOKS}/{id}"), Some(&a), None).await;
    assert_eq!((status, body), (200, json!({ "deleted": true, "id": id })));
    let (status, _, _) = server.call(Method::DELETE, &format!("{HOOKS}/{id}"), Some(&a), None).await;
    assert_eq!(status, 404);
    let (status, _, body) = server.call(Method::POST, HOOKS, Some(&a), Some(new_hook(99))).await;
    assert_eq!(status, 201, "{body}");
}
