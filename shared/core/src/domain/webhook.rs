//! Webhook endpoints and their deliveries: where an organisation wants to
//! be told that an export or import ended, and what was sent there.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::FieldError;
use super::request::optional_org_id;
use super::webhook_target::{WebhookTargets, check_url};

/// Every event type an endpoint may subscribe to.
pub const WEBHOOK_EVENT_TYPES: &[&str] =
    &["export.completed", "export.failed", "export.cancelled", "export.submitted", "import.completed", "import.failed"];

/// Endpoints one organisation may have.
pub const MAX_WEBHOOK_ENDPOINTS: u32 = 16;
/// Attempts a delivery keeps in its record (the newest); the count goes on.
pub const KEPT_ATTEMPTS: usize = 10;
/// Bytes of a receiver's answer kept with an attempt.
pub const KEPT_RESPONSE_BYTES: usize = 1024;
const MAX_DESCRIPTION: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndpointStatus {
    Enabled,
    /// After a delivery failed for the whole retry window, or by request.
    Disabled,
}

/// One signing secret; a rotated-out one keeps signing until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecret {
    pub value: String,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub org_id: String,
    pub url: String,
    /// Sorted, without duplicates, each one of [`WEBHOOK_EVENT_TYPES`].
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub status: EndpointStatus,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    /// The current secret first.
    pub secrets: Vec<WebhookSecret>,
    /// Bumped by every change; stores write only over the version they read.
    pub version: u64,
}

impl WebhookEndpoint {
    /// The secrets that sign a delivery made at `now`: the current one and
    /// any rotated-out one whose overlap has not ended.
    pub fn live_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        self.secrets.iter().filter(|s| s.expires_at.is_none_or(|at| at > now)).map(|s| s.value.as_str()).collect()
    }

    pub fn wants(&self, event_type: &str) -> bool {
        self.status == EndpointStatus::Enabled && self.event_types.iter().any(|t| t == event_type)
    }
}

/// A new secret: `whsec_` and 32 random bytes in hex.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", hex::encode(bytes))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Given up: the retry window ended, or the endpoint was disabled.
    Failed,
}

/// One try to deliver, and what the receiver answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryAttempt {
    #[schema(value_type = String, format = DateTime)]
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// The receiver's HTTP status; none when no answer came.
    pub status_code: Option<u16>,
    /// Why no 2xx answer came: `timeout`, `connect_failed`,
    /// `redirect_not_followed`, `target_refused`, `http_status`.
    pub error: Option<String>,
    /// The start of the answer's body (at most 1 KiB).
    pub response_body: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// Derived from the event and the endpoint, so an event handled twice
    /// makes one delivery.
    pub id: String,
    pub endpoint_id: String,
    pub org_id: String,
    pub event_id: String,
    pub event_type: String,
    /// The export or import the event is about: deliveries about one
    /// subject reach an endpoint in the order the events happened.
    pub subject: String,
    /// Sorts deliveries of one subject in the order their events happened.
    pub order_key: String,
    /// The exact body every attempt sends.
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    /// The newest [`KEPT_ATTEMPTS`], oldest first.
    pub attempts: Vec<DeliveryAttempt>,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub failed_reason: Option<String>,
    pub version: u64,
}

impl WebhookDelivery {
    pub fn record(&mut self, attempt: DeliveryAttempt) {
        self.attempt_count += 1;
        self.attempts.push(attempt);
        if self.attempts.len() > KEPT_ATTEMPTS {
            self.attempts.remove(0);
        }
    }
}

/// `POST /api/v1/webhook-endpoints`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CreateWebhookRequest {
    /// Required for an administrator or a token naming several organisations.
    pub org_id: Option<String>,
    /// https; plain http and private addresses only for the server's allowed hosts.
    pub url: Option<String>,
    /// A non-empty subset of the event types.
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
}

/// `PATCH /api/v1/webhook-endpoints/{id}`: what is given changes.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct UpdateWebhookRequest {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    /// `true` enables a disabled endpoint again; `false` pauses it.
    pub enabled: Option<bool>,
}

/// `POST /api/v1/webhook-endpoints/{id}/rotate-secret`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RotateSecretRequest {
    /// How long the current secret keeps signing beside the new one
    /// (0 to 604800, default 86400).
    pub expire_current_in_seconds: Option<i64>,
}

pub const DEFAULT_ROTATION_OVERLAP_SECS: i64 = 86_400;
pub const MAX_ROTATION_OVERLAP_SECS: i64 = 604_800;

impl RotateSecretRequest {
    pub fn overlap(&self) -> Result<chrono::Duration, Vec<FieldError>> {
        match self.expire_current_in_seconds.unwrap_or(DEFAULT_ROTATION_OVERLAP_SECS) {
            s @ 0..=MAX_ROTATION_OVERLAP_SECS => Ok(chrono::Duration::seconds(s)),
            _ => Err(vec![FieldError::new("expire_current_in_seconds", "must be 0 to 604800")]),
        }
    }
}

pub struct ValidWebhookRequest {
    pub org_id: Option<String>,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
}

impl CreateWebhookRequest {
    pub fn validate(&self, targets: &WebhookTargets) -> Result<ValidWebhookRequest, Vec<FieldError>> {
        let mut errors = Vec::new();
        let org_id = optional_org_id(self.org_id.as_deref(), &mut errors);
        let url = match self.url.as_deref() {
            None => {
                errors.push(FieldError::new("url", "is required"));
                None
            }
            Some(raw) => check_url(raw, targets).map_err(|m| errors.push(FieldError::new("url", m))).ok(),
        };
        let event_types = match &self.event_types {
            None => {
                errors.push(FieldError::new("event_types", "is required"));
                None
            }
            Some(given) => event_types(given, &mut errors),
        };
        let description = description(self.description.as_deref(), &mut errors);
        match (url, event_types) {
            (Some(url), Some(event_types)) if errors.is_empty() => {
                Ok(ValidWebhookRequest { org_id, url, event_types, description })
            }
            _ => Err(errors),
        }
    }
}

pub struct ValidWebhookUpdate {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

impl UpdateWebhookRequest {
    pub fn validate(&self, targets: &WebhookTargets) -> Result<ValidWebhookUpdate, Vec<FieldError>> {
        let mut errors = Vec::new();
        let url = self
            .url
            .as_deref()
            .and_then(|raw| check_url(raw, targets).map_err(|m| errors.push(FieldError::new("url", m))).ok());
        let event_types = self.event_types.as_ref().and_then(|given| event_types(given, &mut errors));
        let description = self.description.as_deref().map(|d| description(Some(d), &mut errors));
        if self.url.is_none() && self.event_types.is_none() && self.description.is_none() && self.enabled.is_none() {
            errors.push(FieldError::new("body", "names nothing to change (url, event_types, description, enabled)"));
        }
        if errors.is_empty() {
            Ok(ValidWebhookUpdate { url, event_types, description, enabled: self.enabled })
        } else {
            Err(errors)
        }
    }
}

fn event_types(given: &[String], errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
    if given.is_empty() {
        errors.push(FieldError::new("event_types", "must name at least one event type"));
        return None;
    }
    let mut types = Vec::new();
    for t in given {
        if !WEBHOOK_EVENT_TYPES.contains(&t.as_str()) {
            let shown: String = t.chars().take(60).collect();
            errors.push(FieldError::new(
                "event_types",
                format!("unknown event type {shown:?}; known: {}", WEBHOOK_EVENT_TYPES.join(", ")),
            ));
            return None;
        }
        types.push(t.clone());
    }
    types.sort();
    types.dedup();
    Some(types)
}

fn description(given: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let d = given.map(str::trim).filter(|d| !d.is_empty())?;
    if d.chars().count() > MAX_DESCRIPTION || d.chars().any(char::is_control) {
        errors.push(FieldError::new("description", "must be at most 500 characters, without control characters"));
        return None;
    }
    Some(d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> WebhookTargets {
        WebhookTargets::new(["127.0.0.1"])
    }

    #[test]
    fn a_create_request_is_checked_field_by_field() {
        let ok = CreateWebhookRequest {
            url: Some("https://hooks.example.org/bufdir".into()),
            event_types: Some(vec!["export.failed".into(), "export.completed".into(), "export.failed".into()]),
            ..Default::default()
        };
        let valid = ok.validate(&targets()).unwrap();
        assert_eq!(valid.event_types, ["export.completed", "export.failed"]);

        let bad = CreateWebhookRequest {
            org_id: Some("../x".into()),
            url: Some("ftp://example.org".into()),
            event_types: Some(vec!["export.exploded".into()]),
            description: Some("a\u{7}b".into()),
        };
        let fields: Vec<String> = bad.validate(&targets()).err().unwrap().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["org_id", "url", "event_types", "description"]);
        let empty = CreateWebhookRequest { event_types: Some(vec![]), ..Default::default() };
        assert_eq!(empty.validate(&targets()).err().unwrap().len(), 2);
    }

    #[test]
    fn rotation_overlap_is_bounded() {
        assert_eq!(RotateSecretRequest::default().overlap().unwrap(), chrono::Duration::days(1));
        assert!(RotateSecretRequest { expire_current_in_seconds: Some(-1) }.overlap().is_err());
        assert!(RotateSecretRequest { expire_current_in_seconds: Some(604_801) }.overlap().is_err());
    }

    #[test]
    fn expired_secrets_stop_signing() {
        let now = Utc::now();
        let endpoint = WebhookEndpoint {
            id: "whe-20261130-abcdef".into(),
            org_id: "org".into(),
            url: "https://example.org".into(),
            event_types: vec!["export.completed".into()],
            description: None,
            status: EndpointStatus::Enabled,
            disabled_reason: None,
            disabled_at: None,
            created_at: now,
            created_by: "u".into(),
            updated_at: now,
            secrets: vec![
                WebhookSecret { value: "new".into(), expires_at: None },
                WebhookSecret { value: "old".into(), expires_at: Some(now + chrono::Duration::seconds(5)) },
                WebhookSecret { value: "older".into(), expires_at: Some(now) },
            ],
            version: 1,
        };
        assert_eq!(endpoint.live_secrets(now), ["new", "old"]);
        assert!(endpoint.wants("export.completed") && !endpoint.wants("export.failed"));
        assert!(new_secret().starts_with("whsec_") && new_secret().len() == 70);
    }
}
