use std::path::Path;

use async_trait::async_trait;
use chrono::NaiveDate;
use serde::Serialize;

use super::PortResult;

/// What accompanies a report handed to Bufdir's receiver.
#[derive(Clone, Debug, Serialize)]
pub struct Submission {
    pub export_id: String,
    pub attempt: u32,
    pub org_id: String,
    /// The organisation's name and number as it registered them, if it did.
    pub organisation_name: Option<String>,
    pub organisation_number: Option<String>,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub report_profile: String,
    pub filename: String,
    pub content_type: String,
    pub sha256: String,
    /// The same for every try of one attempt, so the receiver can drop repeats.
    pub idempotency_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The receiver's reference for the submitted report.
    pub reference: String,
}

#[async_trait]
pub trait BufdirSubmitter: Send + Sync {
    async fn submit(&self, submission: &Submission, file: &Path) -> PortResult<Receipt>;

    /// Removes what this service itself keeps of the submissions made
    /// under `idempotency_keys` (an outbox's copies), when their export is
    /// deleted. A receiver elsewhere keeps what it was sent: nothing to do.
    async fn forget(&self, idempotency_keys: &[String]) -> PortResult<()> {
        let _ = idempotency_keys;
        Ok(())
    }
}
