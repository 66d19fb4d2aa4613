//! The Maskinporten client: a signed JWT grant in, a cached access token out.

use std::fmt;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::config::{ConfigError, MaskinportenConfig};
use super::{describe, truncate};
use crate::ports::{PortError, PortResult};

/// The RFC 7523 grant type Maskinporten expects.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Maskinporten refuses grants that live longer than this.
pub const MAX_GRANT_LIFETIME: Duration = Duration::from_secs(120);

/// How long a token is used at most before it is refreshed, when the
/// endpoint does not say how long it lives.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// An access token and when to stop using it. Its `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    secret: String,
    refresh_at: Instant,
}

impl AccessToken {
    /// The bearer token itself: for the `Authorization` header only.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// When the cache stops handing this token out.
    pub fn refresh_at(&self) -> Instant {
        self.refresh_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken").field("secret", &"<redacted>").field("refresh_at", &self.refresh_at).finish()
    }
}

#[derive(Serialize)]
struct GrantClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    scope: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    token_type: Option<String>,
}

#[derive(Deserialize, Default)]
struct OAuthError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Gets Maskinporten access tokens with a JWT grant signed by the
/// organisation's key, and caches one until shortly before it expires.
/// Cheap to share behind an `Arc`; one refresh runs at a time.
pub struct MaskinportenClient {
    config: MaskinportenConfig,
    key: EncodingKey,
    http: reqwest::Client,
    cached: Mutex<Option<AccessToken>>,
}

impl fmt::Debug for MaskinportenClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaskinportenClient").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Reads an unencrypted RSA private key in PEM (PKCS#8 or PKCS#1) and
/// returns it as PKCS#1 DER, the form the JWT signer takes.
fn rsa_key_der(pem: &[u8]) -> Result<Vec<u8>, ConfigError> {
    let bad = |why: &str| ConfigError(format!("the Maskinporten private key {why}"));
    let text = std::str::from_utf8(pem).map_err(|_| bad("is not PEM text"))?;
    let key = if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(bad("is encrypted; store it unencrypted (and protect the file or secret instead)"));
    } else if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs1_pem(text).map_err(|e| bad(&format!("is not a valid PKCS#1 RSA key: {e}")))?
    } else if text.contains("-----BEGIN PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs8_pem(text).map_err(|e| bad(&format!("is not a valid PKCS#8 RSA key: {e}")))?
    } else {
        return Err(bad("is not an RSA private key in PEM (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)"));
    };
    if key.size() * 8 < 2048 {
        return Err(bad(&format!("has {} bits; Maskinporten needs at least 2048", key.size() * 8)));
    }
    let der = key.to_pkcs1_der().map_err(|e| bad(&format!("could not be encoded: {e}")))?;
    Ok(der.as_bytes().to_vec())
}

/// A random version-4 UUID, as text: the grant's `jti`.
fn random_jti() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

impl MaskinportenClient {
    /// `private_key_pem`: the organisation's RSA key (PKCS#8 or PKCS#1 PEM,
    /// unencrypted), from a file or a secret store. `http` should have a
    /// request timeout; [`HttpBufdirSubmitter`](super::HttpBufdirSubmitter)
    /// passes its own.
    pub fn new(config: MaskinportenConfig, private_key_pem: &[u8], http: reqwest::Client) -> Result<Self, ConfigError> {
        config.validate()?;
        let key = EncodingKey::from_rsa_der(&rsa_key_der(private_key_pem)?);
        Ok(MaskinportenClient { config, key, http, cached: Mutex::new(None) })
    }

    pub fn config(&self) -> &MaskinportenConfig {
        &self.config
    }

    /// A freshly signed JWT grant: RS256, `kid` header; `aud`, `iss`,
    /// `scope`, `iat`, `exp` ([`MAX_GRANT_LIFETIME`] after `iat`) and a new
    /// random `jti`.
    pub fn grant(&self) -> PortResult<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.config.key_id.clone());
        let iat = chrono::Utc::now().timestamp();
        let claims = GrantClaims {
            aud: &self.config.issuer,
            iss: &self.config.client_id,
            scope: &self.config.scope,
            iat,
            exp: iat + MAX_GRANT_LIFETIME.as_secs() as i64,
            jti: random_jti(),
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| PortError::Permanent(format!("could not sign the Maskinporten grant: {e}")))
    }

    /// The cached access token, or a new one when there is none or it is
    /// about to expire. Concurrent callers wait for one refresh.
    pub async fn access_token(&self) -> PortResult<AccessToken> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(token.clone());
        }
        *cached = None;
        let token = self.fetch().await?;
        *cached = Some(token.clone());
        Ok(token)
    }

    /// Forgets `rejected` (a receiver answered 401 to it), unless the cache
    /// already holds a newer token.
    pub async fn invalidate(&self, rejected: &AccessToken) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|t| t.secret == rejected.secret) {
            *cached = None;
        }
    }

    async fn fetch(&self) -> PortResult<AccessToken> {
        let url = &self.config.token_url;
        let grant = self.grant()?;
        let sent_at = Instant::now();
        let response = self
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("grant_type", GRANT_TYPE), ("assertion", grant.as_str())])
            .send()
            .await
            .map_err(|e| {
                PortError::Transient(format!("Maskinporten token endpoint {url}: {}", describe(&e.without_url())))
            })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            PortError::Transient(format!(
                "Maskinporten token endpoint {url}: reading the answer: {}",
                describe(&e.without_url())
            ))
        })?;

        if !status.is_success() {
            let oauth: OAuthError = serde_json::from_slice(&body).unwrap_or_default();
            let said = match (oauth.error, oauth.error_description) {
                (Some(e), Some(d)) => format!("{e}: {d}"),
                (Some(e), None) => e,
                (None, Some(d)) => d,
                (None, None) => String::from_utf8_lossy(&body).into_owned(),
            };
            let said = if said.trim().is_empty() { "(no message)".to_string() } else { truncate(&said, 300) };
            let message = format!("Maskinporten token endpoint {url} answered {status}: {said}");
            return Err(if is_transient(status) {
                PortError::Transient(message)
            } else {
                PortError::Permanent(message)
            });
        }

        let token: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            PortError::Permanent(format!(
                "Maskinporten token endpoint {url} answered {status} without a usable token: {e}"
            ))
        })?;
        if let Some(kind) = token.token_type.as_deref().filter(|t| !t.eq_ignore_ascii_case("bearer")) {
            return Err(PortError::Permanent(format!(
                "Maskinporten token endpoint {url} issued a {kind:?} token; only Bearer tokens are supported"
            )));
        }
        if token.access_token.trim().is_empty() {
            return Err(PortError::Permanent(format!(
                "Maskinporten token endpoint {url} issued an empty access token"
            )));
        }
        let lifetime = token.expires_in.map(Duration::from_secs).unwrap_or(DEFAULT_TOKEN_LIFETIME);
        // Refresh a little early: 10 % of the lifetime, at most 30 s.
        let margin = (lifetime / 10).min(Duration::from_secs(30));
        Ok(AccessToken { secret: token.access_token, refresh_at: sent_at + lifetime.saturating_sub(margin) })
    }
}

/// Statuses worth trying again later.
pub(crate) fn is_transient(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.as_u16() == 425
}
