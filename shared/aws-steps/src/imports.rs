//! The import function: the imports queue delivers batches of messages
//! (the bucket's notifications that a file arrived, the sweep's restarts),
//! and each import they name is run (`bufdir_import::run`). A run that
//! stops on a passing fault reports its message as failed, so the queue
//! delivers it again (and, after its receive limit, moves it to the
//! dead-letter queue); an import that ended, well or badly, is done.

use std::path::PathBuf;
use std::time::Duration;

use bufdir_aws::{AwsApp, imports_in_message};
use bufdir_import::run::{ImportContext, RunError, run_import};
use serde_json::{Value, json};
use tracing::{Instrument, warn};

/// How often a running import records its progress: each record is a
/// paid write, and nobody refreshes faster than this.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// The import function's timeout: a run is never taken over while its
/// function may still be alive.
pub const LEASE: Duration = Duration::from_secs(15 * 60);

/// What an import needs, from the same stack as the API.
pub fn import_context(app: &AwsApp, work_dir: PathBuf) -> ImportContext {
    ImportContext {
        imports: app.imports.clone(),
        activities: app.activities.clone(),
        uploads: app.uploads.clone(),
        work_dir,
        progress_every: PROGRESS_EVERY,
        lease: LEASE,
        attachments: Some(app.attachment_uploads.clone()),
        events: Some(app.events.clone()),
        metrics: app.metrics.clone(),
    }
}

/// Runs the imports an SQS batch names; answers with the messages to
/// deliver again (Lambda's partial batch response).
pub async fn handle_import_batch(ctx: &ImportContext, uploads_prefix: &str, event: &Value) -> Value {
    let mut failures = Vec::new();
    for record in event["Records"].as_array().into_iter().flatten() {
        let message_id = record["messageId"].as_str().unwrap_or_default();
        let body = record["body"].as_str().unwrap_or_default();
        for id in imports_in_message(body, uploads_prefix) {
            let span = tracing::info_span!("import", import_id = %id);
            if let Err(RunError::Retryable(reason)) = run_import(ctx, &id).instrument(span).await {
                warn!(import_id = %id, reason = %reason, "import stopped; its message is delivered again");
                failures.push(json!({ "itemIdentifier": message_id }));
                break;
            }
        }
    }
    json!({ "batchItemFailures": failures })
}
