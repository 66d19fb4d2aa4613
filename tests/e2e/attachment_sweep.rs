//! The local server's sweep of claimed attachment files, run at start and
//! then daily: a file whose activity was deleted goes back among the
//! waiting uploads once past its grace, and an activity naming it again
//! claims it back, so an export bundles it. On the embedded backend only:
//! it ages a file on disk; the AWS adapters pass the same port suite on
//! moto and the function is fed its fixture (`shared/tests/integration`).

use std::time::{Duration, SystemTime};

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

fn activity(key: &str) -> Value {
    let list = json!([{"name": "Oppmøteliste.pdf", "content_type": "application/pdf", "key": key}]);
    group_session("org-a", "act-1", "2025-03-04", list)
}

#[tokio::test]
async fn a_file_no_activity_names_goes_back_to_wait_and_can_be_named_again() {
    let dir = tempfile::tempdir().unwrap();
    let token = token(dir.path(), &["org-a"]);
    let server = Server::start(dir.path());
    let body = json!({"filename": "Oppmøteliste.pdf", "content_type": "application/pdf", "size_bytes": 16});
    let (status, _, made) = server.call(Method::POST, "/api/v1/attachments", Some(&token), Some(body)).await;
    assert_eq!(status, 201, "{made}");
    let key = made["key"].as_str().unwrap().to_string();
    let pdf = b"%PDF-1.4 liste..".to_vec();
    let (status, _) = server.upload(&made, pdf.clone()).await;
    assert!((200..300).contains(&status));
    let put = json!({"activities": [activity(&key)]});
    let (status, _, answer) = server.call(Method::PUT, ACTIVITIES, Some(&token), Some(put.clone())).await;
    assert_eq!(status, 200, "{answer}");
    let (claimed, waiting) =
        (dir.path().join("attachments").join(&key), dir.path().join("attachment-uploads").join(&key));
    assert!(claimed.is_file() && !waiting.exists(), "claimed by the activity");
    let (status, _, _) = server.call(Method::DELETE, &format!("{ACTIVITIES}/act-1"), Some(&token), None).await;
    assert_eq!(status, 200);

    // Started again, the sweep releases a file claimed two days ago that
    // no activity names (the grace itself is pinned by the port suite).
    server.kill();
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 24 * 3600);
    std::fs::File::options().write(true).open(&claimed).unwrap().set_modified(two_days_ago).unwrap();
    let server = Server::start(dir.path());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !waiting.is_file() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(waiting.is_file() && !claimed.exists(), "moved back among the waiting uploads");

    let (status, _, answer) = server.call(Method::PUT, ACTIVITIES, Some(&token), Some(put)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(claimed.is_file() && !waiting.exists(), "claimed again by the activity naming it");
    let mut export = export_body("org-a", "2025-01-01", "2025-12-31", "json");
    export["include_attachments"] = json!(true);
    let id = server.create(&token, export).await;
    let done = server.wait_status(&token, &id, "completed").await;
    let bytes = reqwest::get(done["file_url"].as_str().unwrap()).await.unwrap().bytes().await.unwrap().to_vec();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(entry(&mut archive, "vedlegg/act-1/Oppmøteliste.pdf"), pdf);
}
