//! Where a requested submission to Bufdir stands: shown on GET as
//! `bufdir_submission`. An export that asked for submission is completed
//! only once the receiver has accepted the report.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionStatus {
    /// Not yet sent, or being sent, or waiting to be tried again.
    Pending,
    /// The receiver accepted the report and gave a reference.
    Submitted,
    /// Given up; `error` says why.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufdirSubmission {
    pub status: SubmissionStatus,
    /// The receiver's reference for the report.
    pub reference: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// Times the workflow's submit step has tried this export attempt
    /// (each try may itself make several requests, see the receiver settings).
    pub attempts: u32,
    /// Why the last try failed (the receiver's own message for a refusal).
    pub error: Option<String>,
}

impl BufdirSubmission {
    pub fn pending() -> Self {
        BufdirSubmission {
            status: SubmissionStatus::Pending,
            reference: None,
            submitted_at: None,
            attempts: 0,
            error: None,
        }
    }

    pub fn is_submitted(&self) -> bool {
        self.status == SubmissionStatus::Submitted
    }

    /// A try begins.
    pub fn started(&mut self) {
        self.status = SubmissionStatus::Pending;
        self.attempts += 1;
        self.error = None;
    }

    pub fn succeeded(&mut self, reference: String, at: DateTime<Utc>) {
        self.status = SubmissionStatus::Submitted;
        self.reference = Some(reference);
        self.submitted_at = Some(at);
        self.error = None;
    }

    /// A try failed; `final_try` when no more will be made.
    pub fn failed(&mut self, error: String, final_try: bool) {
        self.error = Some(error);
        if final_try {
            self.status = SubmissionStatus::Failed;
        }
    }

    /// The export failed for good: a submission still waiting never happens.
    pub fn abandoned(&mut self, why: &str) {
        if self.status == SubmissionStatus::Pending {
            self.status = SubmissionStatus::Failed;
            self.error.get_or_insert_with(|| why.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_tries_and_keeps_the_last_error_until_one_succeeds() {
        let mut s = BufdirSubmission::pending();
        s.started();
        s.failed("receiver answered 503".into(), false);
        assert_eq!(
            (s.status, s.attempts, s.error.as_deref()),
            (SubmissionStatus::Pending, 1, Some("receiver answered 503"))
        );
        s.started();
        assert_eq!(s.error, None);
        let at = Utc::now();
        s.succeeded("ref-1".into(), at);
        assert_eq!(
            (s.status, s.attempts, s.reference.as_deref(), s.submitted_at),
            (SubmissionStatus::Submitted, 2, Some("ref-1"), Some(at))
        );
        // a submitted report stays submitted whatever fails later
        s.abandoned("the export failed");
        assert!(s.is_submitted());
    }

    #[test]
    fn a_refusal_or_a_failed_export_ends_it() {
        let mut s = BufdirSubmission::pending();
        s.started();
        s.failed("400: period_to is after the reporting year".into(), true);
        assert_eq!(s.status, SubmissionStatus::Failed);
        let mut waiting = BufdirSubmission::pending();
        waiting.abandoned("reading activities failed");
        assert_eq!(
            (waiting.status, waiting.error.as_deref()),
            (SubmissionStatus::Failed, Some("reading activities failed"))
        );
    }
}
