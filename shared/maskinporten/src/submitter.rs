//! [`HttpBufdirSubmitter`]: the report to the configured receiver, as a
//! multipart POST with a Maskinporten bearer token (see the [module doc](super)).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::multipart::{Form, Part};
use reqwest::{Body, StatusCode, Url};
use sha2::{Digest, Sha256};
use tokio_util::io::ReaderStream;
use tracing::{info, warn};

use super::config::{BufdirApiConfig, ConfigError, RetryPolicy, check_url};
use super::token::{AccessToken, MaskinportenClient, is_transient};
use super::{describe, truncate};
use crate::ports::{BufdirSubmitter, PortError, PortResult, Receipt, Submission};

/// How much of a receiver's message goes into an error.
const MESSAGE_CHARS: usize = 300;

/// Submits reports to an HTTP receiver with a Maskinporten token; see the
/// [module doc](super) for the request and how answers are handled.
#[derive(Clone, Debug)]
pub struct HttpBufdirSubmitter {
    receiver_url: Url,
    tokens: Arc<MaskinportenClient>,
    http: reqwest::Client,
    retry: RetryPolicy,
}

/// How one try went.
enum Try {
    Accepted(Receipt),
    /// 401: the token was refused.
    Unauthorized(AccessToken, String),
    /// Worth another try (after `retry_after`, when the receiver said).
    Retry(String, Option<Duration>),
    /// Stop now with this error.
    Stop(PortError),
}

impl HttpBufdirSubmitter {
    /// A submitter signing grants with `private_key_pem` (PKCS#8 or PKCS#1,
    /// unencrypted), e.g. fetched from a secret store. `config.key_file` is
    /// not read.
    pub fn new(config: &BufdirApiConfig, private_key_pem: &[u8]) -> Result<Self, ConfigError> {
        config.validate()?;
        let receiver_url = check_url("BUFDIR_RECEIVER_URL", &config.receiver_url)?;
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            // A redirect would carry the report elsewhere (and turn the POST
            // into a GET); the configured URL must be the final one.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("bufdir-exports/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError(format!("could not set up the HTTP client: {}", describe(&e))))?;
        let tokens = MaskinportenClient::new(config.maskinporten.clone(), private_key_pem, http.clone())?;
        Ok(HttpBufdirSubmitter { receiver_url, tokens: Arc::new(tokens), http, retry: config.retry })
    }

    /// A submitter with the private key read from `config.key_file`
    /// (`MASKINPORTEN_KEY_FILE`).
    pub fn from_config(config: &BufdirApiConfig) -> Result<Self, ConfigError> {
        let path = config.key_file.as_deref().ok_or_else(|| {
            ConfigError(match &config.key_secret_id {
                Some(_) => "MASKINPORTEN_KEY_SECRET_ID names a secret in AWS Secrets Manager, \
                    which only the AWS backend reads; set MASKINPORTEN_KEY_FILE to a PEM file instead"
                    .into(),
                None => "MASKINPORTEN_KEY_FILE is not set: no private key to sign grants with".into(),
            })
        })?;
        let pem = std::fs::read(path)
            .map_err(|e| ConfigError(format!("MASKINPORTEN_KEY_FILE {}: cannot read it: {e}", path.display())))?;
        Self::new(config, &pem)
    }

    /// The token client, shared by every submission.
    pub fn tokens(&self) -> &Arc<MaskinportenClient> {
        &self.tokens
    }

    pub fn receiver_url(&self) -> &Url {
        &self.receiver_url
    }

    async fn try_once(
        &self,
        submission: &Submission,
        file: &Path,
        size: u64,
        metadata: &[u8],
        content_type: &str,
    ) -> Try {
        let token = match self.tokens.access_token().await {
            Ok(token) => token,
            Err(PortError::Transient(m)) => return Try::Retry(m, None),
            Err(e) => return Try::Stop(e),
        };
        let opened = match tokio::fs::File::open(file).await {
            Ok(f) => f,
            Err(e) => {
                return Try::Stop(PortError::Transient(format!("read report {}: {e}", file.display())));
            }
        };
        let file_part = Part::stream_with_length(Body::wrap_stream(ReaderStream::new(opened)), size)
            .file_name(submission.filename.clone())
            .mime_str(content_type);
        let metadata_part = Part::bytes(metadata.to_vec()).mime_str("application/json");
        let (Ok(file_part), Ok(metadata_part)) = (file_part, metadata_part) else {
            return Try::Stop(PortError::Permanent("could not build the multipart request".into()));
        };
        let form = Form::new().part("metadata", metadata_part).part("file", file_part);

        let url = &self.receiver_url;
        let sent = self
            .http
            .post(url.clone())
            .bearer_auth(token.secret())
            .header("Idempotency-Key", &submission.idempotency_key)
            .header(ACCEPT, "application/json")
            .multipart(form)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                return Try::Retry(format!("Bufdir receiver {url}: {}", describe(&e.without_url())), None);
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Try::Retry(
                    format!("Bufdir receiver {url}: reading the answer: {}", describe(&e.without_url())),
                    None,
                );
            }
        };

        if status.is_success() {
            return match reference(&headers, &body) {
                Some(reference) => Try::Accepted(Receipt { reference }),
                None => Try::Stop(PortError::Permanent(format!(
                    "Bufdir receiver {url} answered {status} but gave no reference \
                     (no JSON `reference` or `id`, no Location header)"
                ))),
            };
        }
        let said = receiver_message(&headers, &body);
        if status == StatusCode::UNAUTHORIZED {
            return Try::Unauthorized(token, format!("Bufdir receiver {url} answered {status}: {said}"));
        }
        if is_transient(status) {
            return Try::Retry(format!("Bufdir receiver {url} answered {status}: {said}"), retry_after(&headers));
        }
        if status.is_redirection() {
            let to = headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("?");
            return Try::Stop(PortError::Permanent(format!(
                "Bufdir receiver {url} answered {status} (redirect to {to}); \
                 set BUFDIR_RECEIVER_URL to the final URL"
            )));
        }
        Try::Stop(PortError::Permanent(format!("Bufdir receiver {url} refused the report: {status}: {said}")))
    }
}

#[async_trait]
impl BufdirSubmitter for HttpBufdirSubmitter {
    async fn submit(&self, submission: &Submission, file: &Path) -> PortResult<Receipt> {
        if reqwest::header::HeaderValue::from_str(&submission.idempotency_key).is_err() {
            return Err(PortError::Permanent("the idempotency key is not a valid header value".into()));
        }
        let (size, sha256) = hash_file(file).await?;
        if !sha256.eq_ignore_ascii_case(&submission.sha256) {
            return Err(PortError::Permanent(format!(
                "the report's sha256 is {sha256}, the export's record says {}; not submitting it",
                submission.sha256
            )));
        }
        let mut metadata = serde_json::to_value(submission)
            .map_err(|e| PortError::Permanent(format!("encode submission metadata: {e}")))?;
        metadata["size_bytes"] = size.into();
        let metadata = serde_json::to_vec(&metadata)
            .map_err(|e| PortError::Permanent(format!("encode submission metadata: {e}")))?;
        // Files whose content type does not parse go as plain bytes.
        let content_type = if Part::bytes(Vec::new()).mime_str(&submission.content_type).is_ok() {
            submission.content_type.as_str()
        } else {
            "application/octet-stream"
        };

        let max_tries = self.retry.max_tries.max(1);
        let mut tries = 0;
        let mut refreshed = false;
        loop {
            tries += 1;
            match self.try_once(submission, file, size, &metadata, content_type).await {
                Try::Accepted(receipt) => {
                    info!(export_id = %submission.export_id, attempt = submission.attempt, tries,
                          reference = %receipt.reference, "Bufdir receiver accepted the report");
                    return Ok(receipt);
                }
                Try::Unauthorized(token, message) if !refreshed => {
                    // The token may have been revoked or have expired early:
                    // one more go with a fresh one, not counted as a try.
                    warn!(export_id = %submission.export_id, "{message}; retrying with a fresh Maskinporten token");
                    self.tokens.invalidate(&token).await;
                    refreshed = true;
                    tries -= 1;
                }
                Try::Unauthorized(_, message) => {
                    return Err(PortError::Permanent(format!(
                        "{message} (also with a freshly fetched Maskinporten token: \
                         check MASKINPORTEN_SCOPE and the receiver's access rules)"
                    )));
                }
                Try::Stop(error) => return Err(error),
                Try::Retry(message, _) if tries >= max_tries => {
                    return Err(PortError::Transient(format!("{message} (gave up after {tries} tries)")));
                }
                Try::Retry(message, retry_after) => {
                    let delay = match retry_after {
                        Some(asked) => asked.min(self.retry.max_retry_after),
                        None => self.retry.backoff(tries + 1),
                    };
                    warn!(export_id = %submission.export_id, attempt = submission.attempt, tries, max_tries,
                          delay_ms = delay.as_millis() as u64, "{message}; trying again");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

/// The file's size and hex sha256.
async fn hash_file(file: &Path) -> PortResult<(u64, String)> {
    let path = file.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        let size = std::fs::File::open(&path).and_then(|mut f| std::io::copy(&mut f, &mut hasher));
        size.map(|size| (size, hex::encode(hasher.finalize())))
            .map_err(|e| PortError::Transient(format!("read report {}: {e}", path.display())))
    })
    .await
    .map_err(|e| PortError::Permanent(format!("hashing the report failed: {e}")))?
}

/// The receiver's reference: JSON `reference` (or `id`), else `Location`.
fn reference(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let from_json = serde_json::from_slice::<serde_json::Value>(body).ok().and_then(|v| {
        ["reference", "id"].iter().find_map(|field| match &v[*field] {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    });
    from_json.or_else(|| {
        headers.get(LOCATION).and_then(|v| v.to_str().ok()).map(str::trim).filter(|s| !s.is_empty()).map(String::from)
    })
}

/// What the receiver said: problem+json `detail`, or `message`,
/// `error_description`, `error`, `title`, or the text; on one line and cut.
fn receiver_message(headers: &HeaderMap, body: &[u8]) -> String {
    let json = serde_json::from_slice::<serde_json::Value>(body).ok();
    let field = json.as_ref().and_then(|v| {
        ["detail", "message", "error_description", "error", "title"]
            .iter()
            .find_map(|f| v.get(*f).and_then(|x| x.as_str()).map(str::trim).filter(|s| !s.is_empty()).map(String::from))
    });
    let text = field.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if !text.is_empty() {
        return truncate(&text, MESSAGE_CHARS);
    }
    // An empty 401 may still say why in WWW-Authenticate (never holds the token).
    match headers.get(reqwest::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()) {
        Some(challenge) => truncate(challenge, MESSAGE_CHARS),
        None => "(no message)".to_string(),
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn reads_retry_after_as_seconds_or_date() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn picks_the_receivers_message() {
        let h = HeaderMap::new();
        assert_eq!(
            receiver_message(&h, br#"{"title":"Bad","detail":"period_to before period_from"}"#),
            "period_to before period_from"
        );
        assert_eq!(receiver_message(&h, br#"{"message":"org not registered"}"#), "org not registered");
        assert_eq!(receiver_message(&h, b"plain\n text"), "plain text");
        assert_eq!(receiver_message(&h, b""), "(no message)");
        let long = "x".repeat(1000);
        assert_eq!(receiver_message(&h, long.as_bytes()).chars().count(), MESSAGE_CHARS + 1);
    }

    #[test]
    fn backoff_is_bounded_full_jitter() {
        let p = RetryPolicy {
            max_tries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            max_retry_after: Duration::from_secs(1),
        };
        for _ in 0..200 {
            assert!(p.backoff(2) <= Duration::from_millis(100));
            assert!(p.backoff(3) <= Duration::from_millis(200));
            assert!(p.backoff(9) <= Duration::from_millis(350));
        }
    }
}
