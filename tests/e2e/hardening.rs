//! What a hostile or careless client does to the real server, on either
//! backend: bursts against the in-flight cap, retries past it, connections
//! that send half a request and stop, dates that are almost ISO, bodies that
//! are not objects, and malformed parts of every route. Each must get a
//! clear 4xx problem (or a bounded wait), and never take the server from
//! everyone else.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::*;
use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

const CAP: usize = 3;

/// Exports that stay queued: with one worker busy on another
/// organisation's long export, nothing of `org-a`'s can start or finish,
/// so what is in flight is exactly what the cap let in.
async fn blocked_server(dir: &std::path::Path) -> (Server, String, String) {
    seed(dir, "org-blocker", long_export_rows(), 2025, 11);
    seed(dir, "org-a", 20, 2025, 12);
    let server = Server::start_with(dir, &["--concurrency", "1", "--max-in-flight", &CAP.to_string()]);
    let blocker_token = token(dir, &["org-blocker"]);
    let blocker = server.create(&blocker_token, export_body("org-blocker", "2025-01-01", "2025-12-31", "excel")).await;
    server.wait_for(&blocker_token, &blocker, Duration::from_secs(120), |j| j["status"] == "running").await;
    (server, blocker_token, blocker)
}

async fn cancel(server: &Server, token: &str, id: &str) {
    let (status, _, body) = server.call(Method::PUT, &format!("{API}/{id}/cancel"), Some(token), None).await;
    assert_eq!(status, 200, "{body}");
}

fn assert_cap_refusal(status: u16, headers: &reqwest::header::HeaderMap, body: &Value) {
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "too_many_exports_in_flight", "{body}");
    let retry_after: u64 = headers.get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry_after), "Retry-After {retry_after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_takes_a_slot_like_a_create() {
    let dir = tempfile::tempdir().unwrap();
    let (server, blocker_token, blocker) = blocked_server(dir.path()).await;
    let token = token(dir.path(), &["org-a"]);
    let body = export_body("org-a", "2025-01-01", "2025-12-31", "json");

    let first = server.create(&token, body.clone()).await;
    cancel(&server, &token, &first).await;
    for _ in 0..CAP {
        server.create(&token, body.clone()).await;
    }
    let (status, headers, refused) =
        server.call(Method::POST, &format!("{API}/{first}/retry"), Some(&token), None).await;
    assert_cap_refusal(status, &headers, &refused);
    assert_eq!(server.get(&token, &first).await["status"], "cancelled", "a refused retry changes nothing");
    assert_eq!(in_flight(dir.path(), "org-a").await, CAP as u64);
    cancel(&server, &blocker_token, &blocker).await;
}

/// 30 creates and retries at once, on an organisation with nothing in
/// flight: storage is sampled all the while, and never holds more than the
/// cap; exactly the cap's worth are accepted, every other gets a 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_creates_and_retries_never_passes_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let (server, blocker_token, blocker) = blocked_server(dir.path()).await;
    let token = token(dir.path(), &["org-a"]);
    let body = export_body("org-a", "2025-01-01", "2025-12-31", "json");
    let mut cancelled = Vec::new();
    for _ in 0..2 {
        let ids: Vec<String> = join_all((0..CAP).map(|_| server.create(&token, body.clone()))).await;
        for id in &ids {
            cancel(&server, &token, id).await;
        }
        cancelled.extend(ids);
    }
    assert_eq!(in_flight(dir.path(), "org-a").await, 0);

    let done = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, most, data) = (done.clone(), most.clone(), dir.path().to_path_buf());
        tokio::spawn(async move {
            let mut samples = 0;
            while !done.load(Ordering::Relaxed) {
                most.fetch_max(in_flight(&data, "org-a").await, Ordering::Relaxed);
                samples += 1;
            }
            samples
        })
    };
    let requests = (0..30).map(|i| {
        let (server, token, body) = (&server, &token, body.clone());
        let retried = (i % 5 == 0).then(|| cancelled[i / 5].clone());
        async move {
            match retried {
                Some(id) => server.call(Method::POST, &format!("{API}/{id}/retry"), Some(token), None).await,
                None if i % 2 == 0 => server.create_keyed(token, &format!("burst-{i}"), body).await,
                None => server.call(Method::POST, API, Some(token), Some(body)).await,
            }
        }
    });
    let answers = join_all(requests).await;
    done.store(true, Ordering::Relaxed);
    let samples = sampler.await.unwrap();

    let mut accepted = 0;
    for (status, headers, body) in &answers {
        match status {
            200 | 202 => accepted += 1,
            _ => assert_cap_refusal(*status, headers, body),
        }
    }
    assert_eq!(
        server.get(&blocker_token, &blocker).await["status"],
        "running",
        "the blocker kept org-a's exports queued"
    );
    assert_eq!(accepted, CAP, "exactly the cap's worth accepted");
    assert!(samples > 0);
    assert!(most.load(Ordering::Relaxed) <= CAP as u64, "storage held {} in flight", most.load(Ordering::Relaxed));
    assert_eq!(in_flight(dir.path(), "org-a").await, CAP as u64);
    cancel(&server, &blocker_token, &blocker).await;
}

/// A connection that sends part of a request head and nothing more.
fn half_sent(base: &str) -> TcpStream {
    let mut s = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    s.write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: slow\r\nX-Still-Typing: ").unwrap();
    s
}

/// Reads until the server closes the connection; the time it took.
fn closed_after(mut s: TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            // hyper may answer 408 before it closes
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(started.elapsed()),
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn half_sent_requests_do_not_starve_others_and_are_dropped() {
    const TIMEOUT: u64 = 2;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--header-timeout-secs", &TIMEOUT.to_string()]);
    let slow: Vec<TcpStream> = (0..200).map(|_| half_sent(&server.base)).collect();
    let opened = Instant::now();

    let asked = Instant::now();
    let answer = server.http.get(server.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(asked.elapsed() < Duration::from_secs(1), "answered after {:?}", asked.elapsed());

    let closers: Vec<_> = slow
        .into_iter()
        .map(|s| std::thread::spawn(move || closed_after(s, Duration::from_secs(TIMEOUT + 5))))
        .collect();
    for c in closers {
        assert!(c.join().unwrap().is_some(), "a half-sent request was still open after {:?}", opened.elapsed());
    }
    assert!(opened.elapsed() < Duration::from_secs(TIMEOUT + 5));

    // A keep-alive connection left idle is closed after the same time.
    let mut idle = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    idle.write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: idle\r\n\r\n").unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let closed = closed_after(idle, Duration::from_secs(TIMEOUT + 5)).expect("idle connection closed");
    assert!(closed >= Duration::from_millis(TIMEOUT * 1000 - 200), "closed after {closed:?}");
}

/// With only 256 files the process may open, 300 slow connections must
/// not make accept fail ("too many open files") and stop the server: the
/// connection bound keeps them within the limit, and the rest wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_low_open_file_limit_never_stops_the_server() {
    const TIMEOUT: u64 = 2;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let server =
        Server::start_with_open_file_limit(dir.path(), 256, &["--header-timeout-secs", &TIMEOUT.to_string()], &log);
    let slow: Vec<TcpStream> = (0..300).map(|_| half_sent(&server.base)).collect();

    let asked = Instant::now();
    let answer = server.http.get(server.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    // Behind at most one round of slow connections in the backlog.
    assert!(asked.elapsed() < Duration::from_secs(2 * TIMEOUT + 3), "answered after {:?}", asked.elapsed());
    drop(slow);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.to_lowercase().contains("too many open files"), "{logged}");
    assert!(logged.contains("fewer connections allowed"), "the lowered bound is logged: {logged}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dates_must_be_exactly_iso() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-a"]);
    for bad in [
        "2025-01- 1",
        " 2025-1-01",
        "+2025-1-01",
        "2025- 1-01",
        "+02025-1-1",
        "2025-1-1",
        "2025-01-01 ",
        "2025-01-01T00:00:00Z",
    ] {
        for field in ["period_from", "period_to"] {
            let mut body = export_body("org-a", "2025-01-01", "2025-01-31", "json");
            body[field] = json!(bad);
            let (status, _, problem) = server.call(Method::POST, API, Some(&token), Some(body)).await;
            assert_eq!(status, 422, "{field} {bad:?}: {problem}");
            assert_eq!(problem["code"], "validation_failed");
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        }
    }
    assert_eq!(server.list_all(&token).await.0, 0, "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_a_json_object_is_a_body() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 20, 2025, 3);
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-a"]);
    let positional = json!(["org-a", "json", "2025-01-01", "2025-01-31"]);
    let (status, _, problem) = server.call(Method::POST, API, Some(&token), Some(positional)).await;
    assert_eq!((status, problem["code"].as_str()), (422, Some("invalid_body")), "{problem}");
    assert_eq!(server.list_all(&token).await.0, 0);

    let id = server.create(&token, export_body("org-a", "2025-01-01", "2025-01-31", "json")).await;
    for body in [json!(["a reason"]), json!("a reason"), json!(42)] {
        let (status, _, problem) =
            server.call(Method::PUT, &format!("{API}/{id}/cancel"), Some(&token), Some(body.clone())).await;
        assert_eq!((status, problem["code"].as_str()), (422, Some("invalid_body")), "{body}: {problem}");
    }
}

/// Malformed parts of every route: each answer is a 4xx problem+json,
/// whichever extractor refused it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_malformed_request_gets_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 20, 2025, 5);
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-a"]);
    let id = server.create(&token, export_body("org-a", "2025-01-01", "2025-01-31", "json")).await;
    let export = format!("{API}/{id}");
    let cases: Vec<(Method, String, Option<&str>, Option<&str>)> = vec![
        (Method::GET, "/files/%FF?expires=1&name=a&sig=00".into(), None, None),
        (Method::GET, "/files/%C3%28?expires=1&name=a&sig=00".into(), None, None),
        (Method::GET, "/files/a%00b?expires=x&name=a&sig=00".into(), None, None),
        (Method::GET, "/files/a?expires=99999999999999999999&name=a&sig=00".into(), None, None),
        (Method::GET, "/files/a?name=%FF&expires=1&sig=00".into(), None, None),
        (Method::GET, format!("{API}/%FF"), None, None),
        (Method::GET, format!("{API}/%FF/x"), None, None),
        (Method::PUT, format!("{API}/%FF/cancel"), None, None),
        (Method::POST, format!("{API}/exp-%FF-abcdef/retry"), None, None),
        (Method::DELETE, format!("{API}/{}", "x".repeat(5000)), None, None),
        (Method::GET, format!("{API}?page=%FF"), None, None),
        (Method::GET, format!("{API}?limit=1&limit=%FF%FE"), None, None),
        (Method::GET, format!("{API}?%FF=1"), None, None),
        (Method::GET, format!("{API}?status=queued&status=nope"), None, None),
        (Method::POST, API.into(), Some("application/json"), Some("{\"period_from\": \"2025-01-01\",")),
        (Method::POST, API.into(), Some("application/json"), Some("\u{feff}{}")),
        (Method::POST, API.into(), Some("text/plain"), Some("{}")),
        (Method::POST, API.into(), None, Some("{}")),
        (Method::POST, API.into(), Some("application/json"), Some("[]")),
        (Method::POST, API.into(), Some("application/json"), Some("null")),
        (Method::POST, API.into(), Some("application/json"), Some("{\"org_id\": \"\u{0}\"}")),
        (Method::PUT, format!("{export}/cancel"), Some("application/json"), Some("{\"reason\": 5}")),
        (Method::PUT, format!("{export}/cancel"), Some("application/json"), Some("[\"a reason\"]")),
        (Method::PUT, format!("{export}/cancel"), Some("application/json"), Some("\"\\ud800\"")),
        (Method::PATCH, export.clone(), Some("application/json"), Some("{}")),
        (Method::GET, "/api/v1/nowhere".into(), None, None),
        (Method::POST, "/api/v1/openapi.json".into(), None, None),
    ];
    for (method, path, content_type, body) in cases {
        let mut req = server.http.request(method.clone(), server.url(&path)).bearer_auth(&token);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
        let text = resp.text().await.unwrap();
        assert!((400..500).contains(&status), "{method} {path}: {status} {text}");
        assert_eq!(ct.as_deref(), Some("application/problem+json"), "{method} {path}: {status} {text}");
        let problem: Value = serde_json::from_str(&text).unwrap();
        assert!(problem["code"].is_string(), "{method} {path}: {text}");
    }
    if server_signs_links() {
        let (status, _, problem) = server.call(Method::GET, "/files/%FF?expires=1&name=a&sig=00", None, None).await;
        assert_eq!((status, problem["code"].as_str()), (403, Some("download_link_invalid")), "{problem}");
    }
}

/// A body whose chunked framing breaks half way: the problem says the body
/// did not arrive, not that its JSON is malformed.
#[tokio::test]
async fn a_body_that_does_not_arrive_whole_is_named_so() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-a"]);
    let mut s = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    let head = format!(
        "PUT {ACTIVITIES} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(b"5\r\n{\"act\r\nzz\r\nnot a chunk\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("content-type: application/problem+json"), "{answer}");
    assert!(answer.contains("\"code\":\"body_incomplete\""), "{answer}");
}

/// A queued export whose process died before starting it: another
/// server's watchdog starts it again (and fails the running one whose
/// heartbeat stopped), so neither holds a slot of the cap for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_watchdog_starts_a_queued_export_nobody_runs() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-blocker", long_export_rows(), 2025, 11);
    seed(dir.path(), "org-a", 20, 2025, 12);
    // Longer than the AWS runner's 5 s heartbeat, so only a dead worker stalls.
    let watcher = Server::start_with(dir.path(), &["--stall-limit-secs", "8"]);
    let dying = Server::start_with(dir.path(), &["--concurrency", "1"]);
    let (blocker_token, token) = (token(dir.path(), &["org-blocker"]), token(dir.path(), &["org-a"]));
    let blocker = dying.create(&blocker_token, export_body("org-blocker", "2025-01-01", "2025-12-31", "excel")).await;
    dying.wait_for(&blocker_token, &blocker, Duration::from_secs(120), |j| j["status"] == "running").await;
    let waiting = dying.create(&token, export_body("org-a", "2025-01-01", "2025-12-31", "json")).await;
    assert_eq!(dying.get(&token, &waiting).await["status"], "queued");
    dying.kill();

    let done = watcher
        .wait_for(&token, &waiting, Duration::from_secs(60), |j| j["status"] != "queued" && j["status"] != "running")
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    // The watchdog's entry is written just after the status: wait for both.
    let failed_by_watchdog = |j: &Value| {
        j["status"] == "failed"
            && j["history"].as_array().and_then(|h| h.last()).is_some_and(|e| e["actor"] == "system:watchdog")
    };
    let stalled = watcher.wait_for(&blocker_token, &blocker, Duration::from_secs(60), failed_by_watchdog).await;
    assert!(stalled["error_message"].as_str().unwrap().contains("stopped making progress"), "{stalled}");
    assert_eq!(stalled["error_code"], "timeout", "{stalled}");
    let last = stalled["history"].as_array().unwrap().last().unwrap().clone();
    let fields = ["action", "actor", "from_status", "to_status"].map(|f| last[f].clone());
    assert_eq!(fields, [json!("failed"), json!("system:watchdog"), json!("running"), json!("failed")], "{stalled}");
}
