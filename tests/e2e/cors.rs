//! Browser apps on another origin: a preflight and a cross-origin request
//! pass for an origin the server was given (`serve --cors-origin`) and
//! carry no CORS headers for any other, so a browser keeps that one out.

use crate::support::*;
use reqwest::{Method, header};
use serde_json::Value;

const APP: &str = "https://app.example.org";
const DEV: &str = "http://localhost:5173";

async fn preflight(server: &Server, path: &str, origin: &str, method: &str) -> reqwest::Response {
    server
        .http
        .request(Method::OPTIONS, server.url(path))
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization,content-type,idempotency-key")
        .send()
        .await
        .unwrap()
}

fn allowed_origin(resp: &reqwest::Response) -> Option<String> {
    resp.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).map(|v| v.to_str().unwrap().to_string())
}

fn listed(resp: &reqwest::Response, name: header::HeaderName) -> Vec<String> {
    resp.headers()
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(',').map(|s| s.trim().to_ascii_lowercase()).collect::<Vec<_>>())
        .collect()
}

#[tokio::test]
async fn allowed_origins_pass_preflight_and_read_answers_others_get_nothing() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 20, 2025, 1);
    let server = Server::start_with(dir.path(), &["--cors-origin", APP, "--cors-origin", &format!("{DEV}/")]);
    let token = token(dir.path(), &["org-a"]);

    for origin in [APP, DEV] {
        let resp = preflight(&server, API, origin, "POST").await;
        assert!(resp.status().is_success(), "{}", resp.status());
        assert_eq!(allowed_origin(&resp).as_deref(), Some(origin));
        let methods = listed(&resp, header::ACCESS_CONTROL_ALLOW_METHODS);
        for m in ["get", "post", "put", "delete"] {
            assert!(methods.contains(&m.to_string()), "{methods:?}");
        }
        let headers = listed(&resp, header::ACCESS_CONTROL_ALLOW_HEADERS);
        for h in ["authorization", "content-type", "idempotency-key"] {
            assert!(headers.contains(&h.to_string()), "{headers:?}");
        }
        assert_eq!(resp.headers()[header::ACCESS_CONTROL_MAX_AGE], "600");
        assert!(listed(&resp, header::VARY).iter().any(|v| v == "origin"));
    }
    // a preflight for another route and method
    let resp = preflight(&server, &format!("{API}/exp-20250101-abcdef/cancel"), APP, "PUT").await;
    assert_eq!(allowed_origin(&resp).as_deref(), Some(APP));

    // the request itself: the answer, and the headers a page may read
    let resp = server.http.get(server.url(API)).bearer_auth(&token).header(header::ORIGIN, APP).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(allowed_origin(&resp).as_deref(), Some(APP));
    let exposed = listed(&resp, header::ACCESS_CONTROL_EXPOSE_HEADERS);
    for h in ["location", "retry-after", "x-request-id", "idempotent-replayed"] {
        assert!(exposed.contains(&h.to_string()), "{exposed:?}");
    }
    // a problem answer is readable too, so the page can show why
    let resp = server.http.get(server.url(API)).header(header::ORIGIN, APP).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(allowed_origin(&resp).as_deref(), Some(APP));
    let created = server
        .http
        .post(server.url(API))
        .bearer_auth(&token)
        .header(header::ORIGIN, DEV)
        .json(&export_body("org-a", "2025-01-01", "2025-12-31", "json"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    assert_eq!(allowed_origin(&created).as_deref(), Some(DEV));

    // any other origin: no CORS headers, so the browser refuses to use the answer
    for origin in ["https://evil.example", "https://app.example.org.evil.example", "http://app.example.org", "null"] {
        let resp = preflight(&server, API, origin, "POST").await;
        assert_eq!(allowed_origin(&resp), None, "{origin}");
        let resp =
            server.http.get(server.url(API)).bearer_auth(&token).header(header::ORIGIN, origin).send().await.unwrap();
        assert_eq!(allowed_origin(&resp), None, "{origin}");
    }
}

#[tokio::test]
async fn without_origins_there_are_no_cors_headers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let resp = preflight(&server, API, APP, "POST").await;
    assert_eq!(allowed_origin(&resp), None);
    assert_eq!(resp.status(), 405, "OPTIONS is no method of the API");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "method_not_allowed");
}

#[test]
fn a_malformed_origin_stops_the_server_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["https://app.example.org/console", "app.example.org", "https://app.example.org:99999"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bufdir-exports"))
            .args(["serve", "--addr", "127.0.0.1:0", "--cors-origin", bad, "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--cors-origin") && stderr.contains("not an origin"), "{stderr}");
    }
}
