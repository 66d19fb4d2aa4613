//! Webhook deliveries over HTTP (the `WebhookSender` port). Each POST
//! goes only to the addresses `resolve_target` approved a moment before
//! (the connection is pinned to them), follows no redirect, uses no
//! proxy, and waits a bounded time; whatever happens becomes an attempt
//! to record, never an error.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use reqwest::redirect::Policy;

use bufdir_core::domain::{DeliveryAttempt, KEPT_RESPONSE_BYTES, WebhookTargets};
use bufdir_core::ports::{WebhookPost, WebhookSender};
use bufdir_core::service::{TargetError, resolve_target};

/// How long a receiver has to answer, as documented.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const USER_AGENT: &str = concat!("Bufdir-Webhooks/", env!("CARGO_PKG_VERSION"));

#[derive(Clone, Debug)]
pub struct HttpWebhookSender {
    targets: WebhookTargets,
    timeout: Duration,
}

impl HttpWebhookSender {
    pub fn new(targets: WebhookTargets, timeout: Duration) -> Self {
        HttpWebhookSender { targets, timeout }
    }
}

fn failed(started: Instant, error: &str, status_code: Option<u16>, body: Option<String>) -> DeliveryAttempt {
    DeliveryAttempt {
        attempted_at: Utc::now(),
        duration_ms: started.elapsed().as_millis() as u64,
        status_code,
        error: Some(error.to_string()),
        response_body: body,
    }
}

/// Reads at most [`KEPT_RESPONSE_BYTES`] of the answer, within what is
/// left of the timeout; a receiver streaming for ever is cut off.
async fn start_of_body(mut response: reqwest::Response, deadline: Instant) -> Option<String> {
    let mut kept = Vec::new();
    while kept.len() < KEPT_RESPONSE_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, response.chunk()).await {
            Ok(Ok(Some(chunk))) => kept.extend_from_slice(&chunk),
            _ => break,
        }
    }
    kept.truncate(KEPT_RESPONSE_BYTES);
    (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned())
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn post(&self, post: WebhookPost<'_>) -> DeliveryAttempt {
        let started = Instant::now();
        let (host, addrs) = match resolve_target(post.url, &self.targets).await {
            Ok(found) => found,
            Err(TargetError::Refused(reason)) => {
                tracing::warn!(reason = %reason, "webhook target refused");
                return failed(started, "target_refused", None, Some(reason));
            }
            Err(TargetError::Unresolved(reason)) => return failed(started, "dns_failed", None, Some(reason)),
        };
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .no_proxy()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .user_agent(USER_AGENT)
            .resolve_to_addrs(&host, &addrs)
            .build();
        let client = match client {
            Ok(c) => c,
            Err(e) => return failed(started, "client_failed", None, Some(e.to_string())),
        };
        let mut request = client.post(post.url).header("Content-Type", "application/json").body(post.body.to_string());
        for (name, value) in post.headers {
            request = request.header(name, value);
        }
        let deadline = started + self.timeout;
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let body = start_of_body(response, deadline).await;
                let error = if status.is_success() {
                    None
                } else if status.is_redirection() {
                    Some("redirect_not_followed")
                } else {
                    Some("http_status")
                };
                DeliveryAttempt {
                    attempted_at: Utc::now(),
                    duration_ms: started.elapsed().as_millis() as u64,
                    status_code: Some(status.as_u16()),
                    error: error.map(str::to_string),
                    response_body: body,
                }
            }
            Err(e) if e.is_timeout() => failed(started, "timeout", None, None),
            Err(e) if e.is_connect() => failed(started, "connect_failed", None, Some(short(&e))),
            Err(e) => failed(started, "request_failed", None, Some(short(&e))),
        }
    }
}

/// The error's causes, without reqwest's own line, which names the URL
/// (and a URL may carry a token in its query).
fn short(e: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    causes.join(": ").chars().take(300).collect()
}
