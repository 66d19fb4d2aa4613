//! Webhooks on AWS. The delivery function reads the events queue: each
//! event makes its deliveries (`fan_out`, idempotent, so a message
//! delivered twice makes them once) and they are attempted at once; a
//! message whose deliveries could not be stored comes back (partial batch
//! response), and after the queue's tries goes to its dead-letter queue.
//! The retry function runs every minute and attempts what came due.
//! `serve --backend aws --runner local` does both in its own process.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::Client;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tracing::warn;

use bufdir_aws::AwsApp;
use bufdir_core::ports::Event;
use bufdir_core::service::{WebhookDeliverer, WebhookService};
use bufdir_webhooks::HttpWebhookSender;

/// What attempts deliveries, as the app's settings say.
pub fn deliverer(app: &AwsApp) -> WebhookDeliverer {
    let settings = app.settings.webhooks.clone();
    let sender = HttpWebhookSender::new(settings.targets.clone(), settings.timeout);
    WebhookDeliverer::new(app.webhook_store.clone(), Arc::new(sender), settings).with_metrics(app.metrics.clone())
}

/// Handles one events-queue message; false when it should come back.
/// A body that is no event is dropped with a warning: it never will be one.
async fn handle_message(webhooks: &WebhookService, deliverer: &WebhookDeliverer, body: &str) -> bool {
    let Ok(event) = serde_json::from_str::<Event>(body) else {
        warn!(bytes = body.len(), "an events-queue message is no event; dropped");
        return true;
    };
    let made = match webhooks.fan_out(&event).await {
        Ok(made) => made,
        Err(e) => {
            warn!(event_type = %event.type_name(), error = %e, "webhook deliveries not made; the message comes back");
            return false;
        }
    };
    // Stored: what fails from here on is retried from the store.
    if let Err(e) = deliverer.attempt_all(made).await {
        warn!(error = %e, "webhook deliveries not attempted now; the retry sweep will");
    }
    true
}

/// The delivery function's batch: answers with the messages to deliver
/// again (Lambda's partial batch response).
pub async fn handle_events_batch(webhooks: &WebhookService, deliverer: &WebhookDeliverer, event: &Value) -> Value {
    let mut failures = Vec::new();
    for record in event["Records"].as_array().into_iter().flatten() {
        let body = record["body"].as_str().unwrap_or_default();
        if !handle_message(webhooks, deliverer, body).await {
            failures.push(json!({ "itemIdentifier": record["messageId"].as_str().unwrap_or_default() }));
        }
    }
    json!({ "batchItemFailures": failures })
}

/// The retry function: attempts every delivery that came due.
pub async fn sweep(deliverer: &WebhookDeliverer) -> Value {
    match deliverer.deliver_due(chrono::Utc::now()).await {
        Ok(delivered) => json!({ "delivered": delivered }),
        Err(e) => {
            warn!(error = %e, "webhook retries not read");
            json!({ "delivered": 0, "error": "the deliveries could not be read" })
        }
    }
}

/// Reads the events queue for ever, as the delivery function would, and
/// attempts retries as they come due: `serve --backend aws --runner local`.
pub async fn relay_events(
    client: Client,
    queue_url: String,
    webhooks: Arc<WebhookService>,
    deliverer: Arc<WebhookDeliverer>,
    tick: Duration,
) {
    let wake = Arc::new(Notify::new());
    tokio::spawn(deliverer.clone().run_deliveries(wake, tick));
    loop {
        let received =
            client.receive_message().queue_url(&queue_url).max_number_of_messages(10).wait_time_seconds(1).send().await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "events queue unreadable; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for m in messages {
            if handle_message(&webhooks, &deliverer, m.body().unwrap_or_default()).await
                && let Some(handle) = m.receipt_handle()
            {
                let _ = client.delete_message().queue_url(&queue_url).receipt_handle(handle).send().await;
            }
        }
    }
}
