//! The metrics port on one machine: a Prometheus registry the local server
//! renders at `GET /metrics`. The registry is this app's own instance,
//! not the process-wide recorder of the `metrics` crate, so two apps in
//! one process (the tests) never count into each other.

use metrics::{Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::ports::{Dimension, Metric, MetricKind, Metrics};

/// Seconds: a small export takes well under one, a million rows about ten,
/// and a step may run for fifteen minutes.
const SECONDS_BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0];
/// Rows per second: this machine's writer does about 75 000.
const RATE_BUCKETS: &[f64] = &[1_000.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0, 100_000.0, 200_000.0];

pub struct PrometheusMetrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl PrometheusMetrics {
    pub fn new() -> Self {
        let mut builder = PrometheusBuilder::new();
        for metric in Metric::ALL.into_iter().filter(|m| m.kind() == MetricKind::Distribution) {
            let buckets = if metric == Metric::ExportRowsPerSecond { RATE_BUCKETS } else { SECONDS_BUCKETS };
            builder = builder
                .set_buckets_for_metric(Matcher::Full(metric.prometheus_name().into()), buckets)
                .expect("the buckets are not empty");
        }
        let recorder = builder.build_recorder();
        for metric in Metric::ALL {
            let name = metric.prometheus_name().into();
            match metric.kind() {
                MetricKind::Counter => recorder.describe_counter(name, None, metric.help().into()),
                MetricKind::Distribution => recorder.describe_histogram(name, None, metric.help().into()),
            }
        }
        let handle = recorder.handle();
        PrometheusMetrics { recorder, handle }
    }

    /// The Prometheus text exposition of everything recorded so far.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

impl Default for PrometheusMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics for PrometheusMetrics {
    fn record(&self, metric: Metric, dimensions: &[(Dimension, &str)], value: f64) {
        let labels: Vec<Label> =
            dimensions.iter().map(|(d, v)| Label::new(d.prometheus_label(), v.to_string())).collect();
        let key = Key::from_parts(metric.prometheus_name(), labels);
        let metadata = Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));
        match metric.kind() {
            MetricKind::Counter => self.recorder.register_counter(&key, &metadata).increment(value as u64),
            MetricKind::Distribution => self.recorder.register_histogram(&key, &metadata).record(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_as_prometheus_text() {
        let m = PrometheusMetrics::new();
        m.record(Metric::ExportsCreated, &[(Dimension::Format, "excel")], 1.0);
        m.record(Metric::ExportsCreated, &[(Dimension::Format, "excel")], 1.0);
        m.record(Metric::ExportDuration, &[(Dimension::Format, "csv")], 3.0);
        let text = m.render();
        assert!(text.contains("# TYPE bufdir_exports_created_total counter"), "{text}");
        assert!(text.contains("bufdir_exports_created_total{format=\"excel\"} 2"), "{text}");
        assert!(text.contains("bufdir_export_duration_seconds_bucket{format=\"csv\",le=\"5\"} 1"), "{text}");
        assert!(text.contains("bufdir_export_duration_seconds_count{format=\"csv\"} 1"), "{text}");
        assert!(!PrometheusMetrics::new().render().contains("excel"), "each instance counts for itself");
    }
}
