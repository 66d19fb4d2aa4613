//! The metrics port in a Lambda: one line of CloudWatch's embedded metric
//! format (EMF) per measurement on stdout, which Lambda sends to the
//! function's log group and CloudWatch turns into metrics with no call to
//! its API and nothing to flush when the function freezes. Written here
//! rather than with an EMF crate: those install the process-wide recorder
//! of the `metrics` facade and flush it from their own Lambda runtime
//! wrapper, while each measurement here is one self-contained line the
//! tests can read back.

use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::ports::{Dimension, Metric, Metrics};

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "BufdirExports";

pub struct EmfMetrics {
    namespace: String,
    out: Mutex<Box<dyn Write + Send>>,
}

impl EmfMetrics {
    /// Lines to stdout, where a Lambda's log group gets them.
    pub fn stdout(namespace: &str) -> Self {
        Self::to_writer(namespace, Box::new(std::io::stdout()))
    }

    pub fn to_writer(namespace: &str, out: Box<dyn Write + Send>) -> Self {
        EmfMetrics { namespace: namespace.to_string(), out: Mutex::new(out) }
    }
}

/// One EMF document: the metric under its dimensions, and under none, so
/// an alarm or a dashboard can take the total without listing every
/// combination (a metric without dimensions has that one set only).
pub fn emf_document(
    namespace: &str,
    metric: Metric,
    dimensions: &[(Dimension, &str)],
    value: f64,
    at_ms: u64,
) -> Value {
    let names: Vec<&str> = dimensions.iter().map(|(d, _)| d.cloudwatch_name()).collect();
    let sets = if names.is_empty() { json!([[]]) } else { json!([names, []]) };
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": at_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": sets,
                "Metrics": [{"Name": metric.cloudwatch_name(), "Unit": metric.cloudwatch_unit()}],
            }],
        }),
    );
    for (d, v) in dimensions {
        doc.insert(d.cloudwatch_name().into(), json!(v));
    }
    doc.insert(metric.cloudwatch_name().into(), json!(value));
    Value::Object(doc)
}

impl Metrics for EmfMetrics {
    fn record(&self, metric: Metric, dimensions: &[(Dimension, &str)], value: f64) {
        let at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let mut line = emf_document(&self.namespace, metric, dimensions, value, at_ms).to_string();
        line.push('\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // A lost sample must not fail the export that made it.
        let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measurement_is_one_emf_document() {
        let dims = [(Dimension::Outcome, "failed"), (Dimension::ErrorCode, "timeout")];
        let doc = emf_document("Stack/Exports", Metric::ExportsFinished, &dims, 1.0, 1_700_000_000_000);
        assert_eq!(
            doc,
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_000u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "Stack/Exports",
                        "Dimensions": [["Outcome", "ErrorCode"], []],
                        "Metrics": [{"Name": "ExportsFinished", "Unit": "Count"}],
                    }],
                },
                "Outcome": "failed",
                "ErrorCode": "timeout",
                "ExportsFinished": 1.0,
            })
        );
        let total = emf_document("Stack/Exports", Metric::ImportRowsWritten, &[], 40.0, 1);
        assert_eq!(total["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[]]), "one set, not two the same");
    }
}
