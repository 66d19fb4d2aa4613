//! Everything the AWS adapters need comes from the environment: resource
//! names from the variables below (set by the SAM template, or by hand
//! for `serve --backend aws`), credentials, region and endpoint from the
//! SDK's usual chain, so `AWS_ENDPOINT_URL` points every client at a
//! local emulator in tests.

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::domain::WebhookTargets;
use crate::http::ClaimRules;
use crate::service::{ImportSettings, Settings, WebhookSettings};

pub const EXPORTS_TABLE: &str = "EXPORTS_TABLE";
pub const ACTIVITIES_TABLE: &str = "ACTIVITIES_TABLE";
pub const FILES_BUCKET: &str = "FILES_BUCKET";
pub const FILES_PREFIX: &str = "FILES_PREFIX";
pub const BUFDIR_OUTBOX_PREFIX: &str = "BUFDIR_OUTBOX_PREFIX";
pub const EVENTS_QUEUE_URL: &str = "EVENTS_QUEUE_URL";
pub const STATE_MACHINE_ARN: &str = "STATE_MACHINE_ARN";
pub const FILE_RETENTION_DAYS: &str = "FILE_RETENTION_DAYS";
pub const JOB_RETENTION_DAYS: &str = "JOB_RETENTION_DAYS";
pub const DOWNLOAD_URL_TTL_SECONDS: &str = "DOWNLOAD_URL_TTL_SECONDS";
pub const MAX_RETRIES: &str = "MAX_RETRIES";
pub const MAX_IN_FLIGHT: &str = "MAX_IN_FLIGHT";
pub const WORK_DIR: &str = "WORK_DIR";
pub const STALL_LIMIT_SECONDS: &str = "STALL_LIMIT_SECONDS";
pub const BUFDIR_RECEIVER_URL: &str = "BUFDIR_RECEIVER_URL";
pub const BUFDIR_OUTBOX: &str = "BUFDIR_OUTBOX";
pub const ACTIVITIES_PAGE_SIZE: &str = "ACTIVITIES_PAGE_SIZE";
pub const ATTACHMENTS_BUCKET: &str = "ATTACHMENTS_BUCKET";
pub const ATTACHMENTS_PREFIX: &str = "ATTACHMENTS_PREFIX";
pub const IMPORTS_TABLE: &str = "IMPORTS_TABLE";
pub const WEBHOOKS_TABLE: &str = "WEBHOOKS_TABLE";
pub const AUDIT_TABLE: &str = "AUDIT_TABLE";
pub const AUDIT_RETENTION_DAYS: &str = "AUDIT_RETENTION_DAYS";
pub const UPLOADS_PREFIX: &str = "UPLOADS_PREFIX";
pub const IMPORTS_QUEUE_URL: &str = "IMPORTS_QUEUE_URL";
/// Hosts webhooks may reach although private or loopback (comma-separated).
pub const WEBHOOK_ALLOW_HOSTS: &str = "WEBHOOK_ALLOW_HOSTS";
pub const WEBHOOK_TIMEOUT_MS: &str = "WEBHOOK_TIMEOUT_MS";
pub const MAX_UPLOAD_BYTES: &str = "MAX_UPLOAD_BYTES";
pub const UPLOAD_TTL_SECONDS: &str = "UPLOAD_TTL_SECONDS";
/// Where the API reads organisations and the admin role from a token
/// (see `ClaimRules`); unset, our own tokens' names.
pub const ORG_CLAIMS: &str = "ORG_CLAIMS";
pub const ADMIN_CLAIM: &str = "ADMIN_CLAIM";
pub const ADMIN_CLAIM_VALUE: &str = "ADMIN_CLAIM_VALUE";

pub const DEFAULT_FILES_PREFIX: &str = "exports/";
pub const DEFAULT_OUTBOX_PREFIX: &str = "bufdir-outbox/";
pub const DEFAULT_ATTACHMENTS_PREFIX: &str = "attachments/";
pub const DEFAULT_UPLOADS_PREFIX: &str = "uploads/";
/// Where attachments uploaded through the API wait to be claimed, in the
/// attachments bucket (the lifecycle rule's filter).
pub const ATTACHMENT_UPLOADS_PREFIX: &str = "attachment-uploads/";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {0} is not valid: {1}")]
    Invalid(&'static str, String),
}

/// Names of the stack's resources and the service's settings.
#[derive(Clone, Debug)]
pub struct AwsNames {
    pub exports_table: String,
    pub activities_table: String,
    pub files_bucket: String,
    /// Every report key is stored under this prefix (the lifecycle rule's filter).
    pub files_prefix: String,
    pub outbox_prefix: String,
    pub events_queue_url: String,
    /// Only the API functions and `serve --backend aws` without a local runner need it.
    pub state_machine_arn: Option<String>,
    /// How long a finished job's record is kept before DynamoDB's TTL removes it.
    pub job_retention: chrono::Duration,
    /// Items per activities query page; unset, DynamoDB's 1 MB page. A
    /// smaller page lowers the memory a page takes and makes each read
    /// shorter (a cancel is noticed between pages sooner).
    pub activities_page_size: Option<u32>,
    /// Where the attachment files are (by default the files bucket).
    pub attachments_bucket: String,
    pub attachments_prefix: String,
    pub imports_table: String,
    /// Where import files are uploaded, in the files bucket (the bucket's
    /// notification to the imports queue filters on it).
    pub uploads_prefix: String,
    /// Where an import is started again (the watchdog's sweep); the
    /// bucket's notification starts it the first time.
    pub imports_queue_url: Option<String>,
    /// Webhook endpoints and their deliveries.
    pub webhooks_table: String,
    /// The exports' audit trail.
    pub audit_table: String,
}

/// Where settings are read from: the process's environment, or (for a
/// fixture such as `events/local-env.json`) any lookup.
struct Vars<F: Fn(&str) -> Option<String>>(F);

/// The environment, as every function reads it.
fn env() -> Vars<impl Fn(&str) -> Option<String>> {
    Vars(|name: &str| std::env::var(name).ok())
}

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    fn optional(&self, name: &'static str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    fn number(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid(name, format!("{v:?} is not a whole number"))),
        }
    }

    fn prefix(&self, name: &'static str, default: &str) -> Result<String, ConfigError> {
        let p = self.optional(name).unwrap_or_else(|| default.to_string());
        if p.is_empty() || !p.ends_with('/') || p.starts_with('/') || p.split('/').any(|s| s == "..") {
            return Err(ConfigError::Invalid(name, format!("{p:?} must be a relative prefix ending in '/'")));
        }
        Ok(p)
    }
}

fn optional(name: &'static str) -> Option<String> {
    env().optional(name)
}

fn number(name: &'static str, default: u64) -> Result<u64, ConfigError> {
    env().number(name, default)
}

impl AwsNames {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The names `get` gives, by the environment variables' names.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let v = Vars(get);
        let files_bucket = v.required(FILES_BUCKET)?;
        Ok(AwsNames {
            exports_table: v.required(EXPORTS_TABLE)?,
            activities_table: v.required(ACTIVITIES_TABLE)?,
            attachments_bucket: v.optional(ATTACHMENTS_BUCKET).unwrap_or_else(|| files_bucket.clone()),
            attachments_prefix: v.prefix(ATTACHMENTS_PREFIX, DEFAULT_ATTACHMENTS_PREFIX)?,
            files_bucket,
            files_prefix: v.prefix(FILES_PREFIX, DEFAULT_FILES_PREFIX)?,
            outbox_prefix: v.prefix(BUFDIR_OUTBOX_PREFIX, DEFAULT_OUTBOX_PREFIX)?,
            events_queue_url: v.required(EVENTS_QUEUE_URL)?,
            imports_table: v.required(IMPORTS_TABLE)?,
            uploads_prefix: v.prefix(UPLOADS_PREFIX, DEFAULT_UPLOADS_PREFIX)?,
            imports_queue_url: v.optional(IMPORTS_QUEUE_URL),
            webhooks_table: v.required(WEBHOOKS_TABLE)?,
            audit_table: v.required(AUDIT_TABLE)?,
            state_machine_arn: v.optional(STATE_MACHINE_ARN),
            job_retention: chrono::Duration::days(v.number(JOB_RETENTION_DAYS, 90)? as i64),
            activities_page_size: match v.optional(ACTIVITIES_PAGE_SIZE) {
                None => None,
                Some(_) => match v.number(ACTIVITIES_PAGE_SIZE, 0)? {
                    n @ 1..=10_000 => Some(n as u32),
                    n => {
                        return Err(ConfigError::Invalid(ACTIVITIES_PAGE_SIZE, format!("{n} is not within 1..=10000")));
                    }
                },
            },
        })
    }
}

/// Where the Submit step hands reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufdirReceiver {
    /// `BUFDIR_RECEIVER_URL` over HTTP with Maskinporten (wins over the outbox).
    Http,
    /// The S3 outbox prefix, for an integration of the organisation's own to
    /// forward from: only with `BUFDIR_OUTBOX=enabled`, since an outbox
    /// nobody reads would make exports look submitted when nothing reached Bufdir.
    Outbox,
    /// Exports asking to be submitted are refused at creation.
    None,
}

impl BufdirReceiver {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Only whether a receiver exists: the Maskinporten settings are read
    /// (and the key fetched) by the Submit step alone, so the other
    /// functions need neither those variables nor access to the key.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let value = |name| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let outbox = match value(BUFDIR_OUTBOX).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("disabled") => false,
            Some("enabled") => true,
            Some(other) => {
                return Err(ConfigError::Invalid(BUFDIR_OUTBOX, format!("{other:?} is neither enabled nor disabled")));
            }
        };
        Ok(match (value(BUFDIR_RECEIVER_URL), outbox) {
            (Some(_), _) => BufdirReceiver::Http,
            (None, true) => BufdirReceiver::Outbox,
            (None, false) => BufdirReceiver::None,
        })
    }
}

/// The service's settings, with the environment's overrides. The file
/// retention must match the bucket's lifecycle rule (the template sets both
/// from one parameter).
pub fn settings_from_env() -> Result<Settings, ConfigError> {
    let d = Settings::default();
    #[allow(clippy::needless_update)]
    Ok(Settings {
        file_retention: chrono::Duration::days(number(FILE_RETENTION_DAYS, d.file_retention.num_days() as u64)? as i64),
        download_url_ttl: match number(DOWNLOAD_URL_TTL_SECONDS, d.download_url_ttl.as_secs())? {
            // S3 signs for at most seven days
            secs @ 1..=604_800 => Duration::from_secs(secs),
            secs => {
                return Err(ConfigError::Invalid(DOWNLOAD_URL_TTL_SECONDS, format!("{secs} is not within 1..=604800")));
            }
        },
        max_retries: number(MAX_RETRIES, d.max_retries as u64)? as u32,
        max_in_flight: number(MAX_IN_FLIGHT, d.max_in_flight as u64)? as u32,
        stall_limit: Duration::from_secs(number(STALL_LIMIT_SECONDS, d.stall_limit.as_secs())?),
        accepts_submissions: BufdirReceiver::from_env()? != BufdirReceiver::None,
        audit_retention: match number(AUDIT_RETENTION_DAYS, d.audit_retention.num_days() as u64)? {
            days @ 1..=3650 => chrono::Duration::days(days as i64),
            days => return Err(ConfigError::Invalid(AUDIT_RETENTION_DAYS, format!("{days} is not within 1..=3650"))),
        },
        webhooks: WebhookSettings {
            targets: WebhookTargets::from_list(&optional(WEBHOOK_ALLOW_HOSTS).unwrap_or_default()),
            timeout: match number(WEBHOOK_TIMEOUT_MS, d.webhooks.timeout.as_millis() as u64)? {
                ms @ 100..=60_000 => Duration::from_millis(ms),
                ms => return Err(ConfigError::Invalid(WEBHOOK_TIMEOUT_MS, format!("{ms} is not within 100..=60000"))),
            },
            ..d.webhooks.clone()
        },
        ..d
    })
}

/// The import settings, with the environment's overrides.
pub fn import_settings_from_env() -> Result<ImportSettings, ConfigError> {
    let d = ImportSettings::default();
    Ok(ImportSettings {
        max_upload_bytes: number(MAX_UPLOAD_BYTES, d.max_upload_bytes)?,
        upload_ttl: Duration::from_secs(number(UPLOAD_TTL_SECONDS, d.upload_ttl.as_secs())?.max(60)),
    })
}

/// Where the workflow steps write reports before uploading them.
pub fn work_dir_from_env() -> std::path::PathBuf {
    optional(WORK_DIR).map(Into::into).unwrap_or_else(|| std::env::temp_dir().join("bufdir-exports"))
}

/// The SDK's shared configuration: region, credentials and endpoint
/// from the environment (`AWS_REGION`, `AWS_ENDPOINT_URL`, the Lambda role...).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client()).load().await
}

/// The HTTPS client every SDK client uses (hyper 1, rustls with ring; see
/// the workspace's Cargo.toml for why not the SDK's default).
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// The clients, built once per process and shared by every adapter.
#[derive(Clone, Debug)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sfn: aws_sdk_sfn::Client,
    /// What the clients were made from, for a process that needs another
    /// service (the Submit step reads its key from Secrets Manager).
    pub sdk: SdkConfig,
    /// What makes each call a trace subsegment, for such another client too.
    pub subsegments: Option<crate::xray::SdkSubsegments>,
}

impl Clients {
    /// The clients, each call a subsegment of the invocation's trace when
    /// the function runs with X-Ray tracing on.
    pub fn new(sdk: &SdkConfig) -> Self {
        let region = sdk.region().map(|r| r.to_string());
        Self::traced_by(sdk, crate::xray::SdkSubsegments::from_env(region))
    }

    pub fn traced_by(sdk: &SdkConfig, subsegments: Option<crate::xray::SdkSubsegments>) -> Self {
        // An emulator answers on one host, so buckets go in the path.
        let mut s3 = aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some());
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk);
        let mut sqs = aws_sdk_sqs::config::Builder::from(sdk);
        let mut sfn = aws_sdk_sfn::config::Builder::from(sdk);
        if let Some(x) = &subsegments {
            s3 = s3.interceptor(x.clone());
            dynamodb = dynamodb.interceptor(x.clone());
            sqs = sqs.interceptor(x.clone());
            sfn = sfn.interceptor(x.clone());
        }
        Clients {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            sfn: aws_sdk_sfn::Client::from_conf(sfn.build()),
            sdk: sdk.clone(),
            subsegments,
        }
    }

    pub async fn from_env() -> Self {
        Clients::new(&sdk_config().await)
    }
}

/// The CloudWatch namespace of the functions' metrics, from
/// `METRICS_NAMESPACE` (the template sets `<stack>/Exports`).
pub fn metrics_namespace_from_env() -> String {
    std::env::var("METRICS_NAMESPACE")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| crate::metrics::DEFAULT_NAMESPACE.to_string())
}

/// The claim rules from `ORG_CLAIMS`, `ADMIN_CLAIM` and `ADMIN_CLAIM_VALUE`.
pub fn claim_rules_from_env() -> Result<ClaimRules, ConfigError> {
    let get = |name| std::env::var(name).ok();
    let (orgs, admin, value) = (get(ORG_CLAIMS), get(ADMIN_CLAIM), get(ADMIN_CLAIM_VALUE));
    // each variable alone first, so the error names the one that is wrong
    ClaimRules::from_config(orgs.as_deref(), None, None).map_err(|e| ConfigError::Invalid(ORG_CLAIMS, e))?;
    ClaimRules::from_config(None, admin.as_deref(), None).map_err(|e| ConfigError::Invalid(ADMIN_CLAIM, e))?;
    ClaimRules::from_config(None, None, value.as_deref()).map_err(|e| ConfigError::Invalid(ADMIN_CLAIM_VALUE, e))?;
    ClaimRules::from_config(orgs.as_deref(), admin.as_deref(), value.as_deref())
        .map_err(|e| ConfigError::Invalid(ORG_CLAIMS, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver(vars: &[(&str, &str)]) -> Result<BufdirReceiver, ConfigError> {
        BufdirReceiver::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn the_outbox_is_off_unless_enabled_and_a_receiver_url_wins() {
        assert_eq!(receiver(&[]).unwrap(), BufdirReceiver::None);
        assert_eq!(receiver(&[(BUFDIR_OUTBOX, "disabled")]).unwrap(), BufdirReceiver::None);
        assert_eq!(receiver(&[(BUFDIR_OUTBOX, " ")]).unwrap(), BufdirReceiver::None);
        assert_eq!(receiver(&[(BUFDIR_OUTBOX, "Enabled")]).unwrap(), BufdirReceiver::Outbox);
        assert_eq!(receiver(&[(BUFDIR_RECEIVER_URL, "https://mottak.example.no/r")]).unwrap(), BufdirReceiver::Http);
        assert_eq!(
            receiver(&[(BUFDIR_RECEIVER_URL, "https://mottak.example.no/r"), (BUFDIR_OUTBOX, "enabled")]).unwrap(),
            BufdirReceiver::Http
        );
        assert_eq!(receiver(&[(BUFDIR_RECEIVER_URL, ""), (BUFDIR_OUTBOX, "disabled")]).unwrap(), BufdirReceiver::None);
    }

    #[test]
    fn a_misspelt_outbox_switch_is_an_error_not_a_silent_no() {
        let err = receiver(&[(BUFDIR_OUTBOX, "yes")]).unwrap_err().to_string();
        assert!(err.contains("BUFDIR_OUTBOX") && err.contains("\"yes\""), "{err}");
    }
}
