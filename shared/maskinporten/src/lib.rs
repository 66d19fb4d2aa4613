//! Submitting reports to a Bufdir receiver over HTTP, authenticated with
//! a Maskinporten access token.
//!
//! Bufdir publishes no report API today, so the receiver is whatever URL
//! the organisation configures (Bufdir's, should one appear, or the
//! organisation's own integration). Norwegian public-sector APIs all
//! authenticate machine clients with Maskinporten, so that is what this
//! adapter speaks:
//!
//! 1. [`MaskinportenClient`] signs a JWT grant (RFC 7523: RS256, `kid` in
//!    the header; `aud` = the Maskinporten issuer, `iss` = the client id,
//!    `scope`, `iat`, `exp` at most 120 s later, a fresh random `jti`),
//!    POSTs it as `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`
//!    to the token endpoint and caches the access token until shortly before
//!    it expires (10 % of its lifetime, at most 30 s, early). One refresh
//!    runs at a time; concurrent submissions wait for it and share the token.
//! 2. [`HttpBufdirSubmitter`] (the [`BufdirSubmitter`](crate::ports::BufdirSubmitter))
//!    sends the report, as described below.
//!
//! # The request the receiver gets
//!
//! `POST <BUFDIR_RECEIVER_URL>` with `Content-Type: multipart/form-data` and
//! the headers
//! - `Authorization: Bearer <Maskinporten access token>`;
//! - `Idempotency-Key: <export id>-a<attempt>`: the same for every try of
//!   one export attempt (the client's own retries and the workflow's), so
//!   the receiver can answer a repeat with the first answer instead of
//!   filing the report twice;
//!
//! and two parts, in this order:
//! - `metadata` (`application/json`): `{"export_id", "attempt", "org_id",
//!   "organisation_name", "organisation_number" (null when not registered),
//!   "period_from", "period_to" (YYYY-MM-DD), "report_profile", "filename",
//!   "content_type", "sha256" (hex, of the file), "size_bytes",
//!   "idempotency_key"}`;
//! - `file`: the report itself (xlsx, the csv ZIP, json, or the ZIP bundle
//!   holding report, attachments and manifest), with its filename and
//!   content type, streamed from disk.
//!
//! The file's sha256 is checked against the export's record before anything
//! is sent.
//!
//! # What the answers mean
//! - 2xx: accepted. The body's JSON `reference` (or `id`) is the receiver's
//!   reference; failing that, the `Location` header. A 2xx with neither is
//!   a permanent failure.
//! - 408, 425, 429, 5xx, timeouts and connection errors: retried here with
//!   exponential backoff and full jitter ([`RetryPolicy`]: by default 4 tries,
//!   200 ms base, 5 s cap), honouring `Retry-After` (seconds or HTTP date,
//!   capped at 30 s); after the last try, [`PortError::Transient`](crate::ports::PortError)
//!   with the last status and message, and the workflow tries the step again
//!   later under the same idempotency key.
//! - 401: the cached token is dropped and the request is sent once more with
//!   a fresh token; a second 401 is permanent.
//! - any other 4xx (and 3xx: redirects are not followed, so the token is
//!   never sent elsewhere): permanent at once, with the receiver's message
//!   (problem+json `detail`, or `message`, `error_description`, `error`,
//!   `title`, or the text), cut to 300 characters.
//! - the token endpoint refusing the grant (4xx): permanent, with its
//!   `error`/`error_description`; its 5xx, 429 and timeouts count as a failed
//!   try like the receiver's.
//!
//! Error messages never contain the grant, the access token or the key.
//!
//! # Configuration ([`BufdirApiConfig::from_env`])
//! | variable | meaning |
//! | --- | --- |
//! | `BUFDIR_RECEIVER_URL` | the receiver's URL. Unset or empty: no receiver is configured (submission is not available) |
//! | `MASKINPORTEN_TOKEN_URL` | the token endpoint, e.g. `https://maskinporten.no/token` (test: `https://test.maskinporten.no/token`) |
//! | `MASKINPORTEN_ISSUER` | Maskinporten's issuer identifier, sent as the grant's `aud`, e.g. `https://maskinporten.no/` (test: `https://test.maskinporten.no/`) |
//! | `MASKINPORTEN_CLIENT_ID` | the organisation's Maskinporten client id, sent as `iss` |
//! | `MASKINPORTEN_SCOPE` | the scope(s) to ask for, space separated |
//! | `MASKINPORTEN_KEY_ID` | the `kid` of the client's registered key |
//! | `MASKINPORTEN_KEY_FILE` | path to the RSA private key, PEM (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE KEY`, unencrypted) |
//! | `MASKINPORTEN_KEY_SECRET_ID` | instead of the file, on AWS: the name or ARN of a Secrets Manager secret whose value is that PEM (fetched by the AWS adapter, `aws::bufdir_key`) |
//! | `BUFDIR_REQUEST_TIMEOUT_SECS` | optional: timeout of each HTTP request, default 30 |
//! | `BUFDIR_MAX_TRIES` | optional: tries per submission before giving up for now, default 4 |
//!
//! When `BUFDIR_RECEIVER_URL` is set, every `MASKINPORTEN_*` variable above is
//! required, and exactly one of `MASKINPORTEN_KEY_FILE` and
//! `MASKINPORTEN_KEY_SECRET_ID`. URLs must be `https`, except on loopback (`localhost`,
//! `127.0.0.1`, `::1`) for local testing.

mod config;
mod submitter;
mod token;

pub use config::{BufdirApiConfig, ConfigError, KEY_FILE, KEY_SECRET_ID, MaskinportenConfig, RetryPolicy};
pub use submitter::HttpBufdirSubmitter;
pub use token::{AccessToken, GRANT_TYPE, MAX_GRANT_LIFETIME, MaskinportenClient};

use bufdir_core::ports;

/// Cuts `text` to at most `max` characters, marking the cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

/// A reqwest error with its causes ("error sending request: ... operation
/// timed out"), which the top-level message alone does not say.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_string();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}
