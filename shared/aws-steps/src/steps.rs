//! The workflow steps as Step Functions tasks. Each workflow Lambda gets
//! `{"export_id", "attempt"}` (MarkFailed also `"error"`, the caught
//! error) and answers `{"export_id", "attempt", "stopped", "submit"}`:
//! `stopped` ends the execution quietly (the export was cancelled, deleted
//! or retried meanwhile), `submit` tells the Choice after Generate whether
//! to hand the report to Bufdir. A failure's `error_type` is `Retryable`
//! or `NonRetryable`, the names the state machine's Retry and Catch match.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::Diagnostic;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, warn};

use crate::domain::{ExportId, FailureCode, encode_failure};
use crate::workflow::{self, StepError, WorkflowContext};

/// Time kept back before the Lambda's deadline to stop cleanly.
const DEADLINE_MARGIN: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Generate,
    Submit,
    Complete,
    MarkFailed,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Generate => "generate",
            Step::Submit => "submit",
            Step::Complete => "complete",
            Step::MarkFailed => "mark_failed",
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct StepInput {
    pub export_id: String,
    pub attempt: u32,
    /// What the state machine caught (`{"Error", "Cause"}`), for MarkFailed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct StepOutput {
    pub export_id: String,
    pub attempt: u32,
    pub stopped: bool,
    pub submit: bool,
}

/// A step that failed, typed for the state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepFailure {
    pub error_type: &'static str,
    pub message: String,
}

pub const RETRYABLE: &str = "Retryable";
pub const NON_RETRYABLE: &str = "NonRetryable";

impl StepFailure {
    fn from_step(e: StepError) -> Self {
        match e {
            StepError::Retryable(m) => StepFailure { error_type: RETRYABLE, message: m },
            StepError::NonRetryable(m) => StepFailure { error_type: NON_RETRYABLE, message: m },
            StepError::Stopped => unreachable!("a stopped step is a success"),
        }
    }

    fn non_retryable(message: impl Into<String>) -> Self {
        StepFailure { error_type: NON_RETRYABLE, message: message.into() }
    }
}

impl fmt::Display for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl std::error::Error for StepFailure {}

impl From<StepFailure> for Diagnostic {
    fn from(e: StepFailure) -> Diagnostic {
        Diagnostic { error_type: e.error_type.to_string(), error_message: e.message }
    }
}

/// The failure a caught error leaves on the export (its code and, for the
/// person who asked for it, a message): our own steps' as they are; the
/// platform's (timeouts, crashes) in plain words.
pub fn failure_message(error: Option<&Value>) -> String {
    let Some(error) = error else { return "the export failed".to_string() };
    let name = error.get("Error").and_then(Value::as_str).unwrap_or("");
    let cause = error.get("Cause").and_then(Value::as_str).unwrap_or("");
    let from_cause = serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|c| c.get("errorMessage").and_then(Value::as_str).map(str::to_string));
    match name {
        RETRYABLE | NON_RETRYABLE => from_cause.unwrap_or_else(|| cause.to_string()),
        "States.Timeout" | "States.HeartbeatTimeout" | "Sandbox.Timedout" => {
            encode_failure(FailureCode::Timeout, "the export did not finish in time")
        }
        "" => "the export failed".to_string(),
        other => format!("the export failed unexpectedly ({other})"),
    }
}

fn deadline_from_epoch_ms(deadline_ms: u64) -> Option<tokio::time::Instant> {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_millis() as u64;
    let left = Duration::from_millis(deadline_ms.checked_sub(now_ms)?);
    Some(tokio::time::Instant::now() + left.saturating_sub(DEADLINE_MARGIN))
}

/// The whole life of a step Lambda: every invocation runs `step` with
/// the invocation's deadline. Each step's `main` builds `ctx` and calls this.
pub async fn serve_step(step: Step, ctx: WorkflowContext) -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{LambdaEvent, service_fn};
    let ctx = &ctx;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<StepInput>| async move {
        run_step(ctx, step, event.payload, Some(event.context.deadline)).await
    }))
    .await
}

/// Runs one step for one attempt. `deadline_ms` is the invocation's
/// deadline (epoch milliseconds); generation that would overrun it stops
/// and fails the export rather than be killed half-way.
pub async fn run_step(
    ctx: &WorkflowContext,
    step: Step,
    input: StepInput,
    deadline_ms: Option<u64>,
) -> Result<StepOutput, StepFailure> {
    let id = ExportId::parse(&input.export_id)
        .ok_or_else(|| StepFailure::non_retryable(format!("not an export id: {:?}", input.export_id)))?;
    let attempt = input.attempt;
    let span = tracing::info_span!("step", step = step.name(), export_id = %id, attempt);
    async move {
        let result = match step {
            Step::Generate => generate_before(ctx, &id, attempt, deadline_ms.and_then(deadline_from_epoch_ms)).await,
            Step::Submit => workflow::submit(ctx, &id, attempt).await,
            Step::Complete => workflow::complete(ctx, &id, attempt).await,
            Step::MarkFailed => {
                let message = failure_message(input.error.as_ref());
                workflow::mark_failed(ctx, &id, attempt, &message).await
            }
        };
        let stopped = match result {
            Ok(()) => false,
            Err(StepError::Stopped) => {
                info!("export no longer runs this attempt; the workflow ends");
                true
            }
            Err(e) => {
                let failure = StepFailure::from_step(e);
                // The message can name an attachment file; it goes to the
                // execution history and the export's error_message, not the logs.
                warn!(error_type = failure.error_type, "step failed");
                return Err(failure);
            }
        };
        let submit = if step == Step::Generate && !stopped {
            match ctx.jobs.get(&id).await {
                Ok(Some(job)) => job.submit_to_bufdir_api,
                Ok(None) => false,
                Err(e) => return Err(StepFailure::from_step(e.into())),
            }
        } else {
            false
        };
        Ok(StepOutput { export_id: id.to_string(), attempt, stopped, submit })
    }
    .instrument(span)
    .await
}

async fn generate_before(
    ctx: &WorkflowContext,
    id: &ExportId,
    attempt: u32,
    deadline: Option<tokio::time::Instant>,
) -> Result<(), StepError> {
    let cancel = CancellationToken::new();
    let work = workflow::generate(ctx, id, attempt, &cancel);
    tokio::pin!(work);
    let Some(deadline) = deadline else { return work.await };
    tokio::select! {
        result = &mut work => result,
        _ = tokio::time::sleep_until(deadline) => {
            cancel.cancel();
            let _ = work.await;
            Err(StepError::NonRetryable(encode_failure(FailureCode::Timeout, "the report took longer than one step may run")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn caught_errors_become_readable_messages() {
        let caught = json!({"Error": "NonRetryable", "Cause": "{\"errorType\":\"NonRetryable\",\"errorMessage\":\"no report was stored\"}"});
        assert_eq!(failure_message(Some(&caught)), "no report was stored");
        assert_eq!(
            failure_message(Some(&json!({"Error": "States.Timeout", "Cause": ""}))),
            "timeout: the export did not finish in time"
        );
        assert_eq!(
            failure_message(Some(&json!({"Error": "Lambda.Unknown"}))),
            "the export failed unexpectedly (Lambda.Unknown)"
        );
        assert_eq!(failure_message(None), "the export failed");
    }

    #[test]
    fn failures_carry_the_state_machine_error_names() {
        let d: Diagnostic = StepFailure::from_step(StepError::Retryable("busy".into())).into();
        assert_eq!((d.error_type.as_str(), d.error_message.as_str()), ("Retryable", "busy"));
        let d: Diagnostic = StepFailure::from_step(StepError::NonRetryable("bad".into())).into();
        assert_eq!(d.error_type, "NonRetryable");
    }
}
