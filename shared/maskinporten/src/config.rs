//! Configuration of the Maskinporten client and the Bufdir submitter.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

/// A configuration that cannot work, said so that an operator can fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Who the organisation is to Maskinporten. The private key is not here:
/// it is handed to [`MaskinportenClient::new`](super::MaskinportenClient::new)
/// as PEM bytes, from a file or a secret store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskinportenConfig {
    /// The token endpoint (`MASKINPORTEN_TOKEN_URL`).
    pub token_url: String,
    /// Maskinporten's issuer identifier, the grant's `aud` (`MASKINPORTEN_ISSUER`).
    pub issuer: String,
    /// The organisation's client id, the grant's `iss` (`MASKINPORTEN_CLIENT_ID`).
    pub client_id: String,
    /// The scope(s) asked for, space separated (`MASKINPORTEN_SCOPE`).
    pub scope: String,
    /// The registered key's id, the grant's `kid` header (`MASKINPORTEN_KEY_ID`).
    pub key_id: String,
}

/// How hard the submitter tries before handing a transient failure back
/// to the workflow: `max_tries` in all, sleeping a random time in
/// `0..=min(max_delay, base_delay * 2^(try-1))` between them (full jitter),
/// or the receiver's `Retry-After`, capped at `max_retry_after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_tries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_tries: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The sleep before try `next_try` (2, 3, ...), without `Retry-After`.
    pub fn backoff(&self, next_try: u32) -> Duration {
        bufdir_core::backoff::Backoff::new(self.base_delay, 2, self.max_delay).delay(next_try)
    }
}

pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the HTTP submitter needs, but the key's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufdirApiConfig {
    /// Where reports are POSTed (`BUFDIR_RECEIVER_URL`).
    pub receiver_url: String,
    pub maskinporten: MaskinportenConfig,
    /// The PEM file [`HttpBufdirSubmitter::from_config`](super::HttpBufdirSubmitter::from_config)
    /// reads the private key from (`MASKINPORTEN_KEY_FILE`). `None` when the
    /// key comes from elsewhere and is handed to
    /// [`HttpBufdirSubmitter::new`](super::HttpBufdirSubmitter::new).
    pub key_file: Option<PathBuf>,
    /// The name or ARN of the secret holding the PEM (`MASKINPORTEN_KEY_SECRET_ID`).
    /// Only an adapter that can reach the secret store fetches it; this
    /// module just carries the name, so it stays free of any cloud SDK.
    pub key_secret_id: Option<String>,
    /// Timeout of each HTTP request, token or report (`BUFDIR_REQUEST_TIMEOUT_SECS`).
    pub request_timeout: Duration,
    /// `max_tries` from `BUFDIR_MAX_TRIES`.
    pub retry: RetryPolicy,
}

const REQUIRED: [&str; 5] = [
    "MASKINPORTEN_TOKEN_URL",
    "MASKINPORTEN_ISSUER",
    "MASKINPORTEN_CLIENT_ID",
    "MASKINPORTEN_SCOPE",
    "MASKINPORTEN_KEY_ID",
];

pub const KEY_FILE: &str = "MASKINPORTEN_KEY_FILE";
pub const KEY_SECRET_ID: &str = "MASKINPORTEN_KEY_SECRET_ID";

impl BufdirApiConfig {
    /// A configuration with the default timeout and retry policy and no key file.
    pub fn new(receiver_url: impl Into<String>, maskinporten: MaskinportenConfig) -> Self {
        BufdirApiConfig {
            receiver_url: receiver_url.into(),
            maskinporten,
            key_file: None,
            key_secret_id: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    /// Reads the variables listed in the [module doc](super). `Ok(None)`
    /// when `BUFDIR_RECEIVER_URL` is unset or empty: no receiver.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables looked up by `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let value = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let Some(receiver_url) = value("BUFDIR_RECEIVER_URL") else {
            return Ok(None);
        };
        let key_file = value(KEY_FILE);
        let key_secret_id = value(KEY_SECRET_ID);
        if key_file.is_some() && key_secret_id.is_some() {
            // Two sources would leave it to chance which key signs the grants.
            return Err(ConfigError(format!(
                "{KEY_FILE} and {KEY_SECRET_ID} are both set; set only one of them \
                 (the file locally, the secret on AWS)"
            )));
        }
        let mut missing: Vec<&str> = REQUIRED.iter().copied().filter(|name| value(name).is_none()).collect();
        if key_file.is_none() && key_secret_id.is_none() {
            missing.push("MASKINPORTEN_KEY_FILE or MASKINPORTEN_KEY_SECRET_ID");
        }
        if !missing.is_empty() {
            return Err(ConfigError(format!(
                "BUFDIR_RECEIVER_URL is set, so submission to Bufdir needs Maskinporten settings too, \
                 but {} {} not set",
                missing.join(", "),
                if missing.len() == 1 { "is" } else { "are" }
            )));
        }
        let required = |name: &str| value(name).unwrap_or_default();
        let seconds = |name: &str, default: u64| -> Result<u64, ConfigError> {
            match value(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ConfigError(format!("{name} must be a whole number above 0, not {v:?}"))),
            }
        };
        let mut config = BufdirApiConfig::new(
            receiver_url,
            MaskinportenConfig {
                token_url: required("MASKINPORTEN_TOKEN_URL"),
                issuer: required("MASKINPORTEN_ISSUER"),
                client_id: required("MASKINPORTEN_CLIENT_ID"),
                scope: required("MASKINPORTEN_SCOPE"),
                key_id: required("MASKINPORTEN_KEY_ID"),
            },
        );
        config.key_file = key_file.map(PathBuf::from);
        config.key_secret_id = key_secret_id;
        config.request_timeout = Duration::from_secs(seconds("BUFDIR_REQUEST_TIMEOUT_SECS", 30)?);
        config.retry.max_tries = u32::try_from(seconds("BUFDIR_MAX_TRIES", 4)?)
            .map_err(|_| ConfigError("BUFDIR_MAX_TRIES is too large".into()))?;
        config.validate()?;
        Ok(Some(config))
    }

    /// Checks the URLs (https, or http on loopback) and that nothing is empty.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_url("BUFDIR_RECEIVER_URL", &self.receiver_url)?;
        self.maskinporten.validate()?;
        if self.retry.max_tries == 0 {
            return Err(ConfigError("the retry policy needs at least one try".into()));
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError("the request timeout must be above 0".into()));
        }
        Ok(())
    }
}

impl MaskinportenConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_url("MASKINPORTEN_TOKEN_URL", &self.token_url)?;
        for (name, value) in [
            ("MASKINPORTEN_ISSUER", &self.issuer),
            ("MASKINPORTEN_CLIENT_ID", &self.client_id),
            ("MASKINPORTEN_SCOPE", &self.scope),
            ("MASKINPORTEN_KEY_ID", &self.key_id),
        ] {
            if value.trim().is_empty() {
                return Err(ConfigError(format!("{name} is empty")));
            }
        }
        Ok(())
    }
}

/// Tokens travel to these URLs, so plain http is allowed on loopback only.
pub(crate) fn check_url(name: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError(format!("{name} is not a valid URL ({value:?}): {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(ConfigError(format!(
                "{name} must use https (plain http is allowed on loopback only): {value}"
            )));
        }
        other => {
            return Err(ConfigError(format!("{name} must be an https URL, not {other}: {value}")));
        }
    }
    if url.host().is_none() {
        return Err(ConfigError(format!("{name} has no host: {value}")));
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some(host) if host.eq_ignore_ascii_case("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}
