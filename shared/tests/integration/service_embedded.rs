//! The export service over the embedded wiring, for what the HTTP tests
//! cannot reach in reasonable time (a file's 30-day expiry) or cannot
//! configure (a server without a Bufdir receiver).

use shared::adapters::embedded::EmbeddedApp;
use shared::domain::{Caller, CreateExportRequest, ExportStatus};
use shared::ports::FileStore;
use shared::service::{ListParams, ServiceError, Settings};

/// org-a's year 2025, as an excel export with the defaults.
fn year_2025() -> CreateExportRequest {
    CreateExportRequest {
        org_id: Some("org-a".into()),
        period_from: Some("2025-01-01".into()),
        period_to: Some("2025-12-31".into()),
        ..Default::default()
    }
}

fn submitting_request() -> CreateExportRequest {
    CreateExportRequest { submit_to_bufdir_api: Some(true), ..year_2025() }
}

/// The whole embedded service in `dir`, with `n` demo activities of org-a in 2025.
async fn app_with_activities(dir: &std::path::Path, n: u64) -> EmbeddedApp {
    let app = EmbeddedApp::open(dir, "http://127.0.0.1:1", 1).unwrap();
    app.activities.insert_all(shared::demo::generate("org-a", n, 2025..=2025, 1)).await.unwrap();
    app
}

#[tokio::test]
async fn without_a_receiver_an_export_asking_to_be_submitted_is_refused_and_not_created() {
    let tmp = tempfile::tempdir().unwrap();
    let settings = Settings { accepts_submissions: false, ..Settings::default() };
    let app = EmbeddedApp::open_with(tmp.path(), "http://127.0.0.1:1", 1, settings).unwrap();
    app.activities.insert_all(shared::demo::generate("org-a", 10, 2025..=2025, 1)).await.unwrap();
    let caller = Caller::operator();

    match app.service.create(&caller, &submitting_request()).await {
        Err(ServiceError::Validation(errors)) => {
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].field, "submit_to_bufdir_api");
            assert!(errors[0].message.contains("no Bufdir receiver is configured"), "{}", errors[0].message);
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    let all = ListParams { page: 1, limit: 100, status: None, format: None };
    assert_eq!(app.service.list(&caller, &all).await.unwrap().total, 0, "no job was created");

    // Exports that do not ask to be submitted are unaffected.
    let plain = CreateExportRequest { submit_to_bufdir_api: Some(false), ..submitting_request() };
    app.service.create(&caller, &plain).await.unwrap();
    app.runner.wait_idle().await;
}

#[tokio::test]
async fn the_embedded_server_submits_to_its_local_receiver_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app_with_activities(tmp.path(), 10).await;
    let caller = Caller::operator();

    let job = app.service.create(&caller, &submitting_request()).await.unwrap();
    app.runner.wait_idle().await;
    let view = app.service.get(&caller, &job.export_id).await.unwrap();
    assert_eq!(view.job.status, ExportStatus::Completed, "{:?}", view.job.error_message);
    assert!(view.job.bufdir_submission.and_then(|s| s.reference).is_some());
}

#[tokio::test]
async fn expired_files_are_deleted_and_the_link_goes_with_them() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app_with_activities(tmp.path(), 50).await;
    let caller = Caller::operator();
    let request = year_2025();
    let job = app.service.create(&caller, &request).await.unwrap();
    app.runner.wait_idle().await;
    let view = app.service.get(&caller, &job.export_id).await.unwrap();
    assert_eq!(view.job.status, ExportStatus::Completed);
    assert!(view.file_url.is_some());
    let expires = view.job.file_expires_at.unwrap();
    assert_eq!(app.files.list(&view.job.file_prefix()).await.unwrap().len(), 1);

    // A day before expiry nothing goes; at expiry the file does.
    assert_eq!(app.service.purge_expired_files(expires - chrono::Duration::days(1)).await.unwrap(), 0);
    assert_eq!(app.service.purge_expired_files(expires + chrono::Duration::seconds(1)).await.unwrap(), 1);
    assert!(app.files.list(&view.job.file_prefix()).await.unwrap().is_empty());
    let after = app.service.get(&caller, &job.export_id).await.unwrap();
    assert_eq!(after.job.status, ExportStatus::Completed, "the record stays");
    assert_eq!(after.file_url, None);
    assert_eq!(after.job.file, None);
    assert_eq!(app.service.purge_expired_files(expires + chrono::Duration::days(1)).await.unwrap(), 0);
}

#[tokio::test]
async fn the_watchdog_fails_an_export_whose_heartbeat_stopped_and_it_can_be_retried() {
    use shared::ports::JobStore;
    let tmp = tempfile::tempdir().unwrap();
    let app = app_with_activities(tmp.path(), 50).await;
    let caller = Caller::operator();
    let request = year_2025();
    let stalled = app.service.create(&caller, &request).await.unwrap();
    let alive = app.service.create(&caller, &request).await.unwrap();
    app.runner.wait_idle().await;

    // Both as a worker that died mid-way would leave them: running, with
    // a half-stored file; one last beat 11 minutes ago, one just now.
    let now = chrono::Utc::now();
    for (id, last_beat) in [(&stalled.export_id, now - chrono::Duration::minutes(11)), (&alive.export_id, now)] {
        let mut job = app.jobs.get(id).await.unwrap().unwrap();
        let expected = job.version;
        (job.status, job.completed_at, job.file_expires_at, job.updated_at) =
            (ExportStatus::Running, None, None, last_beat);
        job.version += 1;
        app.jobs.update(&job, expected).await.unwrap();
    }
    let stalled_files = app.service.get(&caller, &stalled.export_id).await.unwrap().job.attempt_prefix();
    assert_eq!(app.files.list(&stalled_files).await.unwrap().len(), 1);

    assert_eq!(app.service.fail_stalled(now).await.unwrap(), 1);
    let failed = app.service.get(&caller, &stalled.export_id).await.unwrap().job;
    assert_eq!(failed.status, ExportStatus::Failed);
    assert_eq!(failed.error_code, Some(shared::domain::FailureCode::Timeout));
    assert!(
        failed.error_message.as_deref().unwrap().contains("no heartbeat for over 10 min"),
        "{:?}",
        failed.error_message
    );
    assert_eq!((failed.file, failed.failed_at.is_some()), (None, true));
    assert!(app.files.list(&stalled_files).await.unwrap().is_empty(), "what the dead attempt stored is gone");
    assert_eq!(
        app.service.get(&caller, &alive.export_id).await.unwrap().job.status,
        ExportStatus::Running,
        "a beating export is left alone"
    );
    assert_eq!(app.service.fail_stalled(now).await.unwrap(), 0, "once is enough");
    let events = std::fs::read_to_string(tmp.path().join("events.jsonl")).unwrap();
    assert!(events.lines().any(|l| l.contains("export.failed") && l.contains(stalled.export_id.as_str())), "{events}");

    app.service.retry(&caller, &stalled.export_id).await.unwrap();
    app.runner.wait_idle().await;
    let retried = app.service.get(&caller, &stalled.export_id).await.unwrap().job;
    assert_eq!((retried.status, retried.retry_count), (ExportStatus::Completed, 1));
}

/// A workflow that answers the watchdog's question as told and records the
/// starts it is asked for, to reach every branch of what the watchdog does
/// with a queued export. (A real runner cannot be made to lose an attempt
/// on cue; the HTTP suite covers a process that really died.)
struct Scripted {
    state: std::sync::Mutex<std::collections::HashMap<String, shared::ports::AttemptState>>,
    refuse_starts: bool,
    started: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl shared::ports::WorkflowStarter for Scripted {
    async fn start(&self, job: &shared::domain::ExportJob) -> shared::ports::PortResult<()> {
        if self.refuse_starts {
            return Err(shared::ports::PortError::Transient("throttled".into()));
        }
        self.started.lock().unwrap().push(job.export_id.to_string());
        Ok(())
    }
    async fn stop(&self, _: &shared::domain::ExportId, _: u32) -> shared::ports::PortResult<()> {
        Ok(())
    }
    async fn attempt_state(
        &self,
        id: &shared::domain::ExportId,
        _: u32,
    ) -> shared::ports::PortResult<shared::ports::AttemptState> {
        Ok(self.state.lock().unwrap().get(id.as_str()).copied().unwrap_or(shared::ports::AttemptState::NotStarted))
    }
}

#[tokio::test]
async fn the_watchdog_starts_queued_exports_nobody_runs_and_fails_those_it_cannot() {
    use shared::ports::{AttemptState, JobStore};
    use shared::service::{ExportService, Ports};
    let tmp = tempfile::tempdir().unwrap();
    let app = app_with_activities(tmp.path(), 5).await;
    let settings = Settings { max_in_flight: 10, ..Settings::default() };
    let service_with = |workflow: std::sync::Arc<Scripted>| {
        let ports = Ports {
            jobs: std::sync::Arc::new((*app.jobs).clone().with_in_flight_cap(10)),
            activities: app.activities.clone(),
            files: app.files.clone(),
            workflow,
            events: std::sync::Arc::new(
                shared::adapters::embedded::JsonlEventOutbox::open(&tmp.path().join("events.jsonl")).unwrap(),
            ),
            metrics: std::sync::Arc::new(shared::ports::NoMetrics),
            audit: app.audit.clone(),
            submitter: std::sync::Arc::new(
                shared::adapters::embedded::LocalBufdirReceiver::new(tmp.path().join("outbox")).unwrap(),
            ),
        };
        ExportService::new(ports, settings.clone())
    };
    let caller = Caller::operator();
    let scripted =
        std::sync::Arc::new(Scripted { state: Default::default(), refuse_starts: false, started: Default::default() });
    let service = service_with(scripted.clone());
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(service.create(&caller, &year_2025()).await.unwrap().export_id);
    }
    scripted.started.lock().unwrap().clear();
    let (waiting, lost, ended, fresh) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    scripted
        .state
        .lock()
        .unwrap()
        .extend([(waiting.to_string(), AttemptState::Started), (ended.to_string(), AttemptState::Ended)]);
    // Three queued 11 minutes ago, one just now.
    let now = chrono::Utc::now();
    for id in [waiting, lost, ended] {
        let mut job = app.jobs.get(id).await.unwrap().unwrap();
        let expected = job.version;
        job.queued_at = now - chrono::Duration::minutes(11);
        job.version += 1;
        app.jobs.update(&job, expected).await.unwrap();
    }

    let report = service.watchdog(now).await.unwrap();
    assert_eq!((report.restarted, report.failed_unstarted, report.failed_stalled), (1, 1, 0));
    assert_eq!(
        *scripted.started.lock().unwrap(),
        vec![lost.to_string()],
        "only the attempt nobody held is started again"
    );
    let jobs = app.jobs.clone();
    let status = |id: &shared::domain::ExportId| {
        let (jobs, id) = (jobs.clone(), id.clone());
        async move { jobs.get(&id).await.unwrap().unwrap() }
    };
    assert_eq!(status(waiting).await.status, ExportStatus::Queued, "one waiting for a worker is left alone");
    assert_eq!(status(fresh).await.status, ExportStatus::Queued, "one queued a moment ago is left alone");
    let failed = status(ended).await;
    assert_eq!(failed.status, ExportStatus::Failed);
    assert_eq!(failed.error_code, Some(shared::domain::FailureCode::NotStarted));
    assert!(failed.error_message.unwrap().contains("ended before it ran"));

    // A start that fails fails the export too, with the reason, and it can be retried.
    let refusing =
        std::sync::Arc::new(Scripted { state: Default::default(), refuse_starts: true, started: Default::default() });
    refusing.state.lock().unwrap().insert(waiting.to_string(), AttemptState::Started);
    let report = service_with(refusing).watchdog(now).await.unwrap();
    assert_eq!((report.restarted, report.failed_unstarted), (0, 1));
    let failed = status(lost).await;
    assert_eq!(failed.status, ExportStatus::Failed);
    assert_eq!(failed.error_code, Some(shared::domain::FailureCode::NotStarted));
    assert!(failed.error_message.unwrap().contains("could not be started (transient: throttled)"));
    let retried = service.retry(&caller, lost).await.unwrap();
    assert_eq!((retried.status, retried.error_code), (ExportStatus::Queued, None), "a retry clears the code");
}

/// An import being checked or written holds an erasure off (its rows could
/// land after the activities went); awaiting its file or finished, it does not.
#[tokio::test]
async fn an_erasure_waits_for_a_running_import_and_needs_an_administrator() {
    use shared::domain::{ImportStatus, OrgScope};

    let tmp = tempfile::tempdir().unwrap();
    let app = app_with_activities(tmp.path(), 5).await;
    let admin = Caller::operator();
    let own = Caller { subject: "kari".into(), scope: OrgScope::Only(vec!["org-a".into()]) };
    assert!(matches!(app.erasure.erase(&own, "org-a", Some("org-a")).await, Err(ServiceError::AdminOnly)));

    let mut import = crate::conformance::import("org-a", chrono::Utc::now());
    for status in [ImportStatus::Validating, ImportStatus::Importing] {
        import.status = status;
        let _ = app.import_context.imports.insert_import(&import).await;
        let expected = import.version;
        import.version += 1;
        let _ = app.import_context.imports.update_import(&import, expected).await;
        let refused = app.erasure.erase(&admin, "org-a", Some("org-a")).await;
        assert!(matches!(refused, Err(ServiceError::ImportRunning)), "{status:?}: {refused:?}");
    }
    let another = app.erasure.erase(&admin, "org-b", Some("org-b")).await.unwrap();
    assert_eq!(another.activities, 0, "another organisation's import holds nothing off");

    let expected = import.version;
    import.status = ImportStatus::Completed;
    import.version += 1;
    app.import_context.imports.update_import(&import, expected).await.unwrap();
    let erased = app.erasure.erase(&admin, "org-a", Some("org-a")).await.unwrap();
    assert_eq!((erased.activities, erased.imports), (5, 1));
}
