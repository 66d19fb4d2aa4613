//! The export workflow as a Step Functions execution per attempt.

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use aws_sdk_sfn::operation::stop_execution::StopExecutionError;
use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::json;
use tracing::info;

use super::errors::port_error;
use crate::domain::{ExportId, ExportJob};
use crate::ports::{AttemptState, PortError, PortResult, WorkflowStarter};

#[derive(Clone)]
pub struct StepFunctionsStarter {
    client: Client,
    state_machine_arn: String,
}

/// One execution per attempt, so a retry never collides with the
/// execution of the attempt before it, and starting one twice is harmless.
pub fn execution_name(id: &ExportId, attempt: u32) -> String {
    format!("{id}-a{attempt}")
}

/// `arn:aws:states:R:A:stateMachine:NAME` -> `arn:aws:states:R:A:execution:NAME:EXEC`.
pub fn execution_arn(state_machine_arn: &str, execution: &str) -> PortResult<String> {
    let parts: Vec<&str> = state_machine_arn.split(':').collect();
    if parts.len() != 7 || parts[0] != "arn" || parts[2] != "states" || parts[5] != "stateMachine" {
        return Err(PortError::Permanent(format!("not a state machine ARN: {state_machine_arn}")));
    }
    Ok(format!("{}:execution:{}:{execution}", parts[..5].join(":"), parts[6]))
}

/// What an operator reads first in the console: whose export the
/// execution runs, for which period, in which format and profile. The
/// steps read only `export_id` and `attempt`. The name stays
/// `{export_id}-a{attempt}`: a stop or a check finds the execution from
/// those two without reading the job, and an organisation id would not fit
/// in the 80 characters a name may have.
pub fn execution_input(job: &ExportJob) -> serde_json::Value {
    json!({
        "export_id": job.export_id.as_str(),
        "attempt": job.attempt(),
        "org_id": job.org_id,
        "period": { "from": job.period_from.to_string(), "to": job.period_to.to_string() },
        "format": job.format.as_str(),
        "report_profile": job.report_profile,
        "submit_to_bufdir_api": job.submit_to_bufdir_api,
    })
}

impl StepFunctionsStarter {
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> PortResult<Self> {
        let state_machine_arn = state_machine_arn.into();
        execution_arn(&state_machine_arn, "check")?;
        Ok(StepFunctionsStarter { client, state_machine_arn })
    }

    pub fn state_machine_arn(&self) -> &str {
        &self.state_machine_arn
    }
}

#[async_trait]
impl WorkflowStarter for StepFunctionsStarter {
    async fn start(&self, job: &ExportJob) -> PortResult<()> {
        let (id, attempt) = (&job.export_id, job.attempt());
        let name = execution_name(id, attempt);
        let input = execution_input(job).to_string();
        match self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(&name)
            .input(input)
            .send()
            .await
        {
            Ok(out) => {
                info!(export_id = %id, attempt, execution_arn = out.execution_arn(), "workflow started");
                Ok(())
            }
            // Already started (a repeated request): the workflow runs once.
            Err(e) if matches!(e.as_service_error(), Some(StartExecutionError::ExecutionAlreadyExists(_))) => Ok(()),
            Err(e) => Err(port_error("start workflow", e)),
        }
    }

    async fn stop(&self, id: &ExportId, attempt: u32) -> PortResult<()> {
        let arn = execution_arn(&self.state_machine_arn, &execution_name(id, attempt))?;
        match self
            .client
            .stop_execution()
            .execution_arn(arn)
            .error("Cancelled")
            .cause("the export was cancelled or deleted")
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.as_service_error(), Some(StopExecutionError::ExecutionDoesNotExist(_))) => Ok(()),
            Err(e) => Err(port_error("stop workflow", e)),
        }
    }

    async fn attempt_state(&self, id: &ExportId, attempt: u32) -> PortResult<AttemptState> {
        let arn = execution_arn(&self.state_machine_arn, &execution_name(id, attempt))?;
        match self.client.describe_execution().execution_arn(arn).send().await {
            Ok(out) => Ok(match out.status() {
                ExecutionStatus::Running | ExecutionStatus::PendingRedrive => AttemptState::Started,
                _ => AttemptState::Ended,
            }),
            Err(e) if matches!(e.as_service_error(), Some(DescribeExecutionError::ExecutionDoesNotExist(_))) => {
                Ok(AttemptState::NotStarted)
            }
            Err(e) => Err(port_error("describe workflow", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_arns_follow_the_state_machine() {
        let sm = "arn:aws:states:eu-north-1:123456789012:stateMachine:bufdir-export";
        assert_eq!(
            execution_arn(sm, "exp-20260326-xyz789-a2").unwrap(),
            "arn:aws:states:eu-north-1:123456789012:execution:bufdir-export:exp-20260326-xyz789-a2"
        );
        assert!(execution_arn("arn:aws:lambda:eu-north-1:1:function:x", "e").is_err());
        let id = ExportId::parse("exp-20260326-xyz789").unwrap();
        assert_eq!(execution_name(&id, 3), "exp-20260326-xyz789-a3");
    }
}
