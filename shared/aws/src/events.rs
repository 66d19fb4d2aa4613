//! Export outcome events on an SQS queue (schema: `infra/events.md`).

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;

use super::errors::port_error;
use crate::ports::{Event, EventPublisher, PortError, PortResult};

#[derive(Clone)]
pub struct SqsEventPublisher {
    client: Client,
    queue_url: String,
}

impl SqsEventPublisher {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsEventPublisher { client, queue_url: queue_url.into() }
    }
}

fn string_attr(v: &str) -> PortResult<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .map_err(|e| PortError::Permanent(e.to_string()))
}

#[async_trait]
impl EventPublisher for SqsEventPublisher {
    async fn publish(&self, event: &Event) -> PortResult<()> {
        let body = serde_json::to_string(event).map_err(|e| PortError::Permanent(format!("encode event: {e}")))?;
        let event_type = event.type_name();
        // The type and organisation also ride as attributes, so consumers
        // (and SNS/EventBridge pipes) can filter without parsing the body.
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_attributes("type", string_attr(&event_type)?)
            .message_attributes("org_id", string_attr(event.org_id())?)
            .send()
            .await
            .map_err(|e| port_error("publish event", e))?;
        Ok(())
    }

    /// Messages cannot be picked out of a queue: they go with its retention.
    async fn forget_organisation(&self, _org_id: &str) -> PortResult<u64> {
        Ok(0)
    }
}
