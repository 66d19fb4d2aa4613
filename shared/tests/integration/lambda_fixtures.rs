//! Every function's fixture in `events/` (what `sam local invoke -e` and
//! `cargo lambda invoke --data-file` send it) fed to that function's
//! handler in-process, against the AWS adapters on moto: each is shaped
//! as its trigger sends it and gets the answer it should. A function
//! without a fixture, or a fixture without a function, fails the test.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bufdir_testing::moto;
use serde_json::json;
use shared::adapters::aws::attachment_sweep::attachment_sweep;
use shared::adapters::aws::console::console_function;
use shared::adapters::aws::expired::handle_stream_batch;
use shared::adapters::aws::imports::{handle_import_batch, import_context};
use shared::adapters::aws::steps::{Step, StepInput, StepOutput, run_step};
use shared::adapters::aws::watchdog::watchdog_pass;
use shared::adapters::aws::webhooks::{deliverer, handle_events_batch, sweep};
use shared::adapters::aws::{AwsApp, AwsNames, WorkflowWiring, provision};
use shared::domain::{ExportFormat, ExportId, ExportJob, ExportStatus, FailureCode, ValidRequest};
use shared::http::console::SignIn;
use shared::ports::JobStore;
use shared::service::Settings;
use tower::ServiceExt;

use crate::aws_api_lambda::{Lambdas, answer, fixture};

const FIXTURE_ID: &str = "exp-20260326-xyz789";

/// What each API fixture gets against a stack holding the fixture's export
/// (queued) and org-demo's activities, and none of the other records the
/// fixtures name (an activity, an import, an organisation, an endpoint).
const API_ANSWERS: [(&str, u16); 25] = [
    ("api-activities-delete", 404),
    ("api-activities-list", 200),
    ("api-activities-put", 200),
    ("api-attachments-create", 201),
    ("api-cancel", 200),
    ("api-create", 202),
    ("api-delete", 200),
    ("api-file", 409),
    ("api-get", 200),
    ("api-imports-create", 201),
    ("api-imports-get", 404),
    ("api-imports-list", 200),
    ("api-imports-template", 200),
    ("api-list", 200),
    ("api-organisations-erase", 200),
    ("api-organisations-get", 404),
    ("api-organisations-put", 200),
    ("api-retry", 409),
    ("api-webhooks-create", 201),
    ("api-webhooks-delete", 404),
    ("api-webhooks-deliveries", 404),
    ("api-webhooks-get", 404),
    ("api-webhooks-list", 200),
    ("api-webhooks-rotate", 404),
    ("api-webhooks-update", 404),
];

/// The export the fixtures name, queued afresh.
async fn fresh_job(app: &AwsApp) -> ExportJob {
    let id = ExportId::parse(FIXTURE_ID).unwrap();
    let _ = app.jobs.delete(&id).await;
    let request = ValidRequest {
        org_id: None,
        format: ExportFormat::Excel,
        period_from: "2025-01-01".parse().unwrap(),
        period_to: "2025-12-31".parse().unwrap(),
        activity_types: vec![],
        include_attachments: false,
        submit_to_bufdir_api: true,
        report_profile: "standard".into(),
    };
    let job = ExportJob::queued(id, "org-demo".into(), request, "sam-local".into(), chrono::Utc::now(), 60);
    app.jobs.insert(&job).await.unwrap();
    job
}

/// What the step function answers its fixture.
async fn step(ctx: &shared::workflow::WorkflowContext, step: Step, name: &str) -> StepOutput {
    let input: StepInput = serde_json::from_value(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    run_step(ctx, step, input, None).await.unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_answers_its_fixture() {
    let c = moto::clients().await;
    let sm = moto::create_state_machine(&c, &moto::unique("fixtures")).await;
    let names = moto::stack(&c, Some(sm)).await;
    let app = AwsApp::new(names.clone(), c.clone(), Settings::default());
    app.activities.writer().put_all(shared::demo::generate("org-demo", 40, 2025..=2025, 3)).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let ctx = app.workflow_context(work.path().to_path_buf(), Duration::from_millis(200));
    let lambdas = Lambdas(app.api_state().unwrap());
    let mut fed = BTreeSet::new();

    // The API functions: each event reaches its own route and gets a considered answer.
    let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut api: Vec<String> = std::fs::read_dir(&events)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("api-") && n.ends_with(".json"))
        .collect();
    api.sort();
    for name in &api {
        fresh_job(&app).await;
        let response = answer(&lambdas, &fixture(name)).await;
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 22).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let function = name.trim_end_matches(".json");
        let expected = API_ANSWERS.iter().find(|(f, _)| *f == function).map(|(_, s)| *s);
        assert_eq!(Some(status), expected, "{name}: {body}");
        assert!(
            !["route_not_found", "method_not_allowed"].contains(&body["code"].as_str().unwrap_or("")),
            "{name}: {body}"
        );
        fed.insert(function.to_string());
    }

    // The workflow's steps, in the order the state machine runs them.
    fresh_job(&app).await;
    let id = ExportId::parse(FIXTURE_ID).unwrap();
    let generated = step(&ctx, Step::Generate, "generate.json").await;
    assert!(!generated.stopped, "{generated:?}");
    assert!(app.jobs.get(&id).await.unwrap().unwrap().file.is_some(), "generate stored the report");
    let submitted = step(&ctx, Step::Submit, "submit.json").await;
    assert!(!submitted.stopped, "{submitted:?}");
    step(&ctx, Step::Complete, "complete.json").await;
    let done = app.jobs.get(&id).await.unwrap().unwrap();
    assert_eq!(done.status, ExportStatus::Completed);
    assert!(done.bufdir_submission.unwrap().reference.is_some(), "submitted to the outbox");
    fresh_job(&app).await;
    step(&ctx, Step::MarkFailed, "mark-failed.json").await;
    let failed = app.jobs.get(&id).await.unwrap().unwrap();
    assert_eq!((failed.status, failed.error_code), (ExportStatus::Failed, Some(FailureCode::AttachmentMissing)));
    fed.extend(["generate", "submit", "complete", "mark-failed"].map(String::from));

    // The scheduled functions.
    let service = app.service(Arc::new(app.step_functions().unwrap()));
    let imports = app.import_service(app.import_queue());
    assert_eq!(fixture("watchdog.json")["detail-type"], "Scheduled Event");
    let pass = watchdog_pass(&service, &imports, chrono::Utc::now()).await.unwrap();
    assert!(pass["exports"].is_object() && pass["imports"]["expired"].is_u64(), "{pass}");
    let webhooks = deliverer(&app);
    assert_eq!(fixture("webhooks-retry.json")["detail-type"], "Scheduled Event");
    let swept = sweep(&webhooks).await;
    assert!(swept.is_object(), "{swept}");
    assert_eq!(fixture("attachments-sweep.json")["detail-type"], "Scheduled Event");
    let released = attachment_sweep(&app, chrono::Utc::now()).await.unwrap();
    assert!(released["released"].is_u64() && released["checked"].is_u64(), "{released}");
    fed.extend(["watchdog", "webhooks-retry", "attachments-sweep"].map(String::from));

    // The queue and stream consumers: nothing to deliver again.
    let answer = handle_events_batch(&app.webhooks(), &webhooks, &fixture("webhooks-deliver.json")).await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let ctx_imports = import_context(&app, work.path().to_path_buf());
    let answer = handle_import_batch(&ctx_imports, &names.uploads_prefix, &fixture("import.json")).await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let counted = handle_stream_batch(&app.jobs, &fixture("jobs-expired.json")).await.unwrap();
    assert_eq!(counted, 1, "the TTL removal of a finished job is taken off the counters");
    fed.extend(["webhooks-deliver", "import", "jobs-expired"].map(String::from));

    // The console: its page, without a token.
    let event = fixture("console.json");
    assert!(event["requestContext"].get("authorizer").is_none(), "the console's routes have no authorizer");
    let request = lambda_http::request::from_str(&event.to_string()).expect("an API Gateway v2 event");
    let page = console_function(SignIn::Token).oneshot(request).await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = axum::body::to_bytes(page.into_body(), 1 << 20).await.unwrap();
    assert!(String::from_utf8_lossy(&html).contains("/console/app.js"));
    fed.insert("console".to_string());

    let functions: BTreeSet<String> =
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("Cargo.toml").is_file())
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
    assert_eq!(fed, functions, "every function, and only they, answered its fixture");
}

/// `events/local-env.json` names a stack that provisioning makes in full
/// on the emulator, state machine included, so a create invoked with that
/// environment (as `sam local invoke --env-vars` gives it) starts a real
/// execution there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_invoked_with_the_local_env_starts_an_execution_on_the_emulator() {
    let env = fixture("local-env.json");
    let vars = env["Parameters"].as_object().unwrap().clone();
    // A container reaches the emulator at host.docker.internal; this process at its own address.
    let endpoint = moto::endpoint();
    let get = |name: &str| {
        vars.get(name).and_then(|v| v.as_str()).map(|v| v.replace("http://host.docker.internal:5000", endpoint))
    };
    let names = AwsNames::from_lookup(get).unwrap();
    let arn = names.state_machine_arn.clone().expect("local-env.json names the state machine");
    let c = moto::clients().await;
    provision::create_resources(&c, &names).await.unwrap();
    provision::create_resources(&c, &names).await.unwrap();
    let described = c.sfn.describe_state_machine().state_machine_arn(&arn).send().await.unwrap();
    assert!(described.definition().contains("function:bufdir-exports-local-export-generate"));

    let app = AwsApp::new(names, c.clone(), Settings::default());
    app.activities.writer().put_all(shared::demo::generate("org-demo", 20, 2025..=2025, 3)).await.unwrap();
    let response = answer(&Lambdas(app.api_state().unwrap()), &fixture("api-create.json")).await;
    assert_eq!(response.status().as_u16(), 202);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let created: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let id = created["export_id"].as_str().unwrap();
    let executions = c.sfn.list_executions().state_machine_arn(&arn).send().await.unwrap();
    assert!(
        executions.executions().iter().any(|e| e.name().starts_with(id)),
        "no execution for {id}: {:?}",
        executions.executions()
    );
}
