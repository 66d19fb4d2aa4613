use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PortResult;
use crate::domain::{WebhookDelivery, WebhookEndpoint};

/// Webhook endpoints and their deliveries.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a new endpoint unless its organisation already has `cap`:
    /// `PortError::LimitReached` then, and nothing written, however many
    /// inserts race. `PortError::Conflict` when the id exists.
    async fn insert_endpoint(&self, endpoint: &WebhookEndpoint, cap: u32) -> PortResult<()>;

    async fn get_endpoint(&self, id: &str) -> PortResult<Option<WebhookEndpoint>>;

    /// The organisation's endpoints, oldest first.
    async fn list_endpoints(&self, org_id: &str) -> PortResult<Vec<WebhookEndpoint>>;

    /// Writes `endpoint` over the stored one if that is still at
    /// `expected_version`; `PortError::Conflict` otherwise or when gone.
    async fn update_endpoint(&self, endpoint: &WebhookEndpoint, expected_version: u64) -> PortResult<()>;

    /// Removes the endpoint and its deliveries, freeing its place under
    /// the cap; false when it was not there.
    async fn delete_endpoint(&self, endpoint: &WebhookEndpoint) -> PortResult<bool>;

    /// Removes every endpoint of `org_id` with its deliveries, and the
    /// organisation's count of them; how many endpoints went.
    async fn erase_endpoints(&self, org_id: &str) -> PortResult<u64>;

    /// Stores a new delivery; false (and nothing changed) when one with
    /// its id exists, so an event handled twice is delivered once.
    async fn insert_delivery(&self, delivery: &WebhookDelivery) -> PortResult<bool>;

    /// As `update_endpoint`, for a delivery.
    async fn update_delivery(&self, delivery: &WebhookDelivery, expected_version: u64) -> PortResult<()>;

    /// Pending deliveries whose next attempt is due at `now`, soonest first.
    async fn due_deliveries(&self, now: DateTime<Utc>, limit: usize) -> PortResult<Vec<WebhookDelivery>>;

    /// The pending delivery to `endpoint_id` about `subject` that comes
    /// first by `order_key`: only it may be attempted.
    async fn first_pending(&self, endpoint_id: &str, subject: &str) -> PortResult<Option<WebhookDelivery>>;

    /// The endpoint's deliveries, newest first.
    async fn list_deliveries(&self, endpoint_id: &str, limit: usize) -> PortResult<Vec<WebhookDelivery>>;
}
