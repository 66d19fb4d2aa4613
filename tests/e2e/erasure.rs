//! Erasing an organisation that leaves: only an administrator, only with
//! the id confirmed, and afterwards nothing of it in any table, bucket
//! prefix or data directory, while another organisation keeps everything.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::receiver::{Behaviour, Receiver};
use crate::support::*;

const LEAVING: &str = "org-leaving-q7";
const STAYING: &str = "org-staying-k3";

fn erase_path(org: &str) -> String {
    format!("/api/v1/organisations/{org}/data")
}

fn details() -> Value {
    json!({"name": "Foreningen", "organisation_number": "974760673", "contact_email": "post@example.org"})
}

/// One activity naming `key` as its attendance list.
fn activity_naming(key: &str) -> Value {
    let list = json!([{"name": "Oppmøteliste.pdf", "content_type": "application/pdf", "key": key}]);
    group_session(LEAVING, "act-with-list", "2025-03-04", list)
}

/// Uploads a small PDF as an attachment of the leaving organisation; its key.
async fn upload_attachment(server: &Server, token: &str) -> String {
    let body =
        json!({"org_id": LEAVING, "filename": "Oppmøteliste.pdf", "content_type": "application/pdf", "size_bytes": 16});
    let (status, _, made) = server.call(Method::POST, "/api/v1/attachments", Some(token), Some(body)).await;
    assert_eq!(status, 201, "{made}");
    let (status, text) = server.upload(&made, b"%PDF-1.4 sixteen".to_vec()).await;
    assert!((200..300).contains(&status), "{status} {text}");
    made["key"].as_str().unwrap().to_string()
}

async fn ok(server: &Server, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
    let (status, _, json) = server.call(method, path, Some(token), body).await;
    assert!((200..300).contains(&status), "{path}: {status} {json}");
    json
}

#[tokio::test]
async fn erasing_an_organisation_leaves_nothing_of_it_and_everything_of_another() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let seeded = long_export_rows();
    seed(data, LEAVING, seeded, 2025, 5);
    seed(data, STAYING, 200, 2025, 6);
    let server = Server::start_with(data, &["--webhook-allow-host", "127.0.0.1"]);
    let (leaving, staying, admin) = (token(data, &[LEAVING]), token(data, &[STAYING]), admin_token(data));
    let receiver = Receiver::start(Behaviour::Accept).await;

    // Everything the leaving organisation can have.
    for (org, t) in [(LEAVING, &leaving), (STAYING, &staying)] {
        ok(&server, Method::PUT, &format!("/api/v1/organisations/{org}"), t, Some(details())).await;
    }
    let key = upload_attachment(&server, &leaving).await;
    upload_attachment(&server, &leaving).await; // never claimed
    ok(&server, Method::PUT, ACTIVITIES, &leaving, Some(json!({"activities": [activity_naming(&key)]}))).await;
    let template = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/shared/core/templates/activities.csv"));
    let imported = server.import(&leaving, json!({"org_id": LEAVING, "format": "csv"}), template.to_vec()).await;
    assert_eq!(imported["status"], "completed", "{imported}");
    let imported_rows = imported["rows_written"].as_u64().unwrap();
    // no file comes before the erasure; one comes after
    let late_import = server.create_import(&leaving, json!({"org_id": LEAVING, "format": "jsonl"})).await;
    let hook = json!({"org_id": LEAVING, "url": receiver.url, "event_types": ["export.completed"]});
    ok(&server, Method::POST, "/api/v1/webhook-endpoints", &leaving, Some(hook)).await;
    let mut submitted = export_body(LEAVING, "2025-03-01", "2025-03-31", "excel");
    submitted["submit_to_bufdir_api"] = json!(true);
    let (status, _, created) = server.create_keyed(&leaving, "erase-me-key", submitted).await;
    assert_eq!(status, 202, "{created}");
    let done = created["export_id"].as_str().unwrap().to_string();
    server.wait_status(&leaving, &done, "completed").await;
    assert!(!server.files_of(LEAVING, &done).await.is_empty());
    let kept = server.create(&staying, export_body(STAYING, "2025-01-01", "2025-12-31", "csv")).await;
    server.wait_status(&staying, &kept, "completed").await;
    // and one still running when the erasure comes
    let running = server.create(&leaving, export_body(LEAVING, "2025-01-01", "2025-12-31", "excel")).await;

    // Refused: not an administrator, the id not confirmed, no body.
    let (status, _, problem) =
        server.call(Method::DELETE, &erase_path(LEAVING), Some(&leaving), Some(json!({"confirm": LEAVING}))).await;
    assert_eq!((status, problem["code"].as_str()), (403, Some("admin_required")), "{problem}");
    for confirm in [json!({"confirm": STAYING}), json!({}), json!({"confirm": LEAVING.to_uppercase()})] {
        let (status, _, problem) = server.call(Method::DELETE, &erase_path(LEAVING), Some(&admin), Some(confirm)).await;
        assert_eq!((status, problem["code"].as_str()), (422, Some("validation_failed")), "{problem}");
        assert_eq!(problem["errors"][0]["field"], "confirm", "{problem}");
    }
    let (status, _, problem) = server.call(Method::DELETE, &erase_path(LEAVING), Some(&admin), None).await;
    assert!((400..500).contains(&status), "{status} {problem}");
    let (status, _, problem) = server
        .call(Method::DELETE, &erase_path(LEAVING), Some(&admin), Some(json!({"confirm": LEAVING, "x": 1})))
        .await;
    assert_eq!(status, 422, "{problem}");
    let (status, _, problem) =
        server.call(Method::DELETE, &erase_path("bad id!"), Some(&admin), Some(json!({"confirm": "bad id!"}))).await;
    assert_eq!(status, 404, "{problem}");
    assert_eq!(server.get(&leaving, &done).await["status"], "completed", "a refused erasure removed nothing");

    let erased = ok(&server, Method::DELETE, &erase_path(LEAVING), &admin, Some(json!({"confirm": LEAVING}))).await;
    assert_eq!(erased["org_id"], LEAVING);
    let removed = &erased["removed"];
    assert_eq!(removed["activities"], seeded + 1 + imported_rows, "{erased}");
    assert_eq!(removed["exports"], 2, "{erased}");
    assert!(removed["export_files"].as_u64().unwrap() >= 1, "{erased}");
    assert_eq!(removed["imports"], 2, "{erased}");
    assert_eq!(removed["attachment_files"], 2, "{erased}");
    assert_eq!(removed["idempotency_keys"], 1, "{erased}");
    assert_eq!(removed["webhook_endpoints"], 1, "{erased}");
    assert!(removed["audit_entries"].as_u64().unwrap() >= 4, "{erased}");
    assert_eq!(removed["organisation_details"], true, "{erased}");

    // Through the API: nothing.
    assert_eq!(server.list_all(&leaving).await.0, 0);
    for id in [&done, &running] {
        let (status, _, _) = server.call(Method::GET, &format!("{API}/{id}"), Some(&leaving), None).await;
        assert_eq!(status, 404);
    }
    assert!(server.activities(&leaving, LEAVING, "2000-01-01", "2099-12-31").await.is_empty());
    let (status, _, _) =
        server.call(Method::GET, &format!("/api/v1/organisations/{LEAVING}"), Some(&leaving), None).await;
    assert_eq!(status, 404);
    let imports = ok(&server, Method::GET, IMPORTS, &leaving, None).await;
    assert_eq!(imports["data"].as_array().map(Vec::len), Some(0), "{imports}");
    let hooks = ok(&server, Method::GET, "/api/v1/webhook-endpoints", &leaving, None).await;
    assert_eq!(hooks["data"].as_array().map(Vec::len), Some(0), "{hooks}");

    // In storage: not a byte, once the cancelled export's worker has stopped.
    let mut traces = traces_of(data, LEAVING).await;
    for _ in 0..50 {
        if traces.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        traces = traces_of(data, LEAVING).await;
    }
    assert!(traces.is_empty(), "{traces:#?}");

    // A file sent afterwards to a link handed out before: the local server
    // refuses it, as no import will read it (S3 takes it, and the bucket's
    // lifecycle rule removes it after 2 days).
    let (status, text) = server.upload(&late_import, b"{}\n".to_vec()).await;
    if server_signs_links() {
        assert_eq!(status, 403, "the import is gone: {text}");
        assert!(text.contains("upload_link_invalid"), "{text}");
        assert!(traces_of(data, LEAVING).await.is_empty(), "nothing of the late upload stays");
    } else {
        assert!((200..300).contains(&status), "{status} {text}");
    }

    // The other organisation keeps everything.
    ok(&server, Method::GET, &format!("/api/v1/organisations/{STAYING}"), &staying, None).await;
    assert_eq!(server.get(&staying, &kept).await["status"], "completed");
    let (status, _, _) = server.call(Method::GET, &format!("{API}/{kept}/file"), Some(&staying), None).await;
    assert!([200, 302, 307].contains(&status), "{status}");
    assert_eq!(server.activities(&staying, STAYING, "2025-01-01", "2025-12-31").await.len(), 200);
    assert!(!traces_of(data, STAYING).await.is_empty());

    // Again: nothing left to erase.
    let again = ok(&server, Method::DELETE, &erase_path(LEAVING), &admin, Some(json!({"confirm": LEAVING}))).await;
    let counts = again["removed"].as_object().unwrap();
    let late_file = if server_signs_links() { 0 } else { 1 }; // the late upload, on S3
    assert_eq!(counts["import_files"], late_file, "{again}");
    assert!(
        counts.iter().all(|(k, v)| v == 0 || k == "import_files" || (k == "organisation_details" && v == false)),
        "{again}"
    );
}
