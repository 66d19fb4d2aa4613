//! `Bufdir-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`: what a
//! receiver checks to know a delivery came from us, unchanged, and
//! recently. The signed text is `"<t>.<raw body>"`, so neither the body
//! nor the time can be swapped. During a secret's rotation a delivery
//! carries one `v1` per live secret; a receiver accepts if any matches.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "Bufdir-Signature";
/// How old a signature a receiver should accept (documented in the README).
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header's value for a body sent at `t` with these secrets.
pub fn sign(secrets: &[&str], t: i64, body: &[u8]) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac(secret, t, body).finalize().into_bytes()));
    }
    header
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the header has no t= or no v1=")]
    Malformed,
    #[error("the signature is older (or newer) than the tolerance")]
    OutsideTolerance,
    #[error("no signature matches")]
    NoMatch,
}

/// What a receiver does: the header parsed, the time within `tolerance`
/// of `now`, and some `v1` the HMAC of `secret` (compared in constant time).
pub fn verify(header: &str, body: &[u8], secret: &str, now: i64, tolerance: i64) -> Result<(), SignatureError> {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - t).abs() > tolerance {
        return Err(SignatureError::OutsideTolerance);
    }
    if signatures.iter().any(|s| mac(secret, t, body).verify_slice(s).is_ok()) {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_its_secret_only() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(&["whsec_a"], 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(verify(&header, body, "whsec_a", 1_700_000_010, 300), Ok(()));
        assert_eq!(verify(&header, body, "whsec_b", 1_700_000_010, 300), Err(SignatureError::NoMatch));
        assert_eq!(verify(&header, b"{}", "whsec_a", 1_700_000_010, 300), Err(SignatureError::NoMatch));
        assert_eq!(verify(&header, body, "whsec_a", 1_700_000_301, 300), Err(SignatureError::OutsideTolerance));
        assert_eq!(verify("v1=00", body, "whsec_a", 0, 300), Err(SignatureError::Malformed));
    }

    #[test]
    fn during_rotation_both_secrets_verify() {
        let header = sign(&["new", "old"], 10, b"x");
        assert_eq!(header.matches("v1=").count(), 2);
        assert_eq!(verify(&header, b"x", "new", 10, 300), Ok(()));
        assert_eq!(verify(&header, b"x", "old", 10, 300), Ok(()));
        // HMAC-SHA256 of "10.x" under "new", as Python's hmac module computes it
        assert!(header.contains("v1=5fd3377d9004c4cfcae56659bdd8ba8e4d6454344339176d4935b07ee5b1110a,"));
    }
}
