//! `include_attachments` end to end through the API: a missing attachment
//! file fails the export naming it; once the file is there a retry
//! completes, and the download is one ZIP with the report, every file
//! and a manifest whose sizes and checksums match the bytes.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn activity(id: &str, date: &str, attachments: Value) -> String {
    group_session("org-a", id, date, attachments).to_string()
}

fn pdf(name: &str, key: &str) -> Value {
    json!({"name": name, "content_type": "application/pdf", "key": key})
}

#[tokio::test]
async fn a_bundle_fails_on_a_missing_file_and_completes_once_it_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        activity("act-1", "2025-03-04", json!([pdf("oppmøteliste.pdf", "org-a/act-1/liste.pdf")])),
        // Two files of one name in one activity, and one that tries to climb out.
        activity(
            "act-2",
            "2025-04-01",
            json!([
                pdf("bilde.pdf", "org-a/act-2/a.pdf"),
                pdf("bilde.pdf", "org-a/act-2/b.pdf"),
                pdf("../../x.pdf", "org-a/act-2/c.pdf")
            ]),
        ),
        activity("act-3", "2025-05-06", json!([pdf("kursbevis.pdf", "org-a/act-3/kursbevis.pdf")])),
        activity("act-4", "2025-06-07", json!([])),
    ];
    let file = dir.path().join("activities.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    cli(dir.path(), &["activities", "import", "--org", "org-a", file.to_str().unwrap()]);
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-a"]);
    for key in ["org-a/act-1/liste.pdf", "org-a/act-2/a.pdf", "org-a/act-2/b.pdf", "org-a/act-2/c.pdf"] {
        put_attachment(dir.path(), key, format!("%PDF {key}").repeat(50).as_bytes()).await;
    }

    let mut body = export_body("org-a", "2025-01-01", "2025-12-31", "json");
    body["include_attachments"] = json!(true);
    let id = server.create(&token, body).await;
    let failed = server.wait_status(&token, &id, "failed").await;
    let message = failed["error_message"].as_str().unwrap();
    assert!(message.contains("kursbevis.pdf") && message.contains("act-3"), "names the missing file: {message}");
    assert_eq!(failed["error_code"], "attachment_missing", "{failed}");
    assert!(server.files_of("org-a", &id).await.is_empty(), "nothing half-written is left");

    put_attachment(dir.path(), "org-a/act-3/kursbevis.pdf", b"%PDF certificate").await;
    let (status, _, retried) = server.call(Method::POST, &format!("{API}/{id}/retry"), Some(&token), None).await;
    assert_eq!(status, 200, "{retried}");
    let done = server.wait_status(&token, &id, "completed").await;
    assert_eq!(done["file"]["filename"], "bufdir-org-a-2025-01-01-2025-12-31-med-vedlegg.zip", "{done}");

    let bytes = reqwest::get(done["file_url"].as_str().unwrap()).await.unwrap().bytes().await.unwrap().to_vec();
    assert_eq!(done["file"]["size_bytes"], bytes.len());
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut names: Vec<String> = archive.file_names().map(String::from).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "bufdir-org-a-2025-01-01-2025-12-31.json",
            "manifest.json",
            "vedlegg/act-1/oppmøteliste.pdf",
            "vedlegg/act-2/_.._x.pdf",
            "vedlegg/act-2/bilde (2).pdf",
            "vedlegg/act-2/bilde.pdf",
            "vedlegg/act-3/kursbevis.pdf",
        ]
    );

    let manifest: Value = serde_json::from_slice(&entry(&mut archive, "manifest.json")).unwrap();
    assert_eq!(manifest["export_id"], id.as_str());
    assert_eq!(manifest["missing"], json!([]));
    let listed = manifest["attachments"].as_array().unwrap();
    assert_eq!(listed.len(), 5);
    for item in listed {
        let body = entry(&mut archive, item["file"].as_str().unwrap());
        assert_eq!(item["size_bytes"], body.len(), "{item}");
        assert_eq!(item["sha256"], hex::encode(Sha256::digest(&body)), "{item}");
    }
    assert_eq!(entry(&mut archive, "vedlegg/act-3/kursbevis.pdf"), b"%PDF certificate");

    let inner = entry(&mut archive, "bufdir-org-a-2025-01-01-2025-12-31.json");
    assert_eq!(manifest["report"]["sha256"], hex::encode(Sha256::digest(&inner)));
    let report: Value = serde_json::from_slice(&inner).unwrap();
    let rows = report["attachments"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r["in_bundle"] == "included" && r["size_bytes"].as_u64() > Some(0)), "{rows:?}");
    assert_eq!(
        (
            report["control"]["attachment_files_in_bundle"].as_u64(),
            report["control"]["attachment_files_missing"].as_u64()
        ),
        (Some(5), Some(0))
    );

    // Without the flag the same export is the bare report.
    let id = server.create(&token, export_body("org-a", "2025-01-01", "2025-12-31", "json")).await;
    let plain = server.wait_status(&token, &id, "completed").await;
    assert_eq!(plain["file"]["filename"], "bufdir-org-a-2025-01-01-2025-12-31.json");
    let report: Value = reqwest::get(plain["file_url"].as_str().unwrap()).await.unwrap().json().await.unwrap();
    assert!(
        report["attachments"].as_array().unwrap().iter().all(|r| r["in_bundle"].is_null() && r["sha256"].is_null())
    );
}

/// An attachment uploaded through the API is kept once an activity names
/// it, and bundled; one no activity names never reaches a bundle; a key of
/// another organisation is refused on the way in.
#[tokio::test]
async fn uploaded_attachments_are_claimed_by_the_activity_that_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-a"]);

    for (bad, field) in [
        (json!({"filename": "x.exe", "content_type": "application/x-msdownload", "size_bytes": 10}), "content_type"),
        (json!({"filename": "x.png", "content_type": "application/pdf", "size_bytes": 10}), "filename"),
        (json!({"filename": "x.pdf", "content_type": "application/pdf", "size_bytes": 26214401}), "size_bytes"),
        (json!({"filename": "../x.pdf", "content_type": "application/pdf", "size_bytes": 10}), "filename"),
    ] {
        let (status, _, problem) = server.call(Method::POST, "/api/v1/attachments", Some(&token), Some(bad)).await;
        assert_eq!((status, problem["code"].as_str()), (422, Some("validation_failed")), "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }

    let body = json!({"filename": "Oppmøteliste mars.pdf", "content_type": "application/pdf", "size_bytes": 64});
    let (status, _, made) = server.call(Method::POST, "/api/v1/attachments", Some(&token), Some(body.clone())).await;
    assert_eq!(status, 201, "{made}");
    let key = made["key"].as_str().unwrap();
    assert!(key.starts_with("org-a/att-") && key.ends_with("/Oppm_teliste_mars.pdf"), "{key}");
    let pdf = b"%PDF-1.4 attendance list, exactly sixty-four bytes long.........".to_vec();
    assert_eq!(pdf.len(), 64);
    let (status, text) = server.upload(&made, pdf.clone()).await;
    assert!((200..300).contains(&status), "{status} {text}");
    let (_, _, unnamed) = server.call(Method::POST, "/api/v1/attachments", Some(&token), Some(body)).await;
    let (status, _) = server.upload(&unnamed, pdf.clone()).await;
    assert!((200..300).contains(&status));

    let named = |key: &str| json!([{"name": "Oppmøteliste mars.pdf", "content_type": "application/pdf", "key": key}]);
    let mut activity: Value = serde_json::from_str(&activity("act-1", "2025-03-04", named(key))).unwrap();
    let (status, _, put) =
        server.call(Method::PUT, ACTIVITIES, Some(&token), Some(json!({"activities": [activity.clone()]}))).await;
    assert_eq!(status, 200, "{put}");

    activity["activity_id"] = json!("act-2");
    activity["attachments"] = named("org-b/att-20250304-abcdef/x.pdf");
    let (status, _, problem) =
        server.call(Method::PUT, ACTIVITIES, Some(&token), Some(json!({"activities": [activity]}))).await;
    assert_eq!(status, 422, "{problem}");
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("other_organisation"), "{problem}");

    let mut body = export_body("org-a", "2025-01-01", "2025-12-31", "json");
    body["include_attachments"] = json!(true);
    let id = server.create(&token, body).await;
    let done = server.wait_status(&token, &id, "completed").await;
    let bytes = reqwest::get(done["file_url"].as_str().unwrap()).await.unwrap().bytes().await.unwrap().to_vec();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(entry(&mut archive, "vedlegg/act-1/Oppmøteliste mars.pdf"), pdf);
    let manifest: Value = serde_json::from_slice(&entry(&mut archive, "manifest.json")).unwrap();
    assert_eq!(manifest["attachments"].as_array().unwrap().len(), 1, "{manifest}");
    assert_eq!(manifest["missing"], json!([]), "the claimed file was found: {manifest}");
}
