//! What the workflow steps need, from the same app the API uses.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bufdir_aws::S3Attachments;
use bufdir_aws::config::{self, BUFDIR_RECEIVER_URL, ConfigError};
use bufdir_maskinporten::BufdirApiConfig;

use super::AwsApp;
use super::bufdir_key;
use crate::workflow::{RetryPolicy, WorkflowContext};

/// How often a running step records progress (each beat is one write).
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);

/// The workflow side of [`AwsApp`].
#[async_trait]
pub trait WorkflowWiring: Sized {
    /// Bufdir's receiver over HTTP when `BUFDIR_RECEIVER_URL` is set: reads
    /// the Maskinporten settings and fetches the key (file or Secrets
    /// Manager) now, so a wrong setting stops the cold start rather than a
    /// submission. Without a URL the app is returned unchanged.
    async fn with_receiver_from_env(self) -> Result<Self, ConfigError>;

    /// What the workflow steps need; reports are written under `work_dir`.
    fn workflow_context(&self, work_dir: PathBuf, heartbeat: Duration) -> WorkflowContext;

    /// The workflow context a step Lambda uses: its `/tmp` (or `WORK_DIR`)
    /// and a heartbeat of `HEARTBEAT_SECONDS` (5 s by default).
    fn lambda_workflow_context(&self) -> Result<WorkflowContext, ConfigError>;
}

#[async_trait]
impl WorkflowWiring for AwsApp {
    async fn with_receiver_from_env(self) -> Result<Self, ConfigError> {
        let receiver = BufdirApiConfig::from_env().map_err(|e| ConfigError::Invalid(BUFDIR_RECEIVER_URL, e.0))?;
        Ok(match receiver {
            Some(config) => {
                let mut secrets = aws_sdk_secretsmanager::config::Builder::from(&self.clients.sdk);
                if let Some(x) = &self.clients.subsegments {
                    secrets = secrets.interceptor(x.clone());
                }
                let secrets = aws_sdk_secretsmanager::Client::from_conf(secrets.build());
                let http = bufdir_key::http_submitter(&config, &secrets).await?;
                self.with_submitter(Arc::new(http))
            }
            None => self,
        })
    }

    fn workflow_context(&self, work_dir: PathBuf, heartbeat: Duration) -> WorkflowContext {
        WorkflowContext {
            jobs: self.jobs.clone(),
            activities: self.activities.clone(),
            attachments: Arc::new(S3Attachments::new(
                self.clients.s3.clone(),
                &self.names.attachments_bucket,
                &self.names.attachments_prefix,
            )),
            files: self.files.clone(),
            events: self.events.clone(),
            metrics: self.metrics.clone(),
            audit: self.audit.clone(),
            submitter: self.submitter.clone(),
            organisations: self.organisations.clone(),
            work_dir,
            file_retention: self.settings.file_retention,
            heartbeat,
            retry: RetryPolicy::default(),
        }
    }

    fn lambda_workflow_context(&self) -> Result<WorkflowContext, ConfigError> {
        let heartbeat = match std::env::var("HEARTBEAT_SECONDS").ok().filter(|v| !v.is_empty()) {
            None => DEFAULT_HEARTBEAT,
            Some(v) => Duration::from_secs(
                v.parse()
                    .map_err(|_| ConfigError::Invalid("HEARTBEAT_SECONDS", format!("{v:?} is not a whole number")))?,
            ),
        };
        Ok(self.workflow_context(config::work_dir_from_env(), heartbeat))
    }
}
