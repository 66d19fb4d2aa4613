//! The command-line program as a person uses it: help on every command,
//! tokens, import and seed, a one-off export, and one-line errors.

use std::process::Command;

use crate::support::*;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["token", "--help"],
        vec!["activities", "--help"],
        vec!["activities", "import", "--help"],
        vec!["activities", "seed", "--help"],
        vec!["export", "--help"],
    ] {
        let out = run(&args);
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn export_writes_a_workbook_with_the_seeded_figures() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 1000, 2024, 21);
    let out_file = dir.path().join("report.xlsx");
    let out = Command::new(BIN)
        .args(["export", "--org", "org-a", "--from", "2024-01-01", "--to", "2024-06-30", "--format", "excel"])
        .arg("--out")
        .arg(&out_file)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = seeded_totals("org-a", 1000, 2024, 21, "2024-01-01", "2024-06-30");
    assert_eq!(sheet(&out_file, "Aktiviteter").len() as u64, expected.activities + 1);
    let summary = sheet(&out_file, "Sammendrag");
    let total = summary.iter().find(|r| r[0] == "Totalt").unwrap();
    assert_eq!(num(&total[1]) as u64, expected.activities);
    assert!(String::from_utf8_lossy(&out.stdout).contains("report.xlsx"));
    // Not a terminal: one line per status and stage, no carriage returns.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains('\r'), "{stderr:?}");
    let progress: Vec<&str> = stderr.lines().filter(|l| l.contains(" rows ")).collect();
    let steps: Vec<Vec<&str>> = progress.iter().map(|l| l.split_whitespace().take(2).collect()).collect();
    let mut distinct = steps.clone();
    distinct.dedup();
    assert_eq!(steps, distinct, "a line only when the status or stage changes: {stderr}");
    assert_eq!(steps.last().unwrap(), &["completed", "finished"], "{stderr}");
}

#[test]
fn bad_input_exits_non_zero_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for args in [
        vec!["export", "--org", "org-a", "--from", "2025-02-01", "--to", "2025-01-01", "--data-dir", d],
        vec!["export", "--org", "org-a", "--from", "yesterday", "--to", "2025-01-01", "--data-dir", d],
        vec!["activities", "seed", "--org", "../x", "--count", "5", "--data-dir", d],
        vec!["activities", "seed", "--org", "org-a", "--count", "0", "--data-dir", d],
        vec!["activities", "import", "--org", "org-a", "/no/such/file.jsonl", "--data-dir", d],
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
    }
}

#[test]
fn import_is_all_or_nothing_and_names_the_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"{"activity_id":"act-1","org_id":"org-a","activity_type":"group_session","title":"Samtalegruppe","date":"2025-03-04","duration_minutes":90,"mode":"in_person","kommunenummer":"0301","in_norway":true,"participants":{"total":3,"new":1,"by_gender":{"female":2,"male":1,"other":0,"unknown":0},"by_age":{"0-5":0,"6-12":0,"13-17":0,"18-24":1,"25-66":2,"67+":0,"unknown":0}},"volunteers":{"count":1,"hours":2.0},"led_by_peer":true}"#;
    let bad = good.replace("\"total\":3", "\"total\":4").replace("act-1", "act-2");
    let file = dir.path().join("acts.jsonl");
    std::fs::write(&file, format!("{good}\n{bad}\n")).unwrap();
    let out = Command::new(BIN)
        .args(["activities", "import", "--org", "org-a"])
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("acts.jsonl:2:"), "names line 2: {err}");
    assert!(err.contains("nothing was imported"), "{err}");

    // Nothing of the bad file was stored: an export of the period is empty.
    let empty = Command::new(BIN)
        .args(["export", "--org", "org-a", "--from", "2025-01-01", "--to", "2025-12-31", "--format", "json", "--out"])
        .arg(dir.path().join("r.json"))
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(empty.status.success(), "{}", String::from_utf8_lossy(&empty.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(report["activities"].as_array().unwrap().len(), 0);

    std::fs::write(&file, format!("{good}\n")).unwrap();
    let out = cli(dir.path(), &["activities", "import", "--org", "org-a", file.to_str().unwrap()]);
    assert!(out.contains("imported 1 activities"), "{out}");

    // With an attachment file in the data directory, --include-attachments bundles it.
    let with_file = good.replace("\"led_by_peer\":true", "\"led_by_peer\":true,\"attachments\":[{\"name\":\"liste.pdf\",\"content_type\":\"application/pdf\",\"key\":\"org-a/act-1/liste.pdf\"}]");
    std::fs::write(&file, format!("{with_file}\n")).unwrap();
    cli(dir.path(), &["activities", "import", "--org", "org-a", file.to_str().unwrap()]);
    std::fs::create_dir_all(dir.path().join("attachments/org-a/act-1")).unwrap();
    std::fs::write(dir.path().join("attachments/org-a/act-1/liste.pdf"), b"%PDF-1.7").unwrap();
    let zip_path = dir.path().join("bundle.zip");
    let d = dir.path().to_str().unwrap();
    let out = run(&[
        "export",
        "--org",
        "org-a",
        "--from",
        "2025-01-01",
        "--to",
        "2025-12-31",
        "--format",
        "json",
        "--include-attachments",
        "--out",
        zip_path.to_str().unwrap(),
        "--data-dir",
        d,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut names: Vec<String> = archive.file_names().map(String::from).collect();
    names.sort();
    assert_eq!(names, ["bufdir-org-a-2025-01-01-2025-12-31.json", "manifest.json", "vedlegg/act-1/liste.pdf"]);
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_name("vedlegg/act-1/liste.pdf").unwrap(), &mut body).unwrap();
    assert_eq!(body, b"%PDF-1.7");
}

#[test]
fn token_is_a_jwt_and_needs_an_org_or_admin() {
    let dir = tempfile::tempdir().unwrap();
    let t = token(dir.path(), &["org-a"]);
    assert_eq!(t.split('.').count(), 3, "a JWT");
    let out = run(&["token", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(!out.status.success(), "an org or --admin is required");
}
