use async_trait::async_trait;

use crate::domain::DeliveryAttempt;

/// One POST to a receiver.
pub struct WebhookPost<'a> {
    pub url: &'a str,
    pub body: &'a str,
    /// Besides `Content-Type: application/json`.
    pub headers: Vec<(&'static str, String)>,
}

/// Sends webhook deliveries over HTTP: no redirects followed, a bounded
/// wait, and only to addresses the target rules allow after resolution.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// What happened, as an attempt to record: a 2xx answer is success.
    async fn post(&self, post: WebhookPost<'_>) -> DeliveryAttempt;
}
