//! Runs activity imports: the imports queue delivers the bucket's
//! notifications that a file arrived (and the watchdog's restarts); each
//! import is checked whole and written whole (see
//! `bufdir_aws_steps::imports`).

use bufdir_aws::AwsApp;
use bufdir_aws::config::work_dir_from_env;
use bufdir_aws_steps::imports::{handle_import_batch, import_context};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    bufdir_aws::logging::init();
    let app = AwsApp::from_env().await?;
    let ctx = import_context(&app, work_dir_from_env());
    let (ctx, prefix) = (&ctx, app.names.uploads_prefix.as_str());
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(handle_import_batch(ctx, prefix, &event.payload).await)
    }))
    .await
}
