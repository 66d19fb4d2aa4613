//! What an operator counts and times. Locally a Prometheus registry behind
//! `GET /metrics`; on AWS CloudWatch's embedded metric format in the
//! Lambdas' logs. Dimensions name kinds of things (a format, an outcome, a
//! failure code), never an organisation, a person or an id, so no series
//! holds personal data and their number stays small.

/// Every metric the service records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// An export was queued by a create (`format`).
    ExportsCreated,
    /// An export ended (`outcome`, `error_code`, `fault`; `none` when it did not fail).
    ExportsFinished,
    /// Seconds from start to completion of a completed export.
    ExportDuration,
    /// Rows written per second by a completed export.
    ExportRowsPerSecond,
    /// Seconds an attempt waited between being queued and starting.
    ExportQueued,
    /// A try of handing a report to Bufdir's receiver (`outcome`).
    Submissions,
    /// An import ended (`outcome`, `error_code`; `none` when it completed).
    ImportsFinished,
    /// Activities written by completed imports.
    ImportRowsWritten,
    /// A try of delivering a webhook (`outcome`: delivered, retrying, given_up).
    WebhookAttempts,
}

/// How a metric aggregates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Counts things; each record adds its value.
    Counter,
    /// Samples a value (a duration, a rate).
    Distribution,
}

/// A dimension's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Format,
    Outcome,
    ErrorCode,
    Fault,
}

impl Metric {
    pub const ALL: [Metric; 9] = [
        Metric::ExportsCreated,
        Metric::ExportsFinished,
        Metric::ExportDuration,
        Metric::ExportRowsPerSecond,
        Metric::ExportQueued,
        Metric::Submissions,
        Metric::ImportsFinished,
        Metric::ImportRowsWritten,
        Metric::WebhookAttempts,
    ];

    /// The Prometheus name (snake case, `_total` on counters, the unit last).
    pub fn prometheus_name(self) -> &'static str {
        match self {
            Metric::ExportsCreated => "bufdir_exports_created_total",
            Metric::ExportsFinished => "bufdir_exports_finished_total",
            Metric::ExportDuration => "bufdir_export_duration_seconds",
            Metric::ExportRowsPerSecond => "bufdir_export_rows_per_second",
            Metric::ExportQueued => "bufdir_export_queued_seconds",
            Metric::Submissions => "bufdir_submissions_total",
            Metric::ImportsFinished => "bufdir_imports_finished_total",
            Metric::ImportRowsWritten => "bufdir_import_rows_written_total",
            Metric::WebhookAttempts => "bufdir_webhook_attempts_total",
        }
    }

    /// The CloudWatch metric name.
    pub fn cloudwatch_name(self) -> &'static str {
        match self {
            Metric::ExportsCreated => "ExportsCreated",
            Metric::ExportsFinished => "ExportsFinished",
            Metric::ExportDuration => "ExportDuration",
            Metric::ExportRowsPerSecond => "ExportRowsPerSecond",
            Metric::ExportQueued => "ExportQueuedTime",
            Metric::Submissions => "Submissions",
            Metric::ImportsFinished => "ImportsFinished",
            Metric::ImportRowsWritten => "ImportRowsWritten",
            Metric::WebhookAttempts => "WebhookAttempts",
        }
    }

    /// The CloudWatch unit.
    pub fn cloudwatch_unit(self) -> &'static str {
        match self.kind() {
            MetricKind::Counter => "Count",
            MetricKind::Distribution if self == Metric::ExportRowsPerSecond => "Count/Second",
            MetricKind::Distribution => "Seconds",
        }
    }

    pub fn kind(self) -> MetricKind {
        match self {
            Metric::ExportsCreated
            | Metric::ExportsFinished
            | Metric::Submissions
            | Metric::ImportsFinished
            | Metric::ImportRowsWritten
            | Metric::WebhookAttempts => MetricKind::Counter,
            Metric::ExportDuration | Metric::ExportRowsPerSecond | Metric::ExportQueued => MetricKind::Distribution,
        }
    }

    pub fn help(self) -> &'static str {
        match self {
            Metric::ExportsCreated => "Exports queued by a create, by format.",
            Metric::ExportsFinished => "Exports that ended, by outcome and failure code.",
            Metric::ExportDuration => "Seconds from start to completion of completed exports.",
            Metric::ExportRowsPerSecond => "Rows written per second by completed exports.",
            Metric::ExportQueued => "Seconds an export attempt waited before it started.",
            Metric::Submissions => "Tries of handing a report to Bufdir's receiver, by outcome.",
            Metric::ImportsFinished => "Imports that ended, by outcome and error code.",
            Metric::ImportRowsWritten => "Activities written by completed imports.",
            Metric::WebhookAttempts => "Tries of delivering a webhook, by outcome.",
        }
    }
}

impl Dimension {
    pub fn prometheus_label(self) -> &'static str {
        match self {
            Dimension::Format => "format",
            Dimension::Outcome => "outcome",
            Dimension::ErrorCode => "error_code",
            Dimension::Fault => "fault",
        }
    }

    pub fn cloudwatch_name(self) -> &'static str {
        match self {
            Dimension::Format => "Format",
            Dimension::Outcome => "Outcome",
            Dimension::ErrorCode => "ErrorCode",
            Dimension::Fault => "Fault",
        }
    }
}

/// Where measurements go. Recording never fails and never waits: a lost
/// sample must not fail an export.
pub trait Metrics: Send + Sync {
    fn record(&self, metric: Metric, dimensions: &[(Dimension, &str)], value: f64);
}

/// Measurements nobody reads (tests and tools that do not look at them).
pub struct NoMetrics;

impl Metrics for NoMetrics {
    fn record(&self, _: Metric, _: &[(Dimension, &str)], _: f64) {}
}
