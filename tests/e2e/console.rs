//! The console's files and sign-in settings as the server serves them (the
//! console itself is driven in a browser by `tests/browser`).

use reqwest::Method;

use crate::support::*;

#[tokio::test]
async fn the_console_is_served_with_a_strict_policy_and_demo_sign_in_only_with_demo() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let http = reqwest::Client::new();

    let page = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    assert!(html.contains("<html lang=\"nb\">") && html.contains("/console/app.js"), "{html}");
    for (path, kind) in [
        ("/console/app.js", "text/javascript"),
        ("/console/text.js", "text/javascript"),
        ("/console/style.css", "text/css"),
    ] {
        let file = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(file.status(), 200, "{path}");
        assert!(file.headers()["content-type"].to_str().unwrap().starts_with(kind), "{path}");
    }

    // Without --demo: sign in with a token; no demo session to be had.
    let (status, _, config) = server.call(Method::GET, "/console/config.json", None, None).await;
    assert_eq!((status, config["sign_in"].as_str()), (200, Some("token")), "{config}");
    let (status, _, problem) = server.call(Method::POST, "/console/demo-session", None, None).await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("route_not_found")), "{problem}");
    drop(server);

    // With --demo: a token for the demo organisation that the API takes.
    let server = Server::start_with(dir.path(), &["--demo"]);
    let (_, _, config) = server.call(Method::GET, "/console/config.json", None, None).await;
    assert_eq!(config["sign_in"], "demo");
    let (status, _, session) = server.call(Method::POST, "/console/demo-session", None, None).await;
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap();
    let (status, _, body) = server.call(Method::GET, "/api/v1/organisations/org-other", Some(token), None).await;
    assert_eq!(status, 404, "the demo token is org-demo's only: {body}");
    assert_eq!(server.list_all(token).await.0, 0);
}
