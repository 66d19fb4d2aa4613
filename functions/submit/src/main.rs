//! Workflow step `Submit`: Hands the stored report to Bufdir (its receiver over HTTP, or the outbox), when the caller asked for it.
//!
//! Input `{"export_id", "attempt"}`; output
//! `{"export_id", "attempt", "stopped", "submit"}`; failures typed
//! `Retryable` / `NonRetryable` for the state machine's Retry and Catch.

use bufdir_aws::AwsApp;
use bufdir_aws_steps::WorkflowWiring;
use bufdir_aws_steps::steps::{Step, serve_step};
use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    bufdir_aws::logging::init();
    serve_step(Step::Submit, AwsApp::from_env().await?.with_receiver_from_env().await?.lambda_workflow_context()?).await
}
