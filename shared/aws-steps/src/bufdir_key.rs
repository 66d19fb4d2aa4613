//! The Maskinporten private key from AWS Secrets Manager
//! (`MASKINPORTEN_KEY_SECRET_ID`), so the key never has to sit in a file
//! or a plain environment variable of a Lambda. The Maskinporten client
//! only ever sees the PEM text; the SDK stays in this adapter.

use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;

use bufdir_aws::ConfigError;
use bufdir_maskinporten::{BufdirApiConfig, HttpBufdirSubmitter, KEY_FILE, KEY_SECRET_ID};

/// The HTTP submitter for `config`, its key read from the file or fetched
/// from the secret, whichever the configuration names. Called once per
/// process: the key is not fetched again while the process lives.
pub async fn http_submitter(
    config: &BufdirApiConfig,
    secrets: &aws_sdk_secretsmanager::Client,
) -> Result<HttpBufdirSubmitter, ConfigError> {
    match &config.key_secret_id {
        Some(secret_id) => {
            let pem = secret_pem(secrets, secret_id).await?;
            HttpBufdirSubmitter::new(config, pem.as_bytes()).map_err(|e| ConfigError::Invalid(KEY_SECRET_ID, e.0))
        }
        None => HttpBufdirSubmitter::from_config(config).map_err(|e| ConfigError::Invalid(KEY_FILE, e.0)),
    }
}

/// The secret's value as text: its SecretString, or its SecretBinary when
/// it was stored as bytes. Errors name the secret, never its content.
pub async fn secret_pem(secrets: &aws_sdk_secretsmanager::Client, secret_id: &str) -> Result<String, ConfigError> {
    let invalid = |why: String| ConfigError::Invalid(KEY_SECRET_ID, format!("secret {secret_id}: {why}"));
    let out = secrets.get_secret_value().secret_id(secret_id).send().await.map_err(|e| invalid(describe(&e)))?;
    if let Some(text) = out.secret_string() {
        return Ok(text.to_string());
    }
    match out.secret_binary() {
        Some(blob) => {
            String::from_utf8(blob.as_ref().to_vec()).map_err(|_| invalid("its binary value is not PEM text".into()))
        }
        None => Err(invalid("it has no value".into())),
    }
}

fn describe(e: &SdkError<GetSecretValueError>) -> String {
    match e.as_service_error() {
        Some(GetSecretValueError::ResourceNotFoundException(_)) => "no such secret (or no current version)".into(),
        Some(GetSecretValueError::DecryptionFailure(_)) => {
            "it could not be decrypted; the function may need kms:Decrypt on the secret's key".into()
        }
        // Access denied and the rest: the service's own words say which.
        _ => DisplayErrorContext(e).to_string(),
    }
}
