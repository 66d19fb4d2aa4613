//! Runs daily: claimed attachment files that no activity names any more
//! go back to wait among the uploads, where the bucket's lifecycle rule
//! removes them unless an activity names them again (see
//! `release_unnamed_attachments`).

use bufdir_aws::AwsApp;
use bufdir_aws::attachment_sweep::attachment_sweep;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    bufdir_aws::logging::init();
    let app = AwsApp::from_env().await?;
    let app = &app;
    run(service_fn(move |_: LambdaEvent<Value>| async move {
        Ok::<_, Error>(attachment_sweep(app, chrono::Utc::now()).await?)
    }))
    .await
}
