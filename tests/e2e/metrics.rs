//! `GET /metrics`: the process's counters in Prometheus' text format:
//! exports created, ended by outcome and failure code, and their timings,
//! with no organisation or id in any series.

use std::collections::BTreeMap;

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::support::receiver::{Behaviour, Receiver};
use crate::support::*;

/// Webhooks to this machine, retried after a few hundred milliseconds.
const WEBHOOKS: &[&str] =
    &["--webhook-allow-host", "127.0.0.1", "--webhook-retry-first-ms", "300", "--webhook-retry-max-ms", "600"];

async fn metrics_text(server: &Server) -> String {
    reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap()
}

/// `name{label="value",...} number` lines, keyed by name and sorted labels.
fn samples(text: &str) -> BTreeMap<(String, Vec<(String, String)>), f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut labels: Vec<(String, String)> = labels
            .split(',')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap();
                (k.to_string(), v.trim_matches('"').to_string())
            })
            .collect();
        labels.sort();
        out.insert((name.to_string(), labels), value.parse().unwrap_or_else(|_| panic!("a number: {line}")));
    }
    out
}

fn key(name: &str, labels: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
    let mut labels: Vec<(String, String)> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    labels.sort();
    (name.to_string(), labels)
}

#[tokio::test]
async fn exports_are_counted_by_outcome_and_failure_code() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 200, 2025, 1);
    seed(dir.path(), "org-big", long_export_rows(), 2025, 2);
    let server = Server::start_with(dir.path(), WEBHOOKS);
    let token = token(dir.path(), &["org-a", "org-big"]);
    // A receiver that refuses the first delivery: one retry, then delivered.
    let receiver = Receiver::start(Behaviour::FailFirst(1)).await;
    let endpoint = json!({ "org_id": "org-a", "url": receiver.url, "event_types": ["export.completed"] });
    let (status, _, body) = server.call(Method::POST, "/api/v1/webhook-endpoints", Some(&token), Some(endpoint)).await;
    assert_eq!(status, 201, "{body}");

    let done = server.create(&token, export_body("org-a", "2025-01-01", "2025-12-31", "csv")).await;
    server.wait_status(&token, &done, "completed").await;
    let cancelled = server.create(&token, export_body("org-big", "2025-01-01", "2025-12-31", "excel")).await;
    let (status, _, body) = server.call(Method::PUT, &format!("{API}/{cancelled}/cancel"), Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    corrupt_one_activity(dir.path(), "org-a").await;
    let failed = server.create(&token, export_body("org-a", "2025-01-01", "2025-12-31", "json")).await;
    server.wait_status(&token, &failed, "failed").await;

    // Each end is counted just after it is stored: wait for the last one.
    let failed_json = key(
        "bufdir_exports_finished_total",
        &[("outcome", "failed"), ("error_code", "internal"), ("fault", "system"), ("format", "json")],
    );
    let started = std::time::Instant::now();
    while !samples(&metrics_text(&server).await).contains_key(&failed_json) {
        assert!(started.elapsed() < Duration::from_secs(30), "the failure was never counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200, "no token needed, like a scrape target");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.text().await.unwrap();
    for private in ["org-a", "org-big", done.as_str(), cancelled.as_str(), failed.as_str()] {
        assert!(!text.contains(private), "{private} is in the metrics:\n{text}");
    }
    assert!(text.contains("# TYPE bufdir_exports_finished_total counter"), "{text}");
    let s = samples(&text);
    let value = |name: &str, labels: &[(&str, &str)]| s.get(&key(name, labels)).copied();
    for format in ["csv", "excel", "json"] {
        assert_eq!(value("bufdir_exports_created_total", &[("format", format)]), Some(1.0), "{format}:\n{text}");
    }
    let finished = |outcome, code, fault, format| {
        let labels = [("outcome", outcome), ("error_code", code), ("fault", fault), ("format", format)];
        value("bufdir_exports_finished_total", &labels)
    };
    assert_eq!(finished("completed", "none", "none", "csv"), Some(1.0), "{text}");
    assert_eq!(finished("cancelled", "none", "none", "excel"), Some(1.0), "{text}");
    assert_eq!(finished("failed", "internal", "system", "json"), Some(1.0), "{text}");
    assert_eq!(value("bufdir_export_duration_seconds_count", &[("format", "csv")]), Some(1.0), "{text}");
    assert_eq!(value("bufdir_export_rows_per_second_count", &[("format", "csv")]), Some(1.0), "{text}");
    assert!(value("bufdir_export_rows_per_second_sum", &[("format", "csv")]).unwrap() > 0.0, "{text}");
    assert_eq!(value("bufdir_export_queued_seconds_count", &[("format", "csv")]), Some(1.0), "{text}");
    assert_eq!(value("bufdir_export_queued_seconds_count", &[("format", "json")]), Some(1.0), "{text}");
    let no_duration_for_a_failure = value("bufdir_export_duration_seconds_count", &[("format", "json")]);
    assert_eq!(no_duration_for_a_failure, None, "{text}");

    // imports: one whole, one refused for a bad row
    let template = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/shared/core/templates/activities.csv"));
    let imported = server.import(&token, json!({ "org_id": "org-a", "format": "csv" }), template.to_vec()).await;
    assert_eq!(imported["status"], "completed", "{imported}");
    let refused = server
        .import(&token, json!({ "org_id": "org-a", "format": "jsonl" }), b"{\"activity_id\":\"x\"}\n".to_vec())
        .await;
    assert_eq!(refused["status"], "failed", "{refused}");
    let code = refused["error_code"].as_str().unwrap();
    // the webhook: refused once, then delivered
    receiver.wait_until(Duration::from_secs(30), |seen| seen.len() >= 2).await;
    // An import's or a delivery's count follows its stored outcome (after
    // the upload is cleaned up, after the receiver answered): wait for both.
    let awaited = [
        key("bufdir_webhook_attempts_total", &[("outcome", "delivered")]),
        key("bufdir_imports_finished_total", &[("outcome", "failed"), ("error_code", code)]),
    ];
    let started = std::time::Instant::now();
    let s = loop {
        let s = samples(&metrics_text(&server).await);
        if awaited.iter().all(|k| s.contains_key(k)) {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never counted: {awaited:?} in {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let value = |name: &str, labels: &[(&str, &str)]| s.get(&key(name, labels)).copied();
    let imports = |outcome, code| value("bufdir_imports_finished_total", &[("outcome", outcome), ("error_code", code)]);
    assert_eq!(imports("completed", "none"), Some(1.0), "{s:?}");
    assert_eq!(imports("failed", code), Some(1.0), "{s:?}");
    assert_eq!(value("bufdir_import_rows_written_total", &[]), imported["rows_written"].as_f64(), "{s:?}");
    assert_eq!(value("bufdir_webhook_attempts_total", &[("outcome", "retrying")]), Some(1.0), "{s:?}");
    assert_eq!(value("bufdir_webhook_attempts_total", &[("outcome", "delivered")]), Some(1.0), "{s:?}");
}
