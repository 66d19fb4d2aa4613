//! Runs on a schedule: fails running exports whose heartbeat is older
//! than `STALL_LIMIT_SECONDS`, stops their executions and removes what
//! they stored, so nothing stays "running" for ever (see
//! `ExportService::fail_stalled`).

use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use serde_json::{json, Value};
use shared::adapters::aws::AwsApp;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let app = AwsApp::from_env().await?;
    let service = app.service(std::sync::Arc::new(app.step_functions()?));
    let service = &service;
    run(service_fn(move |_: LambdaEvent<Value>| async move {
        let failed = service.fail_stalled(chrono::Utc::now()).await?;
        Ok::<_, Error>(json!({ "failed": failed }))
    }))
    .await
}
