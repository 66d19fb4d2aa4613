//! One pass of the scheduled watchdog function: the exports nobody runs
//! or that stopped (see `ExportService::watchdog`), then the imports whose
//! upload never came or whose run died (see `ImportService::sweep`).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::service::{ExportService, ImportService, ServiceError};

/// What the pass did, as the function answers it.
pub async fn watchdog_pass(
    exports: &ExportService,
    imports: &ImportService,
    now: DateTime<Utc>,
) -> Result<Value, ServiceError> {
    let report = exports.watchdog(now).await?;
    let (expired, restarted) = imports.sweep(now).await?;
    Ok(json!({ "exports": report, "imports": { "expired": expired, "restarted": restarted } }))
}
