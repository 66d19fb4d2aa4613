//! `Idempotency-Key` on create, one request at a time, on the real server:
//! a repeat replays the first answer (also after the export has moved on),
//! another request with the key is refused, keys belong to organisations,
//! and a malformed key is a 400. Concurrent repeats are in `races.rs`.

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn a_repeated_key_replays_the_first_answer() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 40, 2025, 1);
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-a", "org-b"]);
    let body = export_body("org-a", "2025-01-01", "2025-12-31", "excel");

    let (status, headers, first) = server.create_keyed(&token, "order-42", body.clone()).await;
    assert_eq!(status, 202, "{first}");
    assert!(headers.get("idempotent-replayed").is_none());
    let id = first["export_id"].as_str().unwrap().to_string();
    let location = headers["location"].clone();
    server.wait_status(&token, &id, "completed").await;

    // The same request again, spelt differently (defaults left out, keys
    // reordered), after the export finished: the first answer, unchanged.
    let same = json!({"period_to": "2025-12-31", "period_from": "2025-01-01", "org_id": "org-a"});
    let (status, headers, again) = server.create_keyed(&token, "order-42", same).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again, first);
    assert_eq!(headers["location"], location);
    assert_eq!(headers["idempotent-replayed"], "true");

    let mut other = body.clone();
    other["format"] = json!("csv");
    let (status, headers, problem) = server.create_keyed(&token, "order-42", other).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(problem["code"], "idempotency_key_reused");

    // The key is org-a's; org-b may use the same one for its own export.
    let (status, _, for_b) =
        server.create_keyed(&token, "order-42", export_body("org-b", "2025-01-01", "2025-12-31", "excel")).await;
    assert_eq!(status, 202, "{for_b}");
    assert_ne!(for_b["export_id"], first["export_id"]);

    // Without a key every request is a new export.
    let (status, _, unkeyed) = server.call(reqwest::Method::POST, API, Some(&token), Some(body)).await;
    assert_eq!(status, 202, "{unkeyed}");
    assert_ne!(unkeyed["export_id"], first["export_id"]);
    assert_eq!(server.list_all(&token).await.0, 3);
}

#[tokio::test]
async fn a_malformed_key_is_a_400_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-a"]);
    let body = export_body("org-a", "2025-01-01", "2025-12-31", "excel");
    for key in ["", "has space", &"k".repeat(256)] {
        let (status, _, problem) = server.create_keyed(&token, key, body.clone()).await;
        assert_eq!(status, 400, "key {key:?}: {problem}");
        assert_eq!(problem["code"], "invalid_idempotency_key");
    }
    // A refused request does not use up its key.
    let (status, _, problem) = server.create_keyed(&token, "k", json!({"org_id": "org-a", "format": "pdf"})).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "validation_failed");
    assert_eq!(server.list_all(&token).await.0, 0);
    let (status, _, created) = server.create_keyed(&token, "k", body.clone()).await;
    assert_eq!(status, 202, "{created}");
    let (status, _, longest) = server.create_keyed(&token, &"k".repeat(255), body).await;
    assert_eq!(status, 202, "{longest}");
    assert_eq!(server.list_all(&token).await.0, 2);
}
