use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PortResult;
use crate::domain::FailureCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportEventType {
    #[serde(rename = "export.completed")]
    Completed,
    #[serde(rename = "export.failed")]
    Failed,
    #[serde(rename = "export.cancelled")]
    Cancelled,
    /// Bufdir's receiver accepted the report.
    #[serde(rename = "export.submitted")]
    Submitted,
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
    /// With `export.failed`: why, as a code clients can branch on.
    #[serde(default)]
    pub error_code: Option<FailureCode>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportEventType {
    #[serde(rename = "import.completed")]
    Completed,
    #[serde(rename = "import.failed")]
    Failed,
}

/// The message sent when an import ends: counts, never the rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportEvent {
    #[serde(rename = "type")]
    pub event_type: ImportEventType,
    pub import_id: String,
    pub org_id: String,
    pub status: String,
    pub rows_total: u64,
    pub rows_written: u64,
    pub error_count: u64,
    pub occurred_at: DateTime<Utc>,
}

/// Anything published; each kind carries its own `type` field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Event {
    Export(ExportEvent),
    Import(ImportEvent),
}

impl Event {
    /// The `type` as sent: `export.completed`, `import.failed`, ...
    pub fn type_name(&self) -> String {
        let value = match self {
            Event::Export(e) => serde_json::to_value(e.event_type),
            Event::Import(e) => serde_json::to_value(e.event_type),
        };
        value.ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }

    pub fn org_id(&self) -> &str {
        match self {
            Event::Export(e) => &e.org_id,
            Event::Import(e) => &e.org_id,
        }
    }

    /// The export or import the event is about.
    pub fn subject(&self) -> &str {
        match self {
            Event::Export(e) => &e.export_id,
            Event::Import(e) => &e.import_id,
        }
    }

    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Event::Export(e) => e.occurred_at,
            Event::Import(e) => e.occurred_at,
        }
    }

    /// The same for every copy of one event, so handling a copy twice
    /// (a queue delivers at least once) is seen as the same event.
    pub fn id(&self) -> String {
        use sha2::{Digest, Sha256};
        let attempt = match self {
            Event::Export(e) => e.attempt,
            Event::Import(_) => 0,
        };
        let identity = format!(
            "{}|{}|{}|{}",
            self.type_name(),
            self.subject(),
            attempt,
            self.occurred_at().timestamp_nanos_opt().unwrap_or_default()
        );
        format!("evt_{}", &hex::encode(Sha256::digest(identity.as_bytes()))[..24])
    }
}

impl From<ExportEvent> for Event {
    fn from(e: ExportEvent) -> Self {
        Event::Export(e)
    }
}

impl From<ImportEvent> for Event {
    fn from(e: ImportEvent) -> Self {
        Event::Import(e)
    }
}

#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, event: &Event) -> PortResult<()>;

    /// Removes the organisation's events the publisher still holds; how
    /// many. A queue whose messages expire by themselves and cannot be
    /// picked out (SQS) removes none: they are gone within its retention.
    async fn forget_organisation(&self, org_id: &str) -> PortResult<u64>;
}
