//! Delivering webhooks, the same on every backend: an event becomes one
//! delivery per endpoint that wants it (`fan_out`), and due deliveries
//! are attempted (`deliver_due`): claimed first, so two workers never
//! send one delivery at once; signed with every live secret; retried
//! with growing waits until the retry window ends, which gives the
//! delivery up and disables its endpoint. Deliveries about one export or
//! import reach an endpoint in the order their events happened: only the
//! first pending one of a subject is attempted.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tracing::{info, warn};

use super::measure;
use super::webhooks::{WebhookService, WebhookSettings};
use crate::domain::{
    DeliveryAttempt, DeliveryStatus, EndpointStatus, SIGNATURE_HEADER, WebhookDelivery, WebhookEndpoint, sign,
};
use crate::ports::{
    Event, EventPublisher, Metrics, NoMetrics, PortError, PortResult, WebhookPost, WebhookSender, WebhookStore,
};

/// Due deliveries read per sweep, and attempted at once.
const SWEEP_BATCH: usize = 100;
const IN_FLIGHT: usize = 8;
/// How long a claimed delivery is left to its worker before another may
/// take it: longer than any attempt (the sender's timeout is 10 s).
const CLAIM: Duration = Duration::from_secs(60);

/// The body every attempt of a delivery sends: `{id, type, created_at, data}`.
pub fn envelope(event: &Event) -> String {
    let mut data = serde_json::to_value(event).unwrap_or_default();
    if let Some(fields) = data.as_object_mut() {
        fields.remove("type");
    }
    serde_json::json!({
        "id": event.id(),
        "type": event.type_name(),
        "created_at": event.occurred_at().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string()
}

fn delivery_id(event_id: &str, endpoint_id: &str) -> String {
    let digest = Sha256::digest(format!("{event_id}|{endpoint_id}").as_bytes());
    format!("whd_{}", &hex::encode(digest)[..24])
}

/// What one attempt came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempted {
    Delivered,
    /// Will be tried again at `next_attempt_at`.
    Retrying,
    GivenUp,
    /// Not attempted: not due, not first of its subject, or another worker has it.
    Skipped,
}

impl WebhookService {
    /// One pending delivery per enabled endpoint of the event's
    /// organisation that subscribed to its type; an event handled again
    /// adds none. Returns the deliveries made now.
    pub async fn fan_out(&self, event: &Event) -> PortResult<Vec<WebhookDelivery>> {
        let event_type = event.type_name();
        let (event_id, payload, now) = (event.id(), envelope(event), Utc::now());
        let order_key = format!("{}#{event_id}", event.occurred_at().format("%Y%m%dT%H%M%S%.9f"));
        let mut made = Vec::new();
        for endpoint in self.store.list_endpoints(event.org_id()).await? {
            if !endpoint.wants(&event_type) {
                continue;
            }
            let delivery = WebhookDelivery {
                id: delivery_id(&event_id, &endpoint.id),
                endpoint_id: endpoint.id.clone(),
                org_id: endpoint.org_id.clone(),
                event_id: event_id.clone(),
                event_type: event_type.clone(),
                subject: event.subject().to_string(),
                order_key: order_key.clone(),
                payload: payload.clone(),
                status: DeliveryStatus::Pending,
                attempt_count: 0,
                attempts: Vec::new(),
                next_attempt_at: now,
                created_at: now,
                delivered_at: None,
                failed_reason: None,
                version: 1,
            };
            if self.store.insert_delivery(&delivery).await? {
                made.push(delivery);
            }
        }
        Ok(made)
    }
}

/// Attempts deliveries: the workers (the local server's task, the
/// delivery functions on AWS), not the API.
#[derive(Clone)]
pub struct WebhookDeliverer {
    store: Arc<dyn WebhookStore>,
    sender: Arc<dyn WebhookSender>,
    settings: WebhookSettings,
    metrics: Arc<dyn Metrics>,
}

impl WebhookDeliverer {
    pub fn new(store: Arc<dyn WebhookStore>, sender: Arc<dyn WebhookSender>, settings: WebhookSettings) -> Self {
        WebhookDeliverer { store, sender, settings, metrics: Arc::new(NoMetrics) }
    }

    /// Counts each attempt's outcome in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<dyn Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Attempts the deliveries due at `now`, a few at a time; returns how
    /// many reached their receiver.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> PortResult<usize> {
        let due = self.store.due_deliveries(now, SWEEP_BATCH).await?;
        self.attempt_all(due).await
    }

    /// Attempts these deliveries (those just made by `fan_out`, say).
    pub async fn attempt_all(&self, deliveries: Vec<WebhookDelivery>) -> PortResult<usize> {
        let outcomes: Vec<PortResult<Attempted>> =
            futures::stream::iter(deliveries).map(|d| self.attempt(d)).buffer_unordered(IN_FLIGHT).collect().await;
        let mut delivered = 0;
        for outcome in outcomes {
            if outcome? == Attempted::Delivered {
                delivered += 1;
            }
        }
        Ok(delivered)
    }

    /// One attempt of one delivery, and after a success the next one of
    /// its subject if that is due (so an ordered run does not wait a sweep).
    pub async fn attempt(&self, delivery: WebhookDelivery) -> PortResult<Attempted> {
        let mut next = Some(delivery);
        let mut first_outcome = None;
        while let Some(delivery) = next.take() {
            let (endpoint_id, subject) = (delivery.endpoint_id.clone(), delivery.subject.clone());
            let outcome = self.attempt_one(delivery).await?;
            let delivered = outcome == Attempted::Delivered;
            first_outcome.get_or_insert(outcome);
            if delivered {
                next =
                    self.store.first_pending(&endpoint_id, &subject).await?.filter(|d| d.next_attempt_at <= Utc::now());
            }
        }
        Ok(first_outcome.unwrap_or(Attempted::Skipped))
    }

    async fn attempt_one(&self, delivery: WebhookDelivery) -> PortResult<Attempted> {
        let now = Utc::now();
        if delivery.status != DeliveryStatus::Pending || delivery.next_attempt_at > now {
            return Ok(Attempted::Skipped);
        }
        let endpoint = match self.store.get_endpoint(&delivery.endpoint_id).await? {
            Some(e) if e.status == EndpointStatus::Enabled => e,
            Some(_) => return self.give_up(delivery, "the endpoint is disabled").await,
            None => return self.give_up(delivery, "the endpoint was deleted").await,
        };
        match self.store.first_pending(&delivery.endpoint_id, &delivery.subject).await? {
            Some(first) if first.id != delivery.id => return Ok(Attempted::Skipped),
            _ => {}
        }
        // Claimed: another worker reading it now sees it not due.
        let mut claimed = delivery.clone();
        claimed.next_attempt_at = now + CLAIM;
        claimed.version = delivery.version + 1;
        match self.store.update_delivery(&claimed, delivery.version).await {
            Ok(()) => {}
            Err(PortError::Conflict) => return Ok(Attempted::Skipped),
            Err(e) => return Err(e),
        }
        let attempt = self.send(&endpoint, &claimed).await;
        let ok = attempt.error.is_none();
        let mut done = claimed.clone();
        done.record(attempt);
        done.version = claimed.version + 1;
        let now = Utc::now();
        let outcome = if ok {
            done.status = DeliveryStatus::Delivered;
            done.delivered_at = Some(now);
            Attempted::Delivered
        } else if (now - done.created_at).to_std().unwrap_or_default() >= self.settings.give_up_after {
            done.status = DeliveryStatus::Failed;
            done.failed_reason = Some("not accepted within the retry window".into());
            Attempted::GivenUp
        } else {
            let wait = self.settings.retry.delay_from_half(done.attempt_count + 1);
            done.next_attempt_at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
            Attempted::Retrying
        };
        match self.store.update_delivery(&done, claimed.version).await {
            Ok(()) => {}
            // Deleted with its endpoint while it was being sent: nothing to record.
            Err(PortError::Conflict) => return Ok(Attempted::Skipped),
            Err(e) => return Err(e),
        }
        let measured = match outcome {
            Attempted::Delivered => "delivered",
            Attempted::GivenUp => "given_up",
            _ => "retrying",
        };
        measure::webhook_attempted(&*self.metrics, measured);
        match outcome {
            Attempted::Delivered => {
                info!(delivery_id = %done.id, endpoint_id = %done.endpoint_id, attempts = done.attempt_count, "webhook delivered")
            }
            Attempted::GivenUp => {
                warn!(delivery_id = %done.id, endpoint_id = %done.endpoint_id, "webhook given up; disabling its endpoint");
                self.disable(&done.endpoint_id, "deliveries failed for the whole retry window").await?;
            }
            _ => {
                info!(delivery_id = %done.id, endpoint_id = %done.endpoint_id, attempts = done.attempt_count, "webhook not accepted; will retry")
            }
        }
        Ok(outcome)
    }

    async fn send(&self, endpoint: &WebhookEndpoint, delivery: &WebhookDelivery) -> DeliveryAttempt {
        let now = Utc::now();
        let signature = sign(&endpoint.live_secrets(now), now.timestamp(), delivery.payload.as_bytes());
        self.sender
            .post(WebhookPost {
                url: &endpoint.url,
                body: &delivery.payload,
                headers: vec![
                    (SIGNATURE_HEADER, signature),
                    ("Bufdir-Event-Id", delivery.event_id.clone()),
                    ("Bufdir-Event-Type", delivery.event_type.clone()),
                    ("Bufdir-Delivery-Id", delivery.id.clone()),
                ],
            })
            .await
    }

    async fn give_up(&self, delivery: WebhookDelivery, reason: &str) -> PortResult<Attempted> {
        let mut done = delivery.clone();
        done.status = DeliveryStatus::Failed;
        done.failed_reason = Some(reason.to_string());
        done.version = delivery.version + 1;
        match self.store.update_delivery(&done, delivery.version).await {
            Ok(()) | Err(PortError::Conflict) => Ok(Attempted::Skipped),
            Err(e) => Err(e),
        }
    }

    async fn disable(&self, endpoint_id: &str, reason: &str) -> PortResult<()> {
        for _ in 0..8 {
            let Some(current) = self.store.get_endpoint(endpoint_id).await? else { return Ok(()) };
            if current.status == EndpointStatus::Disabled {
                return Ok(());
            }
            let mut next = current.clone();
            let now = Utc::now();
            next.status = EndpointStatus::Disabled;
            next.disabled_reason = Some(reason.to_string());
            next.disabled_at = Some(now);
            next.updated_at = now;
            next.version = current.version + 1;
            match self.store.update_endpoint(&next, current.version).await {
                Err(PortError::Conflict) => continue,
                other => return other,
            }
        }
        Err(PortError::Transient("the webhook endpoint kept changing".into()))
    }

    /// Delivers for ever in this process: whenever `wake` is notified (an
    /// event was fanned out) and at least every `tick` (retries).
    pub async fn run_deliveries(self: Arc<Self>, wake: Arc<Notify>, tick: Duration) {
        loop {
            if let Err(e) = self.deliver_due(Utc::now()).await {
                warn!(error = %e, "webhook deliveries not read; trying again");
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(tick) => {}
            }
        }
    }
}

/// Publishes through `inner`, then makes the event's deliveries and
/// wakes the delivering task: how the local server delivers webhooks.
pub struct FanOutPublisher {
    pub inner: Arc<dyn EventPublisher>,
    pub webhooks: Arc<WebhookService>,
    pub wake: Arc<Notify>,
}

#[async_trait]
impl EventPublisher for FanOutPublisher {
    async fn publish(&self, event: &Event) -> PortResult<()> {
        self.inner.publish(event).await?;
        match self.webhooks.fan_out(event).await {
            Ok(made) if !made.is_empty() => self.wake.notify_one(),
            Ok(_) => {}
            Err(e) => warn!(event_type = %event.type_name(), error = %e, "webhook deliveries not made"),
        }
        Ok(())
    }

    async fn forget_organisation(&self, org_id: &str) -> PortResult<u64> {
        self.inner.forget_organisation(org_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{ExportEvent, ExportEventType};

    #[test]
    fn the_envelope_carries_the_event_without_its_type_twice() {
        let event = Event::Export(ExportEvent {
            event_type: ExportEventType::Completed,
            export_id: "exp-20261130-abcdef".into(),
            org_id: "org-a".into(),
            attempt: 1,
            status: "completed".into(),
            occurred_at: "2026-11-30T10:00:00.123456Z".parse().unwrap(),
            error_message: None,
            error_code: None,
        });
        let body: serde_json::Value = serde_json::from_str(&envelope(&event)).unwrap();
        assert_eq!(body["type"], "export.completed");
        assert_eq!(body["id"], event.id());
        assert_eq!(body["created_at"], "2026-11-30T10:00:00.123Z");
        assert_eq!(body["data"]["export_id"], "exp-20261130-abcdef");
        assert!(body["data"].get("type").is_none());
        assert_eq!(delivery_id(&event.id(), "whe-1"), delivery_id(&event.id(), "whe-1"));
        assert_ne!(delivery_id(&event.id(), "whe-1"), delivery_id(&event.id(), "whe-2"));
    }
}
