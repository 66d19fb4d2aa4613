//! Workflow step `Complete`: Marks the export completed and announces it on the events queue.
//!
//! Input `{"export_id", "attempt"}`; output
//! `{"export_id", "attempt", "stopped", "submit"}`; failures typed
//! `Retryable` / `NonRetryable` for the state machine's Retry and Catch.

use bufdir_aws::AwsApp;
use bufdir_aws_steps::WorkflowWiring;
use bufdir_aws_steps::steps::{Step, serve_step};
use lambda_runtime::{Error, tracing};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    serve_step(Step::Complete, AwsApp::from_env().await?.lambda_workflow_context()?).await
}
