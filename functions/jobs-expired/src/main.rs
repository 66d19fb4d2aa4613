//! Consumes the jobs table's stream: jobs that DynamoDB's TTL removed are
//! taken off the list counters (see `shared::adapters::aws::expired`).

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use serde_json::{Value, json};
use shared::adapters::aws::AwsApp;
use shared::adapters::aws::expired::handle_stream_batch;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let app = AwsApp::from_env().await?;
    let jobs = &app.jobs;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let counted = handle_stream_batch(jobs, &event.payload).await?;
        Ok::<_, Error>(json!({ "counted": counted }))
    }))
    .await
}
