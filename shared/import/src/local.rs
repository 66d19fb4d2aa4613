//! The local stand-in for the import Lambda: runs imports as tokio tasks in
//! this process, one at a time per import (a second start of an import
//! already running does nothing).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, warn};

use crate::domain::ImportId;
use crate::ports::PortResult;
use crate::run::{ImportContext, RunError, run_import};
use crate::service::ImportRunner;

pub struct LocalImports {
    ctx: ImportContext,
    running: Mutex<HashSet<String>>,
    tasks: TaskTracker,
}

impl LocalImports {
    pub fn new(ctx: ImportContext) -> Arc<Self> {
        Arc::new(LocalImports { ctx, running: Mutex::new(HashSet::new()), tasks: TaskTracker::new() })
    }

    /// Waits until every started import has finished (the command-line tool, tests).
    pub async fn wait_idle(&self) {
        self.tasks.close();
        self.tasks.wait().await;
        self.tasks.reopen();
    }
}

/// Lets the import service start work on the local runner.
pub struct LocalImportsHandle(pub Arc<LocalImports>);

#[async_trait]
impl ImportRunner for LocalImportsHandle {
    async fn start(&self, id: &ImportId) -> PortResult<()> {
        let me = self.0.clone();
        if !me.running.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_string()) {
            return Ok(());
        }
        let id = id.clone();
        let span = tracing::info_span!(parent: None, "import", import_id = %id);
        me.clone().tasks.spawn(
            async move {
                match run_import(&me.ctx, &id).await {
                    Ok(_) => {}
                    // The import stays as it was; the next sweep starts it again.
                    Err(RunError::Retryable(reason)) => {
                        warn!(reason = %reason, "import stopped; it is tried again later")
                    }
                }
                me.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id.to_string());
            }
            .instrument(span),
        );
        Ok(())
    }
}
