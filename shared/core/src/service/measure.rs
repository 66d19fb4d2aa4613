//! Where the service's metrics are recorded: one function per thing that
//! happens, so each metric's dimensions are decided in one place.

use crate::domain::{ExportJob, FailureCode, ImportJob, ImportStatus};
use crate::ports::{Dimension, ExportEventType, Metric, Metrics};

/// A create queued `job`.
pub fn export_created(metrics: &dyn Metrics, job: &ExportJob) {
    metrics.record(Metric::ExportsCreated, &[(Dimension::Format, job.format.as_str())], 1.0);
}

/// An attempt of `job` started running.
pub fn export_started(metrics: &dyn Metrics, job: &ExportJob) {
    if let Some(started) = job.started_at {
        let waited = (started - job.queued_at).num_milliseconds().max(0) as f64 / 1000.0;
        metrics.record(Metric::ExportQueued, &[(Dimension::Format, job.format.as_str())], waited);
    }
}

/// `job` ended as `event_type` says (the write is made).
pub fn export_ended(metrics: &dyn Metrics, job: &ExportJob, event_type: ExportEventType) {
    let format = job.format.as_str();
    let (outcome, code, fault) = match event_type {
        ExportEventType::Completed => ("completed", "none", "none"),
        ExportEventType::Cancelled => ("cancelled", "none", "none"),
        ExportEventType::Failed => {
            let code = job.error_code.unwrap_or(FailureCode::Internal);
            ("failed", code.as_str(), code.fault().as_str())
        }
        ExportEventType::Submitted => return,
    };
    let dimensions = [
        (Dimension::Outcome, outcome),
        (Dimension::ErrorCode, code),
        (Dimension::Fault, fault),
        (Dimension::Format, format),
    ];
    metrics.record(Metric::ExportsFinished, &dimensions, 1.0);
    if let (ExportEventType::Completed, Some(seconds)) = (event_type, run_seconds(job)) {
        metrics.record(Metric::ExportDuration, &[(Dimension::Format, format)], seconds);
        if seconds > 0.0 {
            let rate = job.progress.rows_total as f64 / seconds;
            metrics.record(Metric::ExportRowsPerSecond, &[(Dimension::Format, format)], rate);
        }
    }
}

/// A try of submitting a report: `None` when the receiver took it.
pub fn submission_tried(metrics: &dyn Metrics, failure: Option<FailureCode>) {
    let outcome = failure.map_or("submitted", FailureCode::as_str);
    metrics.record(Metric::Submissions, &[(Dimension::Outcome, outcome)], 1.0);
}

/// Seconds from start to the last change of a finished job.
pub fn run_seconds(job: &ExportJob) -> Option<f64> {
    job.started_at.map(|s| (job.updated_at - s).num_milliseconds().max(0) as f64 / 1000.0)
}

/// An import ended (its status is completed or failed).
pub fn import_ended(metrics: &dyn Metrics, job: &ImportJob) {
    let completed = job.status == ImportStatus::Completed;
    let outcome = if completed { "completed" } else { "failed" };
    let code = job.error_code.as_deref().filter(|_| !completed).unwrap_or("none");
    metrics.record(Metric::ImportsFinished, &[(Dimension::Outcome, outcome), (Dimension::ErrorCode, code)], 1.0);
    if completed {
        metrics.record(Metric::ImportRowsWritten, &[], job.rows_written as f64);
    }
}

/// A webhook delivery was tried: `outcome` is `delivered`, `retrying` or `given_up`.
pub fn webhook_attempted(metrics: &dyn Metrics, outcome: &str) {
    metrics.record(Metric::WebhookAttempts, &[(Dimension::Outcome, outcome)], 1.0);
}
