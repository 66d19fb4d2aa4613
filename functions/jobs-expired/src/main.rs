//! Consumes the jobs table's stream: jobs that DynamoDB's TTL removed are
//! taken off the list counters (see `bufdir_aws::expired`).

use bufdir_aws::AwsApp;
use bufdir_aws::expired::handle_stream_batch;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    bufdir_aws::logging::init();
    let app = AwsApp::from_env().await?;
    let jobs = &app.jobs;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let counted = handle_stream_batch(jobs, &event.payload).await?;
        Ok::<_, Error>(json!({ "counted": counted }))
    }))
    .await
}
