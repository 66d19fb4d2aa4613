//! A step may only touch a job while it is running the step's attempt.
//! These helpers make every workflow write conditional on that, so a
//! cancel, delete or retry made meanwhile always wins over the worker.

use chrono::Utc;

use super::{StepError, WorkflowContext};
use crate::domain::{AuditAction, ExportId, ExportJob, ExportStatus, SYSTEM_WORKFLOW, Transition};
use crate::ports::PortError;
use crate::service::{audit, measure};

const MAX_WRITE_ATTEMPTS: usize = 8;

/// Takes the job for this attempt: queued -> running, or resumes a job
/// already running this attempt (a step delivered twice, a restart).
pub async fn claim(ctx: &WorkflowContext, id: &ExportId, attempt: u32) -> Result<ExportJob, StepError> {
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let job = ctx.jobs.get(id).await?.ok_or(StepError::Stopped)?;
        if job.attempt() != attempt {
            return Err(StepError::Stopped);
        }
        match job.status {
            ExportStatus::Running => return Ok(job),
            ExportStatus::Queued => {
                let mut next = job.clone();
                next.apply(Transition::Start, Utc::now()).map_err(|_| StepError::Stopped)?;
                next.version = job.version + 1;
                match ctx.jobs.update(&next, job.version).await {
                    Ok(()) => {
                        measure::export_started(&*ctx.metrics, &next);
                        let (from, to) = (Some(ExportStatus::Queued), Some(ExportStatus::Running));
                        audit::record(&*ctx.audit, &next, SYSTEM_WORKFLOW, AuditAction::Started, from, to).await;
                        return Ok(next);
                    }
                    Err(PortError::Conflict) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            _ => return Err(StepError::Stopped),
        }
    }
    Err(StepError::Retryable("the export kept changing while being started".into()))
}

/// Changes the job if it is still running `attempt`; `Stopped` otherwise.
pub async fn change_if_ours<F>(
    ctx: &WorkflowContext,
    id: &ExportId,
    attempt: u32,
    mut f: F,
) -> Result<ExportJob, StepError>
where
    F: FnMut(&mut ExportJob) -> Result<(), StepError>,
{
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let job = ctx.jobs.get(id).await?.ok_or(StepError::Stopped)?;
        if job.attempt() != attempt || job.status != ExportStatus::Running {
            return Err(StepError::Stopped);
        }
        let mut next = job.clone();
        f(&mut next)?;
        next.updated_at = Utc::now();
        next.version = job.version + 1;
        match ctx.jobs.update(&next, job.version).await {
            Ok(()) => return Ok(next),
            Err(PortError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StepError::Retryable("the export kept changing while being updated".into()))
}
