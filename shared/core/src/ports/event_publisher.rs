use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PortResult;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportEventType {
    #[serde(rename = "export.completed")]
    Completed,
    #[serde(rename = "export.failed")]
    Failed,
    #[serde(rename = "export.cancelled")]
    Cancelled,
}

/// The message other systems receive when an export ends. No activity
/// data, only ids and outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportEvent {
    #[serde(rename = "type")]
    pub event_type: ExportEventType,
    pub export_id: String,
    pub org_id: String,
    pub attempt: u32,
    pub status: String,
    pub occurred_at: DateTime<Utc>,
    pub error_message: Option<String>,
}

#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, event: &ExportEvent) -> PortResult<()>;
}
