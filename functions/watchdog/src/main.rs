//! Runs on a schedule: fails running exports whose heartbeat is older
//! than `STALL_LIMIT_SECONDS`, stops their executions and removes what
//! they stored, and starts again (or fails) queued exports whose execution
//! never started, so nothing stays "running" or "queued" for ever (see
//! `ExportService::watchdog`). Sweeps the imports too: those whose upload
//! never came expire, and those whose run died go back on the imports
//! queue (see `ImportService::sweep`).

use bufdir_aws::AwsApp;
use bufdir_aws::watchdog::watchdog_pass;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    bufdir_aws::logging::init();
    let app = AwsApp::from_env().await?;
    let service = app.service(std::sync::Arc::new(app.step_functions()?));
    let imports = app.import_service(app.import_queue());
    let (service, imports) = (&service, &imports);
    run(service_fn(move |_: LambdaEvent<Value>| async move {
        Ok::<_, Error>(watchdog_pass(service, imports, chrono::Utc::now()).await?)
    }))
    .await
}
