//! The API Lambdas' handlers (the one-operation router each
//! `functions/api-*` main builds) invoked in-process with the API Gateway v2 events in
//! `events/`, the ones `sam local invoke -e` uses, against the AWS
//! adapters on moto: status and body for each route, the caller taken
//! from the JWT authorizer's claims, 404 for another organisation's
//! export, 401 without claims, the Step Functions executions each route
//! starts or stops, and api-file's redirect to an S3 presigned link.

use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use axum::Router;
use axum::body::to_bytes;
use axum::response::Response;
use bufdir_testing::moto;
use serde_json::{Value, json};
use shared::adapters::aws::steps::{Step, StepInput, run_step};
use shared::adapters::aws::{AwsApp, WorkflowWiring, execution_arn};
use shared::http::{ApiState, endpoints};
use shared::service::Settings;
use tower::ServiceExt;

const FIXTURE_ID: &str = "exp-20260326-xyz789";

pub(crate) fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The event with the fixture's export id replaced by `id`.
fn with_id(event: &Value, id: &str) -> Value {
    serde_json::from_str(&event.to_string().replace(FIXTURE_ID, id)).unwrap()
}

fn with_claim(mut event: Value, claim: &str, value: Option<&str>) -> Value {
    let claims = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
    match value {
        Some(v) => claims[claim] = json!(v),
        None => {
            claims.as_object_mut().unwrap().remove(claim);
        }
    }
    event
}

/// The API functions: each event goes to the router of the function API
/// Gateway routes its `routeKey` to, as that function's main builds it.
pub(crate) struct Lambdas(pub(crate) ApiState);

impl Lambdas {
    pub(crate) fn router(&self, route_key: &str) -> Router {
        let (method, path) = route_key.split_once(' ').unwrap();
        let path = path.strip_prefix("/api/v1").unwrap();
        let endpoint = match (method, path) {
            ("GET", "/bufdir-exports") => endpoints::list_exports(),
            ("POST", "/bufdir-exports") => endpoints::create_export(),
            ("GET", "/bufdir-exports/{export_id}") => endpoints::get_export(),
            ("DELETE", "/bufdir-exports/{export_id}") => endpoints::delete_export(),
            ("GET", "/bufdir-exports/{export_id}/file") => endpoints::get_export_file(),
            ("PUT", "/bufdir-exports/{export_id}/cancel") => endpoints::cancel_export(),
            ("POST", "/bufdir-exports/{export_id}/retry") => endpoints::retry_export(),
            ("GET", "/activity-imports") => endpoints::list_imports(),
            ("POST", "/activity-imports") => endpoints::create_import(),
            ("GET", "/activity-imports/{import_id}") => endpoints::get_import(),
            ("GET", "/activity-imports/templates/{name}") => endpoints::get_import_template(),
            ("GET", "/activities") => endpoints::list_activities(),
            ("PUT", "/activities") => endpoints::put_activities(),
            ("DELETE", "/activities/{activity_id}") => endpoints::delete_activity(),
            ("GET", "/organisations/{org_id}") => endpoints::get_organisation(),
            ("PUT", "/organisations/{org_id}") => endpoints::put_organisation(),
            ("DELETE", "/organisations/{org_id}/data") => endpoints::erase_organisation_data(),
            ("POST", "/attachments") => endpoints::create_attachment(),
            ("GET", "/webhook-endpoints") => endpoints::list_webhook_endpoints(),
            ("POST", "/webhook-endpoints") => endpoints::create_webhook_endpoint(),
            ("GET", "/webhook-endpoints/{endpoint_id}") => endpoints::get_webhook_endpoint(),
            ("PATCH", "/webhook-endpoints/{endpoint_id}") => endpoints::update_webhook_endpoint(),
            ("DELETE", "/webhook-endpoints/{endpoint_id}") => endpoints::delete_webhook_endpoint(),
            ("POST", "/webhook-endpoints/{endpoint_id}/rotate-secret") => endpoints::rotate_webhook_secret(),
            ("GET", "/webhook-endpoints/{endpoint_id}/deliveries") => endpoints::list_webhook_deliveries(),
            other => panic!("no function in this test serves {other:?}"),
        };
        shared::adapters::aws::api_function(endpoint, self.0.clone())
    }
}

/// What API Gateway would get back from the Lambda, headers and all.
pub(crate) async fn answer(lambdas: &Lambdas, event: &Value) -> Response {
    let router = lambdas.router(event["routeKey"].as_str().expect("a routeKey"));
    let request = lambda_http::request::from_str(&event.to_string()).expect("an API Gateway v2 event");
    router.oneshot(request).await.unwrap()
}

/// What API Gateway would get back from the Lambda: status and JSON body.
pub(crate) async fn invoke(router: &Lambdas, event: &Value) -> (u16, Value) {
    let response = answer(router, event).await;
    let status = response.status().as_u16();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_lambdas_answer_the_event_fixtures() {
    let c = moto::clients().await;
    // executions stay RUNNING on this server (no interpretation): what
    // matters here is that each route starts or stops the right one
    let sm = moto::create_state_machine(&c, &moto::unique("api")).await;
    let names = moto::stack(&c, Some(sm.clone())).await;
    let app = AwsApp::new(names.clone(), c.clone(), Settings::default());
    app.activities.writer().put_all(shared::demo::generate("org-demo", 50, 2025..=2025, 3)).await.unwrap();
    let state = app.api_state().unwrap();
    let router = Lambdas(state);
    let execution = |id: &str, attempt: u32| execution_arn(&sm, &format!("{id}-a{attempt}")).unwrap();
    let status_of = |arn: String| {
        let c = c.clone();
        async move { c.sfn.describe_execution().execution_arn(arn).send().await.unwrap().status }
    };

    // api-create: 202, queued, and its execution started
    let (status, body) = invoke(&router, &fixture("api-create.json")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "queued");
    let id = body["export_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("exp-"), "{id}");
    assert_eq!(status_of(execution(&id, 1)).await, ExecutionStatus::Running);

    // api-list (?status=queued): the new export, with the total
    let (status, body) = invoke(&router, &fixture("api-list.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["export_id"], id.as_str());
    assert_eq!(body["pagination"], json!({"page": 1, "limit": 20, "total": 1}));

    // api-get: the export; another organisation's caller gets 404, no claims 401
    let get = with_id(&fixture("api-get.json"), &id);
    let response = answer(&router, &get).await;
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(request_id, get["requestContext"]["requestId"].as_str().unwrap(), "API Gateway's id, not the header's");
    assert_ne!(get["headers"]["x-request-id"].as_str(), Some(request_id.as_str()));
    let (status, body) = invoke(&router, &get).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["export_id"].as_str(), body["status"].as_str()), (Some(id.as_str()), Some("queued")));
    assert_eq!(body["activity_types"], json!(["group_session", "individual_counseling"]));
    let (status, body) = invoke(&router, &with_claim(get.clone(), "org_ids", Some("[org-other]"))).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = invoke(&router, &with_claim(get.clone(), "org_ids", Some("[org-other org-demo]"))).await;
    assert_eq!(status, 200, "a token for several organisations, flattened by API Gateway");
    let mut anonymous = get.clone();
    anonymous["requestContext"].as_object_mut().unwrap().remove("authorizer");
    assert_eq!(invoke(&router, &anonymous).await.0, 401);
    let admin = with_claim(with_claim(fixture("api-list.json"), "org_ids", None), "roles", Some("[admin]"));
    let (status, body) = invoke(&router, &admin).await;
    assert_eq!((status, body["pagination"]["total"].as_u64()), (200, Some(1)));

    // each function serves its own route only: api-get's router does not delete
    let delete = with_id(&fixture("api-delete.json"), &id);
    let request = lambda_http::request::from_str(&delete.to_string()).unwrap();
    let response = router.router("GET /api/v1/bufdir-exports/{export_id}").oneshot(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let request = lambda_http::request::from_str(&fixture("api-list.json").to_string()).unwrap();
    let response = router.router("GET /api/v1/bufdir-exports/{export_id}").oneshot(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 404);

    // api-file: no file to download while the export is queued
    let file = with_id(&fixture("api-file.json"), &id);
    let (status, body) = invoke(&router, &file).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("file_not_ready")), "{body}");

    // another organisation cannot cancel, retry or delete it either
    for name in ["api-cancel.json", "api-retry.json", "api-delete.json"] {
        let foreign = with_claim(with_id(&fixture(name), &id), "org_ids", Some("[org-other]"));
        assert_eq!(invoke(&router, &foreign).await.0, 404, "{name}");
    }
    assert_eq!(status_of(execution(&id, 1)).await, ExecutionStatus::Running);

    // api-cancel: cancelled, its execution stopped, the event published
    let (status, body) = invoke(&router, &with_id(&fixture("api-cancel.json"), &id)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(status_of(execution(&id, 1)).await, ExecutionStatus::Aborted);
    let events = moto::drain_queue(&c, &names.events_queue_url).await;
    assert_eq!(events.len(), 1);
    let event: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!((event["type"].as_str(), event["export_id"].as_str()), (Some("export.cancelled"), Some(id.as_str())));

    // api-retry: queued again as attempt 2, in an execution of its own
    let (status, body) = invoke(&router, &with_id(&fixture("api-retry.json"), &id)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["status"].as_str(), body["retry_count"].as_u64()), (Some("queued"), Some(1)));
    assert_eq!(status_of(execution(&id, 2)).await, ExecutionStatus::Running);
    // a second retry of a queued export is refused
    assert_eq!(invoke(&router, &with_id(&fixture("api-retry.json"), &id)).await.0, 409);

    // api-delete: gone, the running attempt stopped
    let (status, body) = invoke(&router, &with_id(&fixture("api-delete.json"), &id)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"deleted": true, "export_id": id}));
    assert_eq!(status_of(execution(&id, 2)).await, ExecutionStatus::Aborted);
    assert_eq!(invoke(&router, &get).await.0, 404);
    assert_eq!(invoke(&router, &file).await.0, 404);
    let (_, body) = invoke(&router, &fixture("api-list.json")).await;
    assert_eq!(body["pagination"]["total"], 0);

    // api-file on a completed export (its steps run here, as the step
    // Lambdas would): 302 to an S3 presigned link for the export's file,
    // the same bytes as api-get's file_url, and nothing a cache may keep
    let (status, body) = invoke(&router, &fixture("api-create.json")).await;
    assert_eq!(status, 202, "{body}");
    let done = body["export_id"].as_str().unwrap().to_string();
    let work = tempfile::tempdir().unwrap();
    let ctx = app.workflow_context(work.path().to_path_buf(), Duration::from_secs(5));
    for step in [Step::Generate, Step::Complete] {
        let input = StepInput { export_id: done.clone(), attempt: 1, error: None };
        let out = run_step(&ctx, step, input, None).await.unwrap_or_else(|e| panic!("{step:?}: {e:?}"));
        assert!(!out.stopped, "{step:?}");
    }
    let (status, body) = invoke(&router, &with_id(&fixture("api-get.json"), &done)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("completed")), "{body}");
    let file_url = body["file_url"].as_str().expect("a completed export has a file_url").to_string();
    let from_get = moto::presigned_get(file_url).await.expect("api-get's file_url downloads the file");
    assert!(from_get.starts_with(b"PK"), "an xlsx is a zip");

    let file = with_id(&fixture("api-file.json"), &done);
    let response = answer(&router, &file).await;
    assert_eq!(response.status().as_u16(), 302);
    assert_eq!(response.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let location = response.headers().get("location").expect("a Location").to_str().unwrap().to_string();
    moto::verify_presigned(&location).unwrap_or_else(|e| panic!("not an S3 presigned GET ({e}): {location}"));
    let path = location.split('?').next().unwrap();
    assert!(path.contains(&format!("/{}/exports/org-demo/{done}/a1/", names.files_bucket)), "{location}");
    let fetched = reqwest::get(&location).await.unwrap();
    assert!(fetched.status().is_success(), "{}: {location}", fetched.status());
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), from_get, "the redirect leads to the file file_url gives");
    let (status, body) = invoke(&router, &with_claim(file.clone(), "org_ids", Some("[org-other]"))).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("export_not_found")), "{body}");

    // the fixture's own (unknown) id is a plain 404, not an error
    assert_eq!(invoke(&router, &fixture("api-get.json")).await.0, 404);
}

/// A stack deployed with no receiver URL and the outbox disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_receiver_api_create_refuses_a_submission_with_422_and_creates_nothing() {
    let c = moto::clients().await;
    let sm = moto::create_state_machine(&c, &moto::unique("api")).await;
    let names = moto::stack(&c, Some(sm)).await;
    let settings = Settings { accepts_submissions: false, ..Settings::default() };
    let app = AwsApp::new(names, c.clone(), settings);
    let router = Lambdas(app.api_state().unwrap());

    let mut create = fixture("api-create.json");
    let mut request: Value = serde_json::from_str(create["body"].as_str().unwrap()).unwrap();
    request["submit_to_bufdir_api"] = json!(true);
    create["body"] = json!(request.to_string());
    let (status, body) = invoke(&router, &create).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "validation_failed", "{body}");
    assert_eq!(body["errors"][0]["field"], "submit_to_bufdir_api", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("no Bufdir receiver is configured"), "{body}");

    let (_, body) = invoke(&router, &fixture("api-list.json")).await;
    assert_eq!(body["pagination"]["total"], 0, "no job was created");
}

/// The endpoint id in the webhook fixtures.
const FIXTURE_ENDPOINT: &str = "whe-20260326-xyz789";

/// A receiver on loopback that keeps each request's signature and body.
async fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>) {
    use axum::routing::post;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let keep = keep.clone();
            async move {
                let signature = headers["bufdir-signature"].to_str().unwrap().to_string();
                keep.lock().unwrap().push((signature, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// The webhook functions with their fixtures: the seven API routes, the
/// delivery function's events-queue batch (delivered to a real receiver,
/// signed with both secrets after a rotation) and the retry function's
/// scheduled event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_lambdas_answer_the_event_fixtures() {
    use shared::adapters::aws::webhooks::{deliverer, handle_events_batch, sweep};
    use shared::domain::{WebhookTargets, verify};

    let c = moto::clients().await;
    let sm = moto::create_state_machine(&c, &moto::unique("hooks")).await;
    let names = moto::stack(&c, Some(sm)).await;
    let mut settings = Settings::default();
    settings.webhooks.targets = WebhookTargets::new(["127.0.0.1"]);
    let app = AwsApp::new(names, c.clone(), settings);
    let router = Lambdas(app.api_state().unwrap());
    let (url, seen) = receiver().await;

    // api-webhooks-create: 201 with the secret, for the token's organisation
    let mut create = fixture("api-webhooks-create.json");
    create["body"] = json!(create["body"].as_str().unwrap().replace("https://hooks.example.org/bufdir", &url));
    let (status, body) = invoke(&router, &create).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["org_id"].as_str(), body["status"].as_str()), (Some("org-demo"), Some("enabled")));
    let id = body["id"].as_str().unwrap().to_string();
    let first_secret = body["secret"].as_str().unwrap().to_string();
    let with_endpoint = |name: &str| -> Value {
        serde_json::from_str(&fixture(name).to_string().replace(FIXTURE_ENDPOINT, &id)).unwrap()
    };

    let (status, body) = invoke(&router, &fixture("api-webhooks-list.json")).await;
    assert_eq!((status, body["data"][0]["id"].as_str()), (200, Some(id.as_str())), "{body}");
    let (status, body) = invoke(&router, &with_endpoint("api-webhooks-get.json")).await;
    assert_eq!((status, body["url"].as_str()), (200, Some(url.as_str())), "{body}");
    assert!(body.get("secret").is_none());
    let foreign = with_claim(with_endpoint("api-webhooks-get.json"), "org_ids", Some("[org-other]"));
    assert_eq!(invoke(&router, &foreign).await.0, 404);
    let (status, body) = invoke(&router, &with_endpoint("api-webhooks-update.json")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("enabled")), "{body}");
    let (status, body) = invoke(&router, &with_endpoint("api-webhooks-rotate.json")).await;
    assert_eq!(status, 200, "{body}");
    let second_secret = body["secret"].as_str().unwrap().to_string();

    // webhooks-deliver: the batch's event reaches the receiver, signed with both secrets
    let (webhooks, deliverer) = (app.webhooks(), deliverer(&app));
    let answer = handle_events_batch(&webhooks, &deliverer, &fixture("webhooks-deliver.json")).await;
    assert_eq!(answer, json!({ "batchItemFailures": [] }));
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (signature, payload) = &got[0];
    let now = chrono::Utc::now().timestamp();
    for secret in [&first_secret, &second_secret] {
        verify(signature, payload.as_bytes(), secret, now, 60).unwrap();
    }
    let event: Value = serde_json::from_str(payload).unwrap();
    assert_eq!(
        (event["type"].as_str(), event["data"]["export_id"].as_str()),
        (Some("export.completed"), Some(FIXTURE_ID))
    );
    // the same message again (SQS delivers at least once): nothing new is sent
    handle_events_batch(&webhooks, &deliverer, &fixture("webhooks-deliver.json")).await;
    assert_eq!(seen.lock().unwrap().len(), 1);
    // a message that is no event is dropped, not retried for ever
    let mut junk = fixture("webhooks-deliver.json");
    junk["Records"][0]["body"] = json!("not json");
    assert_eq!(handle_events_batch(&webhooks, &deliverer, &junk).await, json!({ "batchItemFailures": [] }));

    let (status, body) = invoke(&router, &with_endpoint("api-webhooks-deliveries.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["data"][0]["status"].as_str(), body["data"][0]["attempt_count"].as_u64()),
        (Some("delivered"), Some(1))
    );

    // webhooks-retry: nothing due
    assert_eq!(sweep(&deliverer).await, json!({ "delivered": 0 }));
    let _ = fixture("webhooks-retry.json");

    // api-webhooks-delete: gone
    let (status, body) = invoke(&router, &with_endpoint("api-webhooks-delete.json")).await;
    assert_eq!((status, body), (200, json!({ "deleted": true, "id": id })));
    assert_eq!(invoke(&router, &with_endpoint("api-webhooks-get.json")).await.0, 404);
}
