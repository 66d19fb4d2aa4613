//! `Idempotency-Key` on create, with Stripe's semantics: a key names one
//! request; repeating it with the same request replays the first answer,
//! with another request is refused.
//!
//! Keys are scoped per organisation (the one the export is for): Stripe
//! scopes them per account, and the organisation is this API's account.
//! Two callers acting for one organisation therefore share its keys, and
//! a caller acting for two organisations may use one key in each.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::domain::{ExportId, ExportJob, ExportStatus, ValidRequest};
use crate::ports::KeyRecord;

/// How long a key is remembered (Stripe: at least 24 hours).
pub const KEY_TTL_HOURS: i64 = 24;
pub const MAX_KEY_LEN: usize = 255;

/// A key as sent: 1 to 255 visible ASCII characters (a UUID fits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &[u8]) -> Option<IdempotencyKey> {
        let visible = raw.iter().all(|b| b.is_ascii_graphic());
        if raw.is_empty() || raw.len() > MAX_KEY_LEN || !visible {
            return None;
        }
        String::from_utf8(raw.to_vec()).ok().map(IdempotencyKey)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A digest of the request after validation, so spellings that mean the
/// same export (a default left out, activity types in another order)
/// count as the same request.
pub fn fingerprint(org_id: &str, valid: &ValidRequest) -> String {
    let types: Vec<&str> = valid.activity_types.iter().map(|t| t.as_str()).collect();
    let canonical = serde_json::json!({
        "org_id": org_id,
        "format": valid.format.as_str(),
        "period_from": valid.period_from.to_string(),
        "period_to": valid.period_to.to_string(),
        "activity_types": types,
        "include_attachments": valid.include_attachments,
        "submit_to_bufdir_api": valid.submit_to_bufdir_api,
        "report_profile": valid.report_profile,
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// What create answers: the first answer to a key, or a replay of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub export_id: ExportId,
    pub status: ExportStatus,
    pub estimated_duration_seconds: u64,
    pub created_at: DateTime<Utc>,
    pub replayed: bool,
}

impl Created {
    pub fn first(job: &ExportJob) -> Created {
        Created {
            export_id: job.export_id.clone(),
            status: job.status,
            estimated_duration_seconds: job.estimated_duration_seconds,
            created_at: job.created_at,
            replayed: false,
        }
    }

    pub fn replay(record: &KeyRecord) -> Created {
        Created {
            export_id: record.export_id.clone(),
            status: record.status,
            estimated_duration_seconds: record.estimated_duration_seconds,
            created_at: record.created_at,
            replayed: true,
        }
    }
}

/// The record a new job's key is stored as.
pub fn record_for(job: &ExportJob, key: &IdempotencyKey, fingerprint: &str) -> KeyRecord {
    KeyRecord {
        scope: job.org_id.clone(),
        key: key.0.clone(),
        fingerprint: fingerprint.to_string(),
        export_id: job.export_id.clone(),
        status: job.status,
        estimated_duration_seconds: job.estimated_duration_seconds,
        created_at: job.created_at,
        expires_at: job.created_at + chrono::Duration::hours(KEY_TTL_HOURS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print(org: &str, body: serde_json::Value) -> String {
        let request: crate::domain::CreateExportRequest = serde_json::from_value(body).unwrap();
        fingerprint(org, &request.validate().unwrap())
    }

    #[test]
    fn requests_that_mean_the_same_export_share_a_fingerprint() {
        let base = serde_json::json!({"period_from": "2025-01-01", "period_to": "2025-12-31",
            "activity_types": ["open_meeting", "group_session"]});
        let spelt_out = serde_json::json!({"period_from": "2025-01-01", "period_to": "2025-12-31", "format": "excel",
            "activity_types": ["group_session", "open_meeting"], "include_attachments": false});
        assert_eq!(print("org-a", base.clone()), print("org-a", spelt_out));
        assert_ne!(print("org-a", base.clone()), print("org-b", base.clone()));
        let mut later = base.clone();
        later["period_to"] = serde_json::json!("2025-12-30");
        assert_ne!(print("org-a", base.clone()), print("org-a", later));
        let mut csv = base.clone();
        csv["format"] = serde_json::json!("csv");
        assert_ne!(print("org-a", base), print("org-a", csv));
    }

    #[test]
    fn keys_are_one_to_255_visible_ascii_characters() {
        assert!(IdempotencyKey::parse(b"a").is_some());
        assert!(IdempotencyKey::parse(b"8e03978e-40d5-43e8-bc93-6894a57f9324").is_some());
        assert!(IdempotencyKey::parse(&[b'k'; 255]).is_some());
        assert!(IdempotencyKey::parse(&[b'k'; 256]).is_none());
        assert!(IdempotencyKey::parse(b"").is_none());
        assert!(IdempotencyKey::parse(b"with space").is_none());
        assert!(IdempotencyKey::parse(b"tab\t").is_none());
        assert!(IdempotencyKey::parse("nøkkel".as_bytes()).is_none());
    }
}
