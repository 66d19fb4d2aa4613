//! The in-process runner: the local stand-in for Step Functions. Runs
//! exports as tokio tasks, a bounded number at a time, and picks up what
//! a previous process left queued or running.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info};

use super::{WorkflowContext, run_export};
use crate::domain::{ExportId, ExportJob, ExportStatus, Transition};
use crate::ports::{AttemptState, PortError, PortResult, WorkflowStarter};

pub struct LocalRunner {
    ctx: WorkflowContext,
    permits: Arc<Semaphore>,
    running: Mutex<HashMap<(String, u32), CancellationToken>>,
    tasks: TaskTracker,
}

impl LocalRunner {
    pub fn new(ctx: WorkflowContext, concurrency: usize) -> Arc<Self> {
        Arc::new(LocalRunner {
            ctx,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            running: Mutex::new(HashMap::new()),
            tasks: TaskTracker::new(),
        })
    }

    /// Resumes every export a stopped process left behind: running ones
    /// go back to queued (their half-written file died with the process),
    /// then all are started again. Returns how many.
    pub async fn resume_unfinished(self: &Arc<Self>) -> PortResult<usize> {
        let jobs = self.ctx.jobs.unfinished().await?;
        let mut resumed = 0;
        for job in jobs {
            let mut job = job;
            if job.status == ExportStatus::Running {
                let expected = job.version;
                job.apply(Transition::Requeue, Utc::now()).map_err(|e| PortError::Permanent(e.to_string()))?;
                job.version = expected + 1;
                match self.ctx.jobs.update(&job, expected).await {
                    Ok(()) => {}
                    Err(PortError::Conflict) => continue,
                    Err(e) => return Err(e),
                }
            }
            info!(export_id = %job.export_id, attempt = job.attempt(), "resuming export");
            self.spawn(job.export_id.clone(), job.attempt());
            resumed += 1;
        }
        Ok(resumed)
    }

    /// Runs the attempt once a worker is free; an attempt this runner
    /// already holds (waiting or running) is not started twice.
    fn spawn(self: &Arc<Self>, id: ExportId, attempt: u32) {
        let token = CancellationToken::new();
        match self.running.lock().unwrap().entry((id.to_string(), attempt)) {
            std::collections::hash_map::Entry::Occupied(_) => return,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(token.clone());
            }
        }
        let me = self.clone();
        // Its own root span: the export outlives the request that started it.
        let span = tracing::info_span!(parent: None, "export", export_id = %id, attempt);
        self.tasks.spawn(
            async move {
                let _permit = me.permits.clone().acquire_owned().await;
                if !token.is_cancelled() {
                    run_export(&me.ctx, &id, attempt, &token).await;
                }
                me.running.lock().unwrap().remove(&(id.to_string(), attempt));
            }
            .instrument(span),
        );
    }

    /// Waits until every started export has finished (for the command-line tool and tests).
    pub async fn wait_idle(&self) {
        self.tasks.close();
        self.tasks.wait().await;
        self.tasks.reopen();
    }
}

/// Lets the service start work on the runner through the port.
pub struct RunnerHandle(pub Arc<LocalRunner>);

#[async_trait]
impl WorkflowStarter for RunnerHandle {
    async fn start(&self, job: &ExportJob) -> PortResult<()> {
        self.0.spawn(job.export_id.clone(), job.attempt());
        Ok(())
    }

    async fn stop(&self, id: &ExportId, attempt: u32) -> PortResult<()> {
        if let Some(token) = self.0.running.lock().unwrap().get(&(id.to_string(), attempt)) {
            token.cancel();
        }
        Ok(())
    }

    /// The runner forgets an attempt when it ends, so an ended attempt
    /// looks never started: the watchdog then starts it again, and the
    /// attempt itself finds the job no longer queued and stops.
    async fn attempt_state(&self, id: &ExportId, attempt: u32) -> PortResult<AttemptState> {
        let held = self.0.running.lock().unwrap().contains_key(&(id.to_string(), attempt));
        Ok(if held { AttemptState::Started } else { AttemptState::NotStarted })
    }
}
