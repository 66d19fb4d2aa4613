//! Runs on a schedule: fails running exports whose heartbeat is older
//! than `STALL_LIMIT_SECONDS`, stops their executions and removes what
//! they stored, and starts again (or fails) queued exports whose execution
//! never started, so nothing stays "running" or "queued" for ever (see
//! `ExportService::watchdog`).

use bufdir_aws::AwsApp;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let app = AwsApp::from_env().await?;
    let service = app.service(std::sync::Arc::new(app.step_functions()?));
    let service = &service;
    run(service_fn(move |_: LambdaEvent<Value>| async move {
        let report = service.watchdog(chrono::Utc::now()).await?;
        Ok::<_, Error>(json!(report))
    }))
    .await
}
