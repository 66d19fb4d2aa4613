//! S3 presigned POST: the one way to hand a client an upload link that S3
//! itself holds to a size limit (the policy's `content-length-range`; a
//! presigned PUT can only sign an exact length). The Rust SDK has no
//! builder for it, so the policy is signed here with SigV4, as S3's POST
//! documentation describes ("Authenticating Requests in Browser-Based
//! Uploads Using POST").

use aws_sdk_s3::config::ProvideCredentials;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::ports::{PortError, PortResult};

/// The credentials and region a POST policy is signed with (the process's
/// own, from the SDK's configuration; the S3 client does not hand them out).
#[derive(Clone, Debug)]
pub struct Signer {
    pub credentials: aws_sdk_s3::config::SharedCredentialsProvider,
    pub region: String,
}

impl Signer {
    pub fn from_sdk(sdk: &aws_config::SdkConfig) -> Option<Signer> {
        Some(Signer { credentials: sdk.credentials_provider()?, region: sdk.region()?.to_string() })
    }
}

/// What a POST needs: the bucket's URL and the form fields, in order.
pub struct PostForm {
    pub url: String,
    pub fields: Vec<(String, String)>,
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// Signs a POST of one object at `key` (exactly), of 1 to `max_bytes`
/// bytes, valid until `expires`. `bucket_url` is where the form is sent
/// (virtual-hosted or path style, as the client is configured).
pub async fn sign(
    signer: &Signer,
    bucket_url: String,
    bucket: &str,
    key: &str,
    max_bytes: u64,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> PortResult<PostForm> {
    let region = &signer.region;
    let credentials = signer
        .credentials
        .provide_credentials()
        .await
        .map_err(|e| PortError::Transient(format!("AWS credentials: {e}")))?;
    let day = now.format("%Y%m%d").to_string();
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let credential = format!("{}/{day}/{region}/s3/aws4_request", credentials.access_key_id());
    let mut fields = vec![
        ("key".to_string(), key.to_string()),
        ("x-amz-algorithm".to_string(), "AWS4-HMAC-SHA256".to_string()),
        ("x-amz-credential".to_string(), credential),
        ("x-amz-date".to_string(), amz_date),
    ];
    // A Lambda role's temporary credentials sign with their session token.
    if let Some(token) = credentials.session_token() {
        fields.push(("x-amz-security-token".to_string(), token.to_string()));
    }
    let mut conditions =
        vec![json!({ "bucket": bucket }), json!(["eq", "$key", key]), json!(["content-length-range", 1, max_bytes])];
    conditions.extend(fields.iter().skip(1).map(|(name, value)| json!({ name: value })));
    let policy = json!({
        "expiration": expires.to_rfc3339_opts(SecondsFormat::Millis, true),
        "conditions": conditions,
    });
    let policy = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
    let mut signing_key = hmac(format!("AWS4{}", credentials.secret_access_key()).as_bytes(), &day);
    for part in [region.as_str(), "s3", "aws4_request"] {
        signing_key = hmac(&signing_key, part);
    }
    let signature = hex::encode(hmac(&signing_key, &policy));
    fields.push(("policy".to_string(), policy));
    fields.push(("x-amz-signature".to_string(), signature));
    Ok(PostForm { url: bucket_url, fields })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signing chain against AWS's published example: the key for
    /// 20150830/us-east-1/iam from the secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY.
    #[test]
    fn the_signing_key_follows_sigv4() {
        let mut key = hmac(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830");
        for part in ["us-east-1", "iam", "aws4_request"] {
            key = hmac(&key, part);
        }
        assert_eq!(hex::encode(key), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
    }
}
