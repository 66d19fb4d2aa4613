//! Runs every minute: attempts the webhook deliveries whose retry came
//! due (see `bufdir_aws_steps::webhooks`).

use bufdir_aws::AwsApp;
use bufdir_aws_steps::webhooks::{deliverer, sweep};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    bufdir_aws::logging::init();
    let app = AwsApp::from_env().await?;
    let deliverer = &deliverer(&app);
    run(service_fn(move |_: LambdaEvent<Value>| async move { Ok::<_, Error>(sweep(deliverer).await) })).await
}
