//! Input limits, in process: the router over the embedded stores, with
//! the job store wrapped to count every call. Malformed ids, bad query
//! parameters, oversized and unknown bodies are answered before storage
//! is asked, each with a 4xx problem, never a 5xx.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::adapters::embedded::EmbeddedApp;
use shared::domain::{ExportId, ExportJob, Progress};
use shared::http::{ApiState, api_router, finish};
use shared::ports::{
    AttemptState, Event, EventPublisher, JobPage, JobQuery, JobStore, KeyRecord, KeyedInsert, KeyedJobs, PortResult,
    WorkflowStarter,
};
use shared::service::{ExportService, Ports, Settings};
use tower::ServiceExt;

/// A job store that counts every call before passing it on.
struct Counting {
    inner: Arc<dyn JobStore>,
    calls: AtomicUsize,
}

#[async_trait]
impl JobStore for Counting {
    async fn insert(&self, job: &ExportJob) -> PortResult<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.insert(job).await
    }
    async fn get(&self, id: &ExportId) -> PortResult<Option<ExportJob>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.get(id).await
    }
    async fn list(&self, query: &JobQuery) -> PortResult<JobPage> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.list(query).await
    }
    async fn update(&self, job: &ExportJob, expected_version: u64) -> PortResult<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.update(job, expected_version).await
    }
    async fn record_progress(
        &self,
        id: &ExportId,
        attempt: u32,
        progress: &Progress,
        at: DateTime<Utc>,
    ) -> PortResult<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.record_progress(id, attempt, progress, at).await
    }
    async fn delete(&self, id: &ExportId) -> PortResult<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(id).await
    }
    async fn unfinished(&self) -> PortResult<Vec<ExportJob>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.unfinished().await
    }
}

#[async_trait]
impl KeyedJobs for Counting {
    async fn insert_keyed(&self, job: &ExportJob, record: &KeyRecord) -> PortResult<KeyedInsert> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.insert_keyed(job, record).await
    }
    async fn key_record(&self, scope: &str, key: &str, now: DateTime<Utc>) -> PortResult<Option<KeyRecord>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.key_record(scope, key, now).await
    }
    async fn forget_scope(&self, scope: &str) -> PortResult<u64> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.forget_scope(scope).await
    }
}

/// Nothing runs in these tests: no export gets past validation.
struct Idle;

#[async_trait]
impl WorkflowStarter for Idle {
    async fn start(&self, _: &shared::domain::ExportJob) -> PortResult<()> {
        Ok(())
    }
    async fn stop(&self, _: &ExportId, _: u32) -> PortResult<()> {
        Ok(())
    }
    async fn attempt_state(&self, _: &ExportId, _: u32) -> PortResult<AttemptState> {
        Ok(AttemptState::NotStarted)
    }
}

#[async_trait]
impl EventPublisher for Idle {
    async fn publish(&self, _: &Event) -> PortResult<()> {
        Ok(())
    }

    async fn forget_organisation(&self, _: &str) -> PortResult<u64> {
        Ok(0)
    }
}

struct Api {
    router: Router,
    jobs: Arc<Counting>,
    token: String,
    _dir: tempfile::TempDir,
}

fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let app = EmbeddedApp::open(dir.path(), "http://127.0.0.1:1", 1).unwrap();
    let jobs = Arc::new(Counting { inner: app.jobs.clone(), calls: AtomicUsize::new(0) });
    let ports = Ports {
        jobs: jobs.clone(),
        activities: app.activities.clone(),
        files: app.files.clone(),
        workflow: Arc::new(Idle),
        events: Arc::new(Idle),
        metrics: app.metrics.clone(),
        audit: app.audit.clone(),
        submitter: Arc::new(shared::adapters::embedded::LocalBufdirReceiver::new(dir.path().join("outbox")).unwrap()),
    };
    let service = Arc::new(ExportService::new(ports, Settings::default()));
    let token = app.jwt.issue("tester", &["org-a".to_string()], false, Duration::from_secs(600));
    let router = finish(api_router(ApiState { service, ..app.api_state() }));
    Api { router, jobs, token, _dir: dir }
}

impl Api {
    async fn send(&self, method: Method, uri: &str, content_type: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut req =
            Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {}", self.token));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = self.router.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    fn storage_calls(&self) -> usize {
        self.jobs.calls.load(Ordering::SeqCst)
    }
}

const API: &str = "/api/v1/bufdir-exports";

#[tokio::test]
async fn malformed_export_ids_are_refused_before_storage_is_asked() {
    let api = api();
    let long = "a".repeat(10_000);
    let ids = [
        "not-an-id",
        "exp-20250101-ABCDEF",
        "exp-20251301-abcdef",
        "exp-20250230-abcdef",
        "exp-20250101-abcdefg",
        "exp-20250101-abcde",
        "exp-2025011-abcdef",
        "exp--abcdef",
        "EXP-20250101-abcdef",
        "exp-20250101-abc_ef",
        "exp-20250101-%C3%A5bcdef",
        "exp-20250101-abcde%00",
        "%2e%2e%2f%2e%2e%2fsecret.key",
        "exp-20250101-abc%2Fef",
        "%20exp-20250101-abcdef",
        "exp-20250101-abcdef%20",
        "%FF%FE",
        "0",
        "-1",
        "null",
        long.as_str(),
    ];
    for id in ids {
        for (method, uri) in [
            (Method::GET, format!("{API}/{id}")),
            (Method::DELETE, format!("{API}/{id}")),
            (Method::PUT, format!("{API}/{id}/cancel")),
            (Method::POST, format!("{API}/{id}/retry")),
        ] {
            let (status, body) = api.send(method.clone(), &uri, None, vec![]).await;
            assert_eq!((status, body["code"].as_str()), (404, Some("export_not_found")), "{method} {uri}");
        }
    }
    assert_eq!(api.storage_calls(), 0, "a malformed id reached the job store");
    // The control: a well-formed unknown id is looked up, and is not found.
    let (status, _) = api.send(Method::GET, &format!("{API}/exp-20250101-abcdef"), None, vec![]).await;
    assert_eq!(status, 404);
    assert_eq!(api.storage_calls(), 1);
}

#[tokio::test]
async fn query_parameters_are_bounded_and_checked_before_storage() {
    let api = api();
    let bad = [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("limit=1.5", "limit"),
        ("limit=", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("limit=1e2", "limit"),
        ("limit=%205", "limit"),
        ("page=0", "page"),
        ("page=100001", "page"),
        ("page=4294967296", "page"),
        ("page=abc", "page"),
        ("status=QUEUED", "status"),
        ("status=", "status"),
        ("status=queued,running", "status"),
        ("format=pdf", "format"),
        ("format=excel%00", "format"),
        ("cursor=abc", "cursor"),
        ("sort=created_at", "sort"),
        ("org_id=org-b", "org_id"),
        ("%FF=1", "\u{FFFD}"),
    ];
    for (query, field) in bad {
        let (status, body) = api.send(Method::GET, &format!("{API}?{query}"), None, vec![]).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid_query")), "{query}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
    }
    // Every bad parameter is named at once.
    let (_, body) = api.send(Method::GET, &format!("{API}?limit=0&page=0&status=x&format=y&z=1"), None, vec![]).await;
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["limit", "page", "status", "format", "z"]);
    assert_eq!(api.storage_calls(), 0, "a bad query reached the job store");

    for good in ["", "?limit=1", "?limit=100", "?page=100000", "?page=1&limit=20&status=failed&format=csv"] {
        let (status, body) = api.send(Method::GET, &format!("{API}{good}"), None, vec![]).await;
        assert_eq!(status, 200, "{good}: {body}");
    }
}

#[tokio::test]
async fn bodies_are_capped_strict_and_never_a_server_error() {
    let api = api();
    let json_ct = Some("application/json");
    // Over the 16 KiB cap, on both endpoints that take a body.
    let big = format!(r#"{{"org_id":"{}"}}"#, "x".repeat(1 << 20)).into_bytes();
    let cancel = format!("{API}/exp-20250101-abcdef/cancel");
    for uri in [API, cancel.as_str()] {
        let method = if uri == API { Method::POST } else { Method::PUT };
        let (status, body) = api.send(method, uri, json_ct, big.clone()).await;
        assert_eq!((status, body["code"].as_str()), (413, Some("payload_too_large")), "{uri}");
    }

    // Unknown fields, each named.
    let (status, body) = api
        .send(
            Method::POST,
            API,
            json_ct,
            br#"{"period_from":"2025-01-01","period_to":"2025-01-31","colour":"red","org":"x"}"#.to_vec(),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (422, Some("invalid_body")), "{body}");
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["colour", "org"]);
    let (status, body) = api.send(Method::PUT, &cancel, json_ct, br#"{"reason":"x","why":"y"}"#.to_vec()).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("why")), "{body}");

    // Odd shapes: every answer is a 4xx problem.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let odd: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"42".to_vec(),
        b"\"text\"".to_vec(),
        b"{".to_vec(),
        deep.into_bytes(),
        vec![0xff, 0xfe, 0x00],
        br#"{"period_from":null,"period_to":null}"#.to_vec(),
        br#"{"activity_types":"group_session"}"#.to_vec(),
        br#"{"activity_types":[1,2]}"#.to_vec(),
        br#"{"include_attachments":"yes"}"#.to_vec(),
        br#"{"format":{"a":1}}"#.to_vec(),
        br#"{"period_from":"2025-01-01","period_to":"2025-01-01","org_id":"org-a\u0000"}"#.to_vec(),
        br#"{"period_from":"+262143-01-01","period_to":"+262143-12-31"}"#.to_vec(),
        br#"{"period_from":"2025-01-01","period_to":"9999-12-31"}"#.to_vec(),
    ];
    for body in &odd {
        for (method, uri) in [(Method::POST, API), (Method::PUT, cancel.as_str())] {
            let (status, problem) = api.send(method.clone(), uri, json_ct, body.clone()).await;
            assert!(
                (400..500).contains(&status),
                "{method} {uri} {:?}: {status} {problem}",
                String::from_utf8_lossy(body)
            );
            assert!(problem["code"].is_string(), "{problem}");
        }
    }
    let (status, body) =
        api.send(Method::POST, API, Some("text/plain"), br#"{"period_from":"2025-01-01"}"#.to_vec()).await;
    assert_eq!((status, body["code"].as_str()), (415, Some("unsupported_media_type")));
    let (status, created) = api
        .send(
            Method::POST,
            API,
            json_ct,
            json!({"period_from": "2025-01-01", "period_to": "2025-01-31", "format": null, "org_id": null})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(status, 202, "the control request is accepted, null meaning left out: {created}");
    // `null` is the JSON spelling of no body, which cancel allows.
    let id = created["export_id"].as_str().unwrap();
    let (status, body) = api.send(Method::PUT, &format!("{API}/{id}/cancel"), json_ct, b"null".to_vec()).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("cancelled")), "{body}");
}
