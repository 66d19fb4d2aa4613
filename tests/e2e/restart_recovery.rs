//! A server stopped the hard way while an export runs: on the next start
//! the export is picked up again and completes; nothing stays "running".

use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn an_export_interrupted_by_a_crash_completes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", long_export_rows(), 2025, 8);
    let token = token(dir.path(), &["org-a"]);

    let server = Server::start(dir.path());
    let id = server.create(&token, export_body("org-a", "2025-01-01", "2025-12-31", "excel")).await;
    server
        .wait_for(&token, &id, Duration::from_secs(240), |j| {
            j["status"] == "running" && j["progress"]["rows_done"].as_u64() > Some(0)
        })
        .await;
    server.kill();

    let server = Server::start(dir.path());
    let job = server.wait_status(&token, &id, "completed").await;
    assert_eq!(job["retry_count"], 0, "the same attempt resumed");
    assert_eq!(job["progress"]["rows_done"], job["progress"]["rows_total"]);
    let files = server.files_of("org-a", &id).await;
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().next().is_none(),
        "the dead run's working file was cleared"
    );
}
