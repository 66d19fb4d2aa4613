//! Delivers webhooks: the events queue hands it every export and import
//! event; each makes a delivery per endpoint that wants it, attempted at
//! once (see `bufdir_aws_steps::webhooks`). Messages whose deliveries
//! could not be stored come back (partial batch response).

use bufdir_aws::AwsApp;
use bufdir_aws_steps::webhooks::{deliverer, handle_events_batch};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    bufdir_aws::logging::init();
    let app = AwsApp::from_env().await?;
    let (webhooks, deliverer) = (app.webhooks(), deliverer(&app));
    let (webhooks, deliverer) = (&webhooks, &deliverer);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(handle_events_batch(webhooks, deliverer, &event.payload).await)
    }))
    .await
}
