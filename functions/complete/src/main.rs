//! Workflow step `Complete`: Marks the export completed and announces it on the events queue.
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
    serve_step(Step::Complete, AwsApp::from_env().await?.lambda_workflow_context()?).await
}
