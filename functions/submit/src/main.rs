//! Workflow step `Submit`: Hands the stored report to Bufdir (its receiver over HTTP, or the outbox), when the caller asked for it.
//!
//! Input `{"export_id", "attempt"}`; output
//! `{"export_id", "attempt", "stopped", "submit"}`; failures typed
//! `Retryable` / `NonRetryable` for the state machine's Retry and Catch.

use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use shared::adapters::aws::steps::{run_step, Step, StepInput};
use shared::adapters::aws::AwsApp;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let ctx = AwsApp::from_env().await?.with_receiver_from_env().await?.lambda_workflow_context()?;
    let ctx = &ctx;
    run(service_fn(move |event: LambdaEvent<StepInput>| async move {
        run_step(ctx, Step::Submit, event.payload, Some(event.context.deadline)).await
    }))
    .await
}
