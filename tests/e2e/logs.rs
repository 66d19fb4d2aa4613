//! What the server writes at its default log level, in both log formats:
//! request and export ids, as fields; never an activity title, an
//! attachment name, a download signature or any part of a bearer token.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::*;
use serde_json::{Value, json};

/// The demo seed `serve --demo` writes for org-demo (src/commands/serve.rs).
const DEMO: (&str, u64, u64) = ("org-demo", 3000, 42);

/// Activities with attachments (the demo seed has none), named so a leak
/// is unmistakable.
fn import_attachments(data: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut lines = String::new();
    for (i, mut a) in shared::demo::generate("org-demo", 5, 2025..=2025, 9).enumerate() {
        a.activity_id = format!("with-attachment-{i}");
        a.title = format!("Hemmelig tittel nummer {i}");
        let name = format!("samtykke-kari-nordmann-{i}.pdf");
        a.attachments = vec![shared::domain::Attachment {
            name: name.clone(),
            content_type: "application/pdf".into(),
            key: format!("org-demo/att/{i}"),
        }];
        let file = data.join("attachments/org-demo/att").join(i.to_string());
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, format!("%PDF {name}")).unwrap();
        names.push(name);
        lines.push_str(&serde_json::to_string(&a).unwrap());
        lines.push('\n');
    }
    let file = data.join("attachments.jsonl");
    std::fs::write(&file, lines).unwrap();
    cli(data, &["activities", "import", "--org", "org-demo", file.to_str().unwrap()]);
    names
}

struct Logged {
    stdout: String,
    stderr: String,
    export_ids: Vec<String>,
    request_ids: Vec<String>,
    /// Everything that must not be logged.
    secrets: BTreeSet<String>,
}

/// Runs `serve --demo` at its default level, drives it as a user and an
/// attacker would, stops it and returns what it wrote.
async fn exercise(log_format: &str) -> Logged {
    let dir = tempfile::tempdir().unwrap();
    let attachments = import_attachments(dir.path());
    let mut child = Command::new(BIN)
        .args(["serve", "--demo", "--addr", "127.0.0.1:0", "--log-format", log_format, "--data-dir"])
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .env_remove("BUFDIR_LOG_FORMAT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = String::new();
    let base = loop {
        let line = lines.next().expect("server exited").unwrap();
        stdout.push_str(&line);
        stdout.push('\n');
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let out_reader = std::thread::spawn(move || lines.map(|l| l.unwrap() + "\n").collect::<String>());
    let http = reqwest::Client::new();
    let token = crate::support::token(dir.path(), &["org-demo"]);
    let mut secrets: BTreeSet<String> = BTreeSet::new();
    let mut export_ids = Vec::new();
    let mut request_ids = Vec::new();

    for (n, format) in ["excel", "csv", "json"].into_iter().enumerate() {
        let body = json!({"org_id": "org-demo", "format": format, "period_from": "2025-01-01", "period_to": "2025-12-31", "include_attachments": true});
        let request_id = format!("log-test-{log_format}-{n}");
        let resp = http
            .post(format!("{base}{API}"))
            .bearer_auth(&token)
            .header("x-request-id", &request_id)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        let id = resp.json::<Value>().await.unwrap()["export_id"].as_str().unwrap().to_string();
        let job = loop {
            let job: Value =
                http.get(format!("{base}{API}/{id}")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
            if job["status"] == "completed" {
                break job;
            }
            assert_ne!(job["status"], "failed", "{job}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        let url = job["file_url"].as_str().unwrap();
        let file = http.get(url).send().await.unwrap().bytes().await.unwrap();
        assert!(!file.is_empty());
        secrets.insert(url.split("sig=").nth(1).unwrap().to_string());
        export_ids.push(id);
        request_ids.push(request_id);
    }
    // A missing attachment file fails the export with its name in
    // error_message, for the user; the logs must still not carry it.
    std::fs::remove_file(dir.path().join("attachments/org-demo/att/4")).unwrap();
    let body = json!({"org_id": "org-demo", "format": "json", "period_from": "2025-01-01", "period_to": "2025-12-31", "include_attachments": true});
    let id = http
        .post(format!("{base}{API}"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["export_id"]
        .as_str()
        .unwrap()
        .to_string();
    let failed = loop {
        let job: Value =
            http.get(format!("{base}{API}/{id}")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        if job["status"] != "queued" && job["status"] != "running" {
            break job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["error_message"].as_str().unwrap().contains("samtykke-kari-nordmann-4.pdf"), "{failed}");
    export_ids.push(id);

    // Bad tokens: a forged one, a truncated one, garbage.
    let forged = {
        let other = tempfile::tempdir().unwrap();
        crate::support::token(other.path(), &["org-demo"])
    };
    let bad =
        [forged.clone(), token[..token.len() - 4].to_string(), "Zm9vYmFyYmF6cXV4LXNlY3JldC1ub3QtYS1qd3Q".to_string()];
    for t in &bad {
        let resp = http.get(format!("{base}{API}")).bearer_auth(t).send().await.unwrap();
        assert_eq!(resp.status(), 401);
    }
    let _ = http.delete(format!("{base}{API}/{}", export_ids[0])).bearer_auth(&token).send().await.unwrap();

    for t in bad.iter().chain([&token]) {
        secrets.insert(t.clone());
        for part in t.split('.').filter(|p| p.len() >= 16) {
            // The header is the same in every token this server makes; the
            // claims and the signature are what identify and prove one.
            if !part.starts_with("eyJ0eXAi") && !part.starts_with("eyJhbGci") {
                secrets.insert(part.to_string());
            }
        }
    }
    let (org, count, seed) = DEMO;
    for a in shared::demo::generate(org, count, 2024..=2025, seed) {
        secrets.insert(a.title);
    }
    secrets.extend(attachments);
    secrets.extend((0..5).map(|i| format!("Hemmelig tittel nummer {i}")));

    // SIGTERM: the server shuts down gracefully and flushes its logs.
    Command::new("kill").arg(child.id().to_string()).status().unwrap();
    child.wait().unwrap();
    Logged {
        stdout: stdout + &out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
        export_ids,
        request_ids,
        secrets,
    }
}

fn assert_nothing_leaks(log: &Logged) {
    for secret in &log.secrets {
        assert!(!log.stderr.contains(secret.as_str()), "the log holds {secret:?}");
        assert!(!log.stdout.contains(secret.as_str()), "stdout holds {secret:?}");
    }
    // No bearer token at all in the log, whoever made it.
    assert!(!log.stderr.contains("eyJ"), "something like a JWT is in the log");
}

#[tokio::test]
async fn text_logs_carry_ids_and_nothing_private() {
    let log = exercise("text").await;
    assert_nothing_leaks(&log);
    assert!(log.secrets.len() > 10, "{} things checked", log.secrets.len());
    for id in &log.request_ids {
        assert!(log.stderr.contains(&format!("request_id={id}")), "request id {id} is not logged");
    }
    for id in &log.export_ids {
        assert!(log.stderr.contains(&format!("export_id={id}")), "export id {id} is not logged:\n{}", log.stderr);
    }
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_ids_as_fields() {
    let log = exercise("json").await;
    assert_nothing_leaks(&log);
    let events: Vec<Value> = log
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(!events.is_empty());
    let field = |e: &Value, name: &str| -> Option<String> {
        e.get(name).or_else(|| e["span"].get(name)).and_then(Value::as_str).map(str::to_string)
    };
    for id in &log.request_ids {
        let handled = events.iter().filter(|e| field(e, "request_id").as_deref() == Some(id)).count();
        assert!(handled >= 1, "no event carries request_id {id}");
    }
    for id in &log.export_ids {
        assert!(events.iter().any(|e| field(e, "export_id").as_deref() == Some(id)), "no event carries export_id {id}");
    }
    assert!(
        events.iter().all(|e| e["level"].is_string() && e["timestamp"].is_string()),
        "every event has a level and a time"
    );
    // Each export's end is one line an operator (or a metric filter) counts:
    // outcome, and for a failure its code and whose it is to fix.
    let ended: Vec<&Value> = events.iter().filter(|e| e["message"] == shared::service::EXPORT_ENDED).collect();
    let of = |id: &str| -> Vec<&Value> { ended.iter().copied().filter(|e| e["export_id"] == id).collect() };
    for id in &log.export_ids[..3] {
        let lines = of(id);
        assert_eq!(lines.len(), 1, "one end line for {id}: {lines:?}");
        assert_eq!((&lines[0]["outcome"], &lines[0]["level"]), (&json!("completed"), &json!("INFO")), "{lines:?}");
        assert!(lines[0]["rows"].as_u64().unwrap() > 0 && lines[0]["seconds"].as_f64().is_some(), "{lines:?}");
    }
    let failed = of(&log.export_ids[3]);
    assert_eq!(failed.len(), 1, "{failed:?}");
    let fields = ["outcome", "error_code", "fault", "level"].map(|f| failed[0][f].clone());
    assert_eq!(fields, [json!("failed"), json!("attachment_missing"), json!("user"), json!("WARN")], "{failed:?}");
}
