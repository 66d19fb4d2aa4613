//! Wires the embedded adapters into the service and the in-process
//! runner: the whole export service in one data directory. Used by the
//! `bufdir-exports` program and by tests.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{
    DataDir, DiskAttachments, DiskFileStore, JsonlEventOutbox, LocalBufdirReceiver, SqliteActivities, SqliteJobStore,
};
use crate::LocalJwt;
use crate::ports::BufdirSubmitter;
use crate::service::{ExportService, Ports, Settings};
use crate::workflow::{LocalRunner, RetryPolicy, RunnerHandle, WorkflowContext};
use anyhow::Context;
use bufdir_maskinporten::{BufdirApiConfig, HttpBufdirSubmitter};

pub struct EmbeddedApp {
    pub data: DataDir,
    pub jobs: Arc<SqliteJobStore>,
    pub activities: Arc<SqliteActivities>,
    pub files: Arc<DiskFileStore>,
    pub runner: Arc<LocalRunner>,
    pub service: Arc<ExportService>,
    pub jwt: Arc<LocalJwt>,
}

/// Purposes of the keys derived from the data directory's secret.
const TOKEN_KEY: &str = "jwt-hs256";
const URL_KEY: &str = "download-urls";

pub fn jwt_for(data_dir: &Path) -> anyhow::Result<LocalJwt> {
    let data = DataDir::open(data_dir).with_context(|| format!("opening data directory {}", data_dir.display()))?;
    Ok(LocalJwt::new(&data.secret(TOKEN_KEY)?))
}

impl EmbeddedApp {
    /// `base_url` is where the server answers; download links point there.
    pub fn open(data_dir: &Path, base_url: &str, concurrency: usize) -> anyhow::Result<EmbeddedApp> {
        Self::open_with(data_dir, base_url, concurrency, Settings::default())
    }

    pub fn open_with(
        data_dir: &Path,
        base_url: &str,
        concurrency: usize,
        settings: Settings,
    ) -> anyhow::Result<EmbeddedApp> {
        Self::open_submitting_to(data_dir, base_url, concurrency, settings, None)
    }

    /// As `open_with`, handing reports to `submitter` instead of the one
    /// the environment configures.
    pub fn open_submitting_to(
        data_dir: &Path,
        base_url: &str,
        concurrency: usize,
        settings: Settings,
        submitter: Option<Arc<dyn BufdirSubmitter>>,
    ) -> anyhow::Result<EmbeddedApp> {
        let data = DataDir::open(data_dir).with_context(|| format!("opening data directory {}", data_dir.display()))?;
        // Whatever was being written when the last process stopped is unusable.
        data.clear_tmp()?;
        let jobs = Arc::new(SqliteJobStore::open(&data.db_path())?.with_in_flight_cap(settings.max_in_flight));
        let activities = Arc::new(SqliteActivities::open(&data.activities_db_path())?);
        let files = Arc::new(DiskFileStore::new(data.files_dir(), base_url, data.secret(URL_KEY)?)?);
        let events = Arc::new(JsonlEventOutbox::open(&data.events_path())?);
        // A configured receiver (BUFDIR_RECEIVER_URL and the MASKINPORTEN_*
        // settings) gets the reports; otherwise the local receiver keeps them
        // in the data directory, since Bufdir publishes no API of its own.
        let submitter: Arc<dyn BufdirSubmitter> = match submitter {
            Some(given) => given,
            None => match BufdirApiConfig::from_env().map_err(|e| anyhow::anyhow!("{e}"))? {
                Some(config) => {
                    Arc::new(HttpBufdirSubmitter::from_config(&config).map_err(|e| anyhow::anyhow!("{e}"))?)
                }
                None => Arc::new(LocalBufdirReceiver::new(data.bufdir_outbox_dir())?),
            },
        };
        let runner = LocalRunner::new(
            WorkflowContext {
                jobs: jobs.clone(),
                activities: activities.clone(),
                attachments: Arc::new(DiskAttachments::new(data.attachments_dir())),
                files: files.clone(),
                events: events.clone(),
                submitter,
                work_dir: data.tmp_dir(),
                file_retention: settings.file_retention,
                heartbeat: Duration::from_millis(250),
                retry: RetryPolicy::default(),
            },
            concurrency,
        );
        let service = Arc::new(ExportService::new(
            Ports {
                jobs: jobs.clone(),
                activities: activities.clone(),
                files: files.clone(),
                workflow: Arc::new(RunnerHandle(runner.clone())),
                events,
            },
            settings,
        ));
        let jwt = Arc::new(LocalJwt::new(&data.secret(TOKEN_KEY)?));
        Ok(EmbeddedApp { data, jobs, activities, files, runner, service, jwt })
    }
}
