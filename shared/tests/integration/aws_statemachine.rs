//! The export state machine (infra/statemachine/export-workflow.asl.json)
//! executed by moto's Step Functions interpreter. Its Lambda tasks reach a
//! stand-in Lambda service in this process (moto sends every Invoke to
//! `localhost:$MOTO_PORT`), which answers either canned replies (to walk
//! each branch: happy path, submit, Retryable retried, NonRetryable ->
//! MarkFailed, stopped) or by running the real step handlers against
//! DynamoDB and S3 on the same moto (the whole workflow end to end).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bufdir_testing::moto;
use serde_json::{Value, json};
use shared::adapters::aws::steps::{Step, StepInput, run_step};
use shared::adapters::aws::{AwsApp, Clients, WorkflowWiring, activity_item, execution_arn};
use shared::domain::{Caller, CreateExportRequest, ExportStatus, OrgScope};
use shared::ports::{ExportEvent, ExportEventType};
use shared::service::Settings;
use shared::workflow::WorkflowContext;

/// What the stand-in answers for one function.
#[derive(Clone)]
enum Reply {
    /// `{"export_id", "attempt", "stopped", "submit"}` built from the input.
    Out { stopped: bool, submit: bool },
    /// A function error, as lambda_runtime reports a `Diagnostic`.
    Error(&'static str, &'static str),
}

enum Behaviour {
    Canned(VecDeque<Reply>),
    Real(Step, Box<WorkflowContext>),
}

#[derive(Default)]
struct Lambdas {
    behaviours: HashMap<String, Behaviour>,
    /// (function name, payload) of every invocation, in order.
    calls: Vec<(String, Value)>,
}

type Shared = Arc<Mutex<Lambdas>>;

fn function_error(error_type: &str, message: &str) -> Response {
    let mut r = Json(json!({ "errorType": error_type, "errorMessage": message })).into_response();
    r.headers_mut().insert("X-Amz-Function-Error", HeaderValue::from_static("Unhandled"));
    r
}

use axum::Json;

async fn invoke(State(lambdas): State<Shared>, Path(function): Path<String>, _h: HeaderMap, body: Bytes) -> Response {
    let name = function.rsplit(':').next().unwrap_or(&function).to_string();
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let action = {
        let mut l = lambdas.lock().unwrap();
        l.calls.push((name.clone(), payload.clone()));
        match l.behaviours.get_mut(&name) {
            Some(Behaviour::Canned(replies)) => Err(replies.pop_front()),
            Some(Behaviour::Real(step, ctx)) => Ok((*step, ctx.clone())),
            None => Err(None),
        }
    };
    match action {
        Ok((step, ctx)) => {
            let input: StepInput = match serde_json::from_value(payload) {
                Ok(i) => i,
                Err(e) => return function_error("Runtime.UnmarshalError", &e.to_string()),
            };
            match run_step(&ctx, step, input, None).await {
                Ok(out) => Json(out).into_response(),
                Err(f) => function_error(f.error_type, &f.message),
            }
        }
        Err(Some(Reply::Out { stopped, submit })) => Json(json!({
            "export_id": payload["export_id"], "attempt": payload["attempt"], "stopped": stopped, "submit": submit
        }))
        .into_response(),
        Err(Some(Reply::Error(t, m))) => function_error(t, m),
        Err(None) => (StatusCode::NOT_FOUND, Json(json!({"Type": "User", "Message": format!("no function {name}")})))
            .into_response(),
    }
}

/// A moto server whose Step Functions call this process's Lambda stand-in.
struct Harness {
    clients: Clients,
    endpoint: String,
    lambdas: Shared,
}

impl Harness {
    /// The state machine `p`'s tasks run the real step handlers with `ctx`.
    fn run_real_steps(&self, p: &str, ctx: &WorkflowContext) {
        for (f, step) in [
            ("generate", Step::Generate),
            ("submit", Step::Submit),
            ("complete", Step::Complete),
            ("mark-failed", Step::MarkFailed),
        ] {
            let real = Behaviour::Real(step, Box::new(ctx.clone()));
            self.lambdas.lock().unwrap().behaviours.insert(format!("{p}-{f}"), real);
        }
    }

    async fn start() -> Harness {
        let lambdas: Shared = Arc::default();
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new()
            .route("/2015-03-31/functions/{function}/invocations", post(invoke))
            .with_state(lambdas.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let endpoint = moto::start_moto(&[("MOTO_PORT", &port.to_string())]);
        let r = reqwest::Client::new()
            .post(format!("{endpoint}/moto-api/config"))
            .json(&json!({"stepfunctions": {"execute_state_machine": true}, "lambda": {"use_docker": false}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        Harness { clients: moto::clients_for(&endpoint).await, endpoint, lambdas }
    }

    async fn state_machine(&self, prefix: &str) -> String {
        moto::create_state_machine(&self.clients, prefix).await
    }

    fn canned(&self, prefix: &str, function: &str, replies: Vec<Reply>) {
        self.lambdas
            .lock()
            .unwrap()
            .behaviours
            .insert(format!("{prefix}-{function}"), Behaviour::Canned(replies.into()));
    }

    fn calls(&self, prefix: &str) -> Vec<(String, Value)> {
        let p = format!("{prefix}-");
        self.lambdas
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter_map(|(n, v)| n.strip_prefix(&p).map(|f| (f.to_string(), v.clone())))
            .collect()
    }

    async fn start_execution(&self, sm: &str, export_id: &str, attempt: u32) -> String {
        self.clients
            .sfn
            .start_execution()
            .state_machine_arn(sm)
            .name(format!("{export_id}-a{attempt}"))
            .input(json!({"export_id": export_id, "attempt": attempt}).to_string())
            .send()
            .await
            .unwrap()
            .execution_arn
    }

    /// Waits for the execution to end; returns its status and the states it entered.
    async fn finished(&self, execution: &str) -> (ExecutionStatus, Vec<String>, Option<String>) {
        let started = std::time::Instant::now();
        loop {
            let d = self.clients.sfn.describe_execution().execution_arn(execution).send().await.unwrap();
            if d.status != ExecutionStatus::Running {
                let history = self.clients.sfn.get_execution_history().execution_arn(execution).send().await.unwrap();
                let entered = history
                    .events
                    .iter()
                    .filter_map(|e| e.state_entered_event_details().map(|s| s.name().to_string()))
                    .collect();
                let error = history
                    .events
                    .iter()
                    .find(|e| *e.r#type() == HistoryEventType::ExecutionFailed)
                    .and_then(|e| e.execution_failed_event_details())
                    .and_then(|f| f.error().map(str::to_string));
                return (d.status, entered, error);
            }
            assert!(started.elapsed() < Duration::from_secs(90), "execution {execution} still running");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn names(calls: &[(String, Value)]) -> Vec<&str> {
    calls.iter().map(|(n, _)| n.as_str()).collect()
}

const OUT: Reply = Reply::Out { stopped: false, submit: false };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_branch_of_the_state_machine() {
    let h = Harness::start().await;
    let id = "exp-20260326-abc123";

    // happy path: no submission asked for
    let p = "happy";
    let sm = h.state_machine(p).await;
    h.canned(p, "generate", vec![OUT]);
    h.canned(p, "complete", vec![OUT]);
    let (status, entered, _) = h.finished(&h.start_execution(&sm, id, 1).await).await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    assert_eq!(entered, ["Generate", "GeneratedWhat", "Complete", "Done"]);
    let calls = h.calls(p);
    assert_eq!(names(&calls), ["generate", "complete"]);
    assert_eq!(calls[0].1, json!({"export_id": id, "attempt": 1}), "the execution input is the task's payload");

    // the submit branch
    let p = "submits";
    let sm = h.state_machine(p).await;
    h.canned(p, "generate", vec![Reply::Out { stopped: false, submit: true }]);
    h.canned(p, "submit", vec![OUT]);
    h.canned(p, "complete", vec![OUT]);
    let (status, entered, _) = h.finished(&h.start_execution(&sm, id, 2).await).await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    assert_eq!(entered, ["Generate", "GeneratedWhat", "Submit", "SubmittedWhat", "Complete", "Done"]);
    assert_eq!(names(&h.calls(p)), ["generate", "submit", "complete"]);

    // a Retryable error is retried, and the retry succeeds
    let p = "retries";
    let sm = h.state_machine(p).await;
    h.canned(
        p,
        "generate",
        vec![Reply::Error("Retryable", "DynamoDB is busy"), Reply::Error("Retryable", "still busy"), OUT],
    );
    h.canned(p, "complete", vec![Reply::Error("Retryable", "throttled"), OUT]);
    let (status, entered, _) = h.finished(&h.start_execution(&sm, id, 1).await).await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    assert_eq!(entered, ["Generate", "GeneratedWhat", "Complete", "Done"]);
    assert_eq!(names(&h.calls(p)), ["generate", "generate", "generate", "complete", "complete"]);

    // a NonRetryable error is not retried: MarkFailed gets the error, the execution fails
    let p = "fails";
    let sm = h.state_machine(p).await;
    h.canned(p, "generate", vec![Reply::Error("NonRetryable", "reading activities failed: bad record")]);
    h.canned(p, "mark-failed", vec![OUT]);
    let (status, entered, error) = h.finished(&h.start_execution(&sm, id, 1).await).await;
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(entered, ["Generate", "MarkFailed", "ExportFailed"]);
    assert_eq!(error.as_deref(), Some("ExportFailed"));
    let calls = h.calls(p);
    assert_eq!(names(&calls), ["generate", "mark-failed"]);
    let caught = &calls[1].1;
    assert_eq!((&caught["export_id"], &caught["attempt"]), (&json!(id), &json!(1)));
    assert_eq!(caught["error"]["Error"], "NonRetryable");
    let cause: Value = serde_json::from_str(caught["error"]["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause["errorMessage"], "reading activities failed: bad record");

    // Retryable errors that never stop end in MarkFailed after the retries
    let p = "exhausts";
    let sm = h.state_machine(p).await;
    h.canned(p, "generate", vec![OUT]);
    h.canned(p, "submit", vec![]);
    h.canned(p, "complete", (0..4).map(|_| Reply::Error("Retryable", "throttled")).collect());
    h.canned(p, "mark-failed", vec![OUT]);
    let (status, entered, _) = h.finished(&h.start_execution(&sm, id, 1).await).await;
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(entered, ["Generate", "GeneratedWhat", "Complete", "MarkFailed", "ExportFailed"]);
    assert_eq!(names(&h.calls(p)).iter().filter(|n| **n == "complete").count(), 4, "first try + 3 retries");

    // a step that finds the export cancelled ends the execution quietly
    let p = "stops";
    let sm = h.state_machine(p).await;
    h.canned(p, "generate", vec![Reply::Out { stopped: true, submit: true }]);
    let (status, entered, _) = h.finished(&h.start_execution(&sm, id, 1).await).await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    assert_eq!(entered, ["Generate", "GeneratedWhat", "Stopped"]);
    assert_eq!(names(&h.calls(p)), ["generate"]);
}

/// A stack whose configuration lost its receiver after an export asking
/// for submission was created: Submit fails it as receiver_not_configured,
/// through MarkFailed, and the report it made is not kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_without_a_receiver_fails_as_not_configured() {
    let h = Harness::start().await;
    let p = "norecv";
    let sm = h.state_machine(p).await;
    let names = moto::stack(&h.clients, Some(sm.clone())).await;
    let app = AwsApp::new(names.clone(), h.clients.clone(), Settings::default());
    let unconfigured = AwsApp::new(names.clone(), h.clients.clone(), Settings::default())
        .with_submitter(Arc::new(shared::adapters::aws::NoReceiver("no Bufdir receiver is configured")));
    let work = tempfile::tempdir().unwrap();
    let ctx = unconfigured.workflow_context(work.path().to_path_buf(), Duration::from_millis(200));
    h.run_real_steps(p, &ctx);
    let org = moto::unique("org-norecv");
    app.activities.writer().put_all(shared::demo::generate(&org, 20, 2025..=2025, 7)).await.unwrap();
    let service = app.service(Arc::new(app.step_functions().unwrap()));
    let caller = Caller { subject: "tester".into(), scope: OrgScope::Only(vec![org.clone()]) };
    let request: CreateExportRequest = serde_json::from_value(json!({
        "format": "csv", "period_from": "2025-01-01", "period_to": "2025-12-31", "submit_to_bufdir_api": true
    }))
    .unwrap();
    let job = service.create(&caller, &request).await.unwrap();
    let (status, entered, _) = h.finished(&execution_arn(&sm, &format!("{}-a1", job.export_id)).unwrap()).await;
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(entered, ["Generate", "GeneratedWhat", "Submit", "MarkFailed", "ExportFailed"]);
    let failed = service.get(&caller, &job.export_id).await.unwrap().job;
    assert_eq!(
        failed.error_code,
        Some(shared::domain::FailureCode::ReceiverNotConfigured),
        "{:?}",
        failed.error_message
    );
    let message = failed.error_message.unwrap();
    assert_eq!(message, "submission to Bufdir failed: no Bufdir receiver is configured");
    assert!(failed.file.is_none());
}

/// The real step handlers behind the state machine: an export created
/// through the service runs Generate -> Submit -> Complete in Step
/// Functions against DynamoDB and S3; a broken activity record fails it
/// through MarkFailed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_steps_run_an_export_end_to_end() {
    let h = Harness::start().await;
    let p = "real";
    let sm = h.state_machine(p).await;
    let names = moto::stack(&h.clients, Some(sm.clone())).await;
    let emf = Captured::default();
    let metrics = shared::adapters::aws::EmfMetrics::to_writer("Test/Exports", Box::new(emf.clone()));
    let app = AwsApp::new(names.clone(), h.clients.clone(), Settings::default()).with_metrics(Arc::new(metrics));
    let work = tempfile::tempdir().unwrap();
    let ctx = app.workflow_context(work.path().to_path_buf(), Duration::from_millis(200));
    h.run_real_steps(p, &ctx);
    let org = moto::unique("org-e2e");
    app.activities.writer().put_all(shared::demo::generate(&org, 300, 2025..=2025, 7)).await.unwrap();
    let service = app.service(Arc::new(app.step_functions().unwrap()));
    let caller = Caller { subject: "tester".into(), scope: OrgScope::Only(vec![org.clone()]) };
    let request: CreateExportRequest = serde_json::from_value(json!({
        "format": "excel", "period_from": "2025-01-01", "period_to": "2025-12-31", "submit_to_bufdir_api": true
    }))
    .unwrap();
    let job = service.create(&caller, &request).await.unwrap();
    let execution = execution_arn(&sm, &format!("{}-a1", job.export_id)).unwrap();
    let (status, entered, _) = h.finished(&execution).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "states: {entered:?}");
    assert_eq!(entered, ["Generate", "GeneratedWhat", "Submit", "SubmittedWhat", "Complete", "Done"]);

    let view = service.get(&caller, &job.export_id).await.unwrap();
    assert_eq!(view.job.status, ExportStatus::Completed);
    assert_eq!(view.job.progress.rows_total, 300);
    let file = view.job.file.clone().unwrap();
    assert!(file.key.starts_with(&format!("{org}/{}/a1/", job.export_id)), "{}", file.key);
    let body = moto::presigned_get(view.file_url.clone().unwrap()).await.expect("the link downloads the workbook");
    assert_eq!(body.len() as u64, file.size_bytes);
    assert!(body.starts_with(b"PK"), "an xlsx is a zip");
    let reference = view.job.bufdir_submission.clone().unwrap().reference.unwrap();
    let record = h
        .clients
        .s3
        .get_object()
        .bucket(&names.files_bucket)
        .key(format!("bufdir-outbox/{}-a1/submission.json", job.export_id))
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let record: Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(record["reference"], reference.as_str());
    assert_eq!(record["sha256"], file.sha256.as_str());

    // a record the report cannot read fails the export through MarkFailed
    let broken = moto::unique("org-broken");
    let mut item = activity_item(&shared::demo::generate(&broken, 1, 2025..=2025, 1).next().unwrap()).unwrap();
    item.insert("doc".into(), aws_sdk_dynamodb::types::AttributeValue::S("{not json".into()));
    h.clients.dynamodb.put_item().table_name(&names.activities_table).set_item(Some(item)).send().await.unwrap();
    let caller_b = Caller { subject: "tester".into(), scope: OrgScope::Only(vec![broken.clone()]) };
    let failing = service.create(&caller_b, &request).await.unwrap();
    let (status, entered, _) = h.finished(&execution_arn(&sm, &format!("{}-a1", failing.export_id)).unwrap()).await;
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(entered, ["Generate", "MarkFailed", "ExportFailed"]);
    let failed = service.get(&caller_b, &failing.export_id).await.unwrap().job;
    assert_eq!(failed.status, ExportStatus::Failed);
    assert_eq!(failed.error_code, Some(shared::domain::FailureCode::Internal));
    assert!(
        failed.error_message.as_deref().unwrap_or("").contains("reading activities failed"),
        "{:?}",
        failed.error_message
    );
    assert!(failed.file.is_none());
    assert!(app.files.list(&failed.file_prefix()).await.unwrap().is_empty());

    // what the steps and the service measured, as EMF documents CloudWatch reads
    let docs = emf.documents();
    let named = |metric: &str| -> Vec<&Value> { docs.iter().filter(|d| d.get(metric).is_some()).collect() };
    assert_eq!(named("ExportsCreated").len(), 2, "{docs:?}");
    let finished = named("ExportsFinished");
    let outcomes: Vec<(&Value, &Value, &Value)> =
        finished.iter().map(|d| (&d["Outcome"], &d["ErrorCode"], &d["Fault"])).collect();
    assert_eq!(
        outcomes,
        [
            (&json!("completed"), &json!("none"), &json!("none")),
            (&json!("failed"), &json!("internal"), &json!("system"))
        ]
    );
    assert_eq!(named("ExportQueuedTime").len(), 2, "both attempts started");
    assert_eq!(named("ExportDuration").len(), 1, "only the completed one");
    assert!(named("ExportRowsPerSecond")[0]["ExportRowsPerSecond"].as_f64().unwrap() > 0.0);
    assert_eq!(named("Submissions").iter().map(|d| &d["Outcome"]).collect::<Vec<_>>(), [&json!("submitted")]);
    for doc in &docs {
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Test/Exports");
        assert!(doc["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000, "{doc}");
        for m in directive["Metrics"].as_array().unwrap() {
            assert!(doc[m["Name"].as_str().unwrap()].is_number(), "each metric has its value: {doc}");
        }
        for set in directive["Dimensions"].as_array().unwrap() {
            for d in set.as_array().unwrap() {
                assert!(doc[d.as_str().unwrap()].is_string(), "each dimension has its value: {doc}");
            }
        }
        assert!(!doc.to_string().contains(&org), "no organisation in a metric: {doc}");
    }

    // both outcomes were announced on the queue, and the submission
    let events: Vec<ExportEvent> = moto::drain_queue(&h.clients, &names.events_queue_url)
        .await
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    let mut outcomes: Vec<(String, ExportEventType, String)> =
        events.iter().map(|e| (e.export_id.clone(), e.event_type, e.status.clone())).collect();
    outcomes.sort_by_key(|o| format!("{o:?}"));
    let mut expected = vec![
        (job.export_id.to_string(), ExportEventType::Submitted, "running".to_string()),
        (job.export_id.to_string(), ExportEventType::Completed, "completed".to_string()),
        (failing.export_id.to_string(), ExportEventType::Failed, "failed".to_string()),
    ];
    expected.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(outcomes, expected);
    let _ = h.endpoint;
}

use shared::ports::FileStore;

/// What a writer was given, for reading back EMF lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// One JSON document per line.
    fn documents(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }
}
