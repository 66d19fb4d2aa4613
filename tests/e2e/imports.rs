//! Activities in through the API, on either backend: the served template,
//! filled, imports and an export then holds exactly it; a bad file writes
//! nothing and names its bad rows; `replace_period` removes what the file
//! no longer has; an upload never sent expires; a second upload to one
//! link, a file over the limit and a stranger's import are refused.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

const CSV_HEADER: &str = "aktivitet_id;dato;aktivitetstype;tittel;starttid;varighet_minutter;form;kommunenummer;i_norge;deltakere;nye_deltakere;kvinner;menn;annet_kjonn;ukjent_kjonn;alder_0_5;alder_6_12;alder_13_17;alder_18_24;alder_25_66;alder_67_pluss;alder_ukjent;frivillige;frivillige_timer;likepersonledet;malgrupper;vedlegg";

/// One CSV row as Norwegian Excel writes it (`;`, decimal comma, dd.mm.yyyy).
fn csv_row(id: &str, date: &str, minutes: u32) -> String {
    format!("{id};{date};Samtalegruppe;Gruppe {id};18:00;{minutes};Fysisk;0301;ja;3;1;2;1;0;0;0;0;0;1;2;0;0;1;2,5;ja;;")
}

fn csv(rows: &[String]) -> Vec<u8> {
    let mut text = String::from("\u{feff}");
    text.push_str(CSV_HEADER);
    for r in rows {
        text.push_str("\r\n");
        text.push_str(r);
    }
    text.into_bytes()
}

fn ids(activities: &[Value]) -> Vec<&str> {
    activities.iter().map(|a| a["activity_id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn the_template_filled_imports_and_an_export_holds_exactly_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-a"]);

    let resp = server.http.get(server.url(&format!("{IMPORTS}/templates/activities.xlsx"))).bearer_auth(&token);
    let resp = resp.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    let template = resp.bytes().await.unwrap().to_vec();
    assert!(template.starts_with(b"PK"), "a workbook");

    let done = server.import(&token, json!({"format": "xlsx"}), template).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!((done["rows_total"].as_u64(), done["rows_written"].as_u64()), (Some(1), Some(1)), "{done}");
    assert_eq!(done["org_id"], "org-a");
    assert!(done["upload"].is_null() && done["upload_url"].is_null(), "no link once the file is in: {done}");

    let stored = server.activities(&token, "org-a", "2025-01-01", "2025-12-31").await;
    assert_eq!(ids(&stored), ["akt-2025-001"], "{stored:?}");
    assert_eq!(stored[0]["volunteers"]["hours"], 4.5, "decimal comma read: {}", stored[0]);
    assert_eq!(stored[0]["kommunenummer"], "0301");

    let id = server.create(&token, export_body("org-a", "2025-01-01", "2025-12-31", "json")).await;
    let job = server.wait_status(&token, &id, "completed").await;
    let report: Value = reqwest::get(job["file_url"].as_str().unwrap()).await.unwrap().json().await.unwrap();
    assert_eq!(report["summary"]["total"]["activities"], 1, "{report}");
    assert_eq!(report["activities"][0]["activity_id"], "akt-2025-001");
}

#[tokio::test]
async fn a_bad_file_writes_nothing_and_names_every_bad_row() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-a"]);
    let good = server.import(&token, json!({"format": "csv"}), csv(&[csv_row("a-1", "04.03.2025", 90)])).await;
    assert_eq!(good["status"], "completed", "{good}");

    let rows = [
        csv_row("a-2", "05.03.2025", 90),
        csv_row("a-3", "31.02.2025", 90), // row 3: no such date
        csv_row("a-2", "06.03.2025", 90), // row 4: a-2 again
        csv_row("a-5", "07.03.2025", 90).replace(";0301;", ";9999;"), // row 5: no such kommune
        csv_row("a-6", "01.01.1999", 90), // row 6: before 2000
    ];
    let failed = server.import(&token, json!({"org_id": "org-a", "format": "csv"}), csv(&rows)).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error_code"], "invalid_rows");
    assert_eq!(failed["rows_written"], 0);
    let errors = failed["errors"].as_array().unwrap();
    let lines: Vec<u64> = errors.iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [3, 4, 5, 6], "{errors:?}");
    assert_eq!(errors[1]["code"], "duplicate_activity_id");
    assert_eq!(errors[2]["code"], "unknown_kommunenummer");
    assert_eq!(failed["error_count"], 4);
    for e in errors {
        assert!(e["field"].is_string() || e["code"] == "duplicate_activity_id", "{e}");
        assert!(!e["message"].as_str().unwrap().is_empty());
    }
    let stored = server.activities(&token, "org-a", "2025-01-01", "2025-12-31").await;
    assert_eq!(ids(&stored), ["a-1"], "the good row of the bad file was not written either");

    // A `;` file declared as JSON Lines, and a CSV without the needed columns.
    let wrong = server.import(&token, json!({"format": "jsonl"}), csv(&rows[..1])).await;
    assert_eq!(wrong["status"], "failed", "{wrong}");
    assert!(wrong["error_count"].as_u64().unwrap() >= 1, "{wrong}");
    let headless = server.import(&token, json!({"format": "csv"}), b"hei;hallo\n1;2\n".to_vec()).await;
    assert_eq!(headless["status"], "failed", "{headless}");
    assert!(headless["error_code"].as_str().unwrap().ends_with("_columns"), "{headless}");
    assert_eq!(server.activities(&token, "org-a", "2025-01-01", "2025-12-31").await.len(), 1);
}

#[tokio::test]
async fn replace_period_makes_the_file_the_whole_truth() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-a"]);
    let first = [csv_row("r-1", "01.02.2025", 60), csv_row("r-2", "02.02.2025", 60), csv_row("r-3", "03.02.2025", 60)];
    let outside = [csv_row("r-9", "01.06.2025", 60)];
    assert_eq!(server.import(&token, json!({"format": "csv"}), csv(&first)).await["status"], "completed");
    assert_eq!(server.import(&token, json!({"format": "csv"}), csv(&outside)).await["status"], "completed");

    let nightly = [csv_row("r-1", "01.02.2025", 120), csv_row("r-3", "03.02.2025", 60)];
    let body = json!({"format": "csv", "replace_period": {"from": "2025-02-01", "to": "2025-02-28"}});
    let done = server.import(&token, body, csv(&nightly)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!((done["rows_written"].as_u64(), done["rows_removed"].as_u64()), (Some(2), Some(1)), "{done}");
    let stored = server.activities(&token, "org-a", "2025-01-01", "2025-12-31").await;
    assert_eq!(ids(&stored), ["r-1", "r-3", "r-9"], "r-2 removed, June untouched");
    assert_eq!(stored[0]["duration_minutes"], 120, "r-1 replaced");

    // A row outside the period it claims to be the truth for is refused.
    let body = json!({"format": "csv", "replace_period": {"from": "2025-02-01", "to": "2025-02-28"}});
    let stray = server.import(&token, body, csv(&[csv_row("r-4", "01.03.2025", 60)])).await;
    assert_eq!(stray["status"], "failed", "{stray}");
    assert_eq!(stray["errors"][0]["code"], "outside_replace_period", "{stray}");
    assert_eq!(server.activities(&token, "org-a", "2025-01-01", "2025-12-31").await.len(), 3);
}

#[tokio::test]
async fn uploads_are_refused_when_too_large_repeated_or_late_and_unsent_files_expire() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        &["--max-upload-bytes", "2000", "--upload-ttl-secs", "3", "--stall-limit-secs", "5"],
    );
    let token = token(dir.path(), &["org-a"]);

    // The storage refuses a file over the limit (the local server while it
    // arrives; S3 by the presigned POST's policy, which moto does not
    // check), and the import refuses one that got through anyway.
    let big = server.create_import(&token, json!({"format": "csv"})).await;
    assert_eq!(big["upload"]["max_bytes"], 2000);
    let rows: Vec<String> = (0..40).map(|i| csv_row(&format!("b-{i}"), "04.03.2025", 90)).collect();
    let (status, _) = server.upload(&big, csv(&rows)).await;
    let big_id = big["import_id"].as_str().unwrap();
    if (200..300).contains(&status) {
        assert_ne!(backend(), Backend::Embedded, "the local server lets nothing over the limit in");
        let failed = server.wait_import(&token, big_id).await;
        assert_eq!(
            (failed["status"].as_str(), failed["error_code"].as_str()),
            (Some("failed"), Some("upload_too_large"))
        );
    } else {
        assert_eq!(status, 413, "an upload over the limit");
    }

    let once = server.create_import(&token, json!({"format": "csv"})).await;
    let (status, text) = server.upload(&once, csv(&[csv_row("o-1", "04.03.2025", 90)])).await;
    assert!((200..300).contains(&status), "{status} {text}");
    if backend() == Backend::Embedded {
        // S3 cannot refuse a second POST to one link; the local server can.
        let (status, _) = server.upload(&once, csv(&[csv_row("o-2", "04.03.2025", 90)])).await;
        assert_eq!(status, 409, "a link takes one file");
    }
    let done = server.wait_import(&token, once["import_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    if backend() == Backend::Embedded {
        // Read and removed, the file is gone from the store: the link
        // still takes no other.
        let (status, text) = server.upload(&once, csv(&[csv_row("o-3", "04.03.2025", 90)])).await;
        assert_eq!(status, 409, "a link takes one file, also after its import: {text}");
        assert!(text.contains("already_uploaded"), "{text}");
    }

    let never = server.create_import(&token, json!({"format": "csv"})).await;
    let expired = server.wait_import(&token, never["import_id"].as_str().unwrap()).await;
    assert_eq!(expired["status"], "expired", "{expired}");
    assert_eq!(expired["error_code"], "upload_expired");
    let (status, _) = server.upload(&never, csv(&[csv_row("n-1", "04.03.2025", 90)])).await;
    if backend() == Backend::Embedded {
        assert_eq!(status, 403, "a link past its time is refused");
    } else {
        // moto takes it; the expired import must still not run it.
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    assert_eq!(server.get_import(&token, never["import_id"].as_str().unwrap()).await["status"], "expired");
    assert_eq!(ids(&server.activities(&token, "org-a", "2025-01-01", "2025-12-31").await), ["o-1"]);
}

/// A file whose upload began in time but whose import expired while it
/// arrived (a GET after the deadline expires it): the local server says
/// the file was not taken, and keeps nothing of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_still_arriving_when_its_import_expires_is_not_taken() {
    use std::io::{Read, Write};
    if !server_signs_links() {
        return; // S3 takes what it takes; the import never reads it (above).
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--upload-ttl-secs", "2"]);
    let token = token(dir.path(), &["org-a"]);
    let import = server.create_import(&token, json!({"format": "csv"})).await;
    let id = import["import_id"].as_str().unwrap().to_string();
    let body = csv(&[csv_row("s-1", "04.03.2025", 90)]);
    let url = import["upload"]["url"].as_str().unwrap();
    let target = url.strip_prefix(&server.base).unwrap().to_string();

    let mut s = std::net::TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    let head = format!("PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body[..10]).unwrap();
    // Past the deadline, while the rest of the file is still to come.
    let expires = chrono::DateTime::parse_from_rfc3339(import["upload_expires_at"].as_str().unwrap()).unwrap();
    let wait = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().unwrap_or_default();
    // (the time shown is to the second; the deadline may be up to one later)
    tokio::time::sleep(wait + std::time::Duration::from_millis(1200)).await;
    assert_eq!(server.get_import(&token, &id).await["status"], "expired");
    // (on a machine slow enough to start the upload late, it was refused at once)
    let _ = s.write_all(&body[10..]);
    s.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let mut answer = vec![0u8; 4096];
    let n = s.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("upload_link_invalid"), "{answer}");

    assert_eq!(server.get_import(&token, &id).await["status"], "expired");
    let uploads = dir.path().join("uploads/org-a").join(&id);
    for _ in 0..50 {
        if !uploads.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!uploads.exists(), "nothing of the late file stays");
    assert!(server.activities(&token, "org-a", "2025-01-01", "2025-12-31").await.is_empty());
}

#[tokio::test]
async fn imports_are_listed_scoped_and_replayed_by_idempotency_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let a = token(dir.path(), &["org-a"]);
    let b = token(dir.path(), &["org-b"]);
    let first = server.create_import(&a, json!({"format": "jsonl"})).await;
    let id = first["import_id"].as_str().unwrap();
    assert_eq!(first["status"], "awaiting_upload");
    assert!(first["upload_url"].is_string() && first["upload_expires_at"].is_string(), "{first}");

    let keyed = |token: &str, format: &str| {
        server
            .http
            .post(server.url(IMPORTS))
            .bearer_auth(token)
            .header("Idempotency-Key", "nightly-2025-03-04")
            .json(&json!({"format": format}))
            .send()
    };
    let one = keyed(&a, "csv").await.unwrap();
    assert_eq!(one.status(), 201);
    let one: Value = one.json().await.unwrap();
    let again = keyed(&a, "csv").await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["import_id"], one["import_id"]);
    let other = keyed(&a, "xlsx").await.unwrap();
    assert_eq!(other.status(), 422, "the same key for another request");

    let (status, _, list) = server.call(Method::GET, &format!("{IMPORTS}?limit=1"), Some(&a), None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["pagination"]["total"], 2, "{list}");
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["import_id"], one["import_id"], "newest first");
    let (_, _, theirs) = server.call(Method::GET, IMPORTS, Some(&b), None).await;
    assert_eq!(theirs["pagination"]["total"], 0, "{theirs}");

    let (status, _, problem) = server.call(Method::GET, &format!("{IMPORTS}/{id}"), Some(&b), None).await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("import_not_found")), "{problem}");
    let (status, _, problem) =
        server.call(Method::POST, IMPORTS, Some(&b), Some(json!({"org_id": "org-a", "format": "csv"}))).await;
    assert_eq!((status, problem["code"].as_str()), (403, Some("organisation_forbidden")), "{problem}");
    for bad in [
        json!({"format": "pdf"}),
        json!({}),
        json!({"format": "csv", "replace_period": {"from": "2025-02-30", "to": "2025-03-01"}}),
        json!({"format": "csv", "replace_period": {"from": "2025-03-01", "to": "2025-02-01"}}),
        json!({"format": "csv", "extra": 1}),
    ] {
        let (status, _, problem) = server.call(Method::POST, IMPORTS, Some(&a), Some(bad.clone())).await;
        assert_eq!(status, 422, "{bad}: {problem}");
        assert_eq!(problem["status"], 422);
    }
    for path in [
        format!("{IMPORTS}/nope"),
        format!("{IMPORTS}/templates/secrets.txt"),
        format!("{IMPORTS}/templates/..%2F..%2Fetc%2Fpasswd"),
    ] {
        let (status, _, problem) = server.call(Method::GET, &path, Some(&a), None).await;
        assert_eq!(status, 404, "{path}: {problem}");
    }
}
