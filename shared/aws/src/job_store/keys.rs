//! Idempotency keys in the jobs table.
//!
//! A key is an item `idem#{scope}#{key}` (scopes are organisation ids, which
//! hold no `#`, so the split is unambiguous) carrying the request's
//! fingerprint and the answer it got, with `expires_at` as its TTL. It is
//! put in the same transaction as its job, on the condition that no live
//! item of that key exists: a crash leaves either both or neither, and of
//! two concurrent requests with one key exactly one transaction commits.
//! DynamoDB deletes expired items only eventually (up to days late), so
//! both the condition and the read treat an item past `expires_at` as gone.
//! Key items have no `created_key`, so no index sees them, and their id
//! does not parse as an export id, so the TTL stream consumer skips them.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::{Cancelled, Cell, DynamoJobStore, EXPIRES_AT, Item, PK, built, get_n, get_s, n, s};
use crate::domain::{ExportId, ExportJob, ExportStatus};
use crate::erase::{Matching, Verdict, delete_matching};
use crate::ports::{KeyRecord, KeyedInsert, KeyedJobs, PortError, PortResult};

const FINGERPRINT: &str = "idem_fingerprint";
const EXPORT_ID: &str = "idem_export_id";
const STATUS: &str = "idem_status";
const ESTIMATE: &str = "idem_estimated_duration_seconds";
const CREATED_AT: &str = "idem_created_at";

fn key_id(scope: &str, key: &str) -> String {
    format!("idem#{scope}#{key}")
}

fn to_item(record: &KeyRecord) -> Item {
    HashMap::from([
        (PK.to_string(), s(key_id(&record.scope, &record.key))),
        (FINGERPRINT.to_string(), s(&record.fingerprint)),
        (EXPORT_ID.to_string(), s(record.export_id.as_str())),
        (STATUS.to_string(), s(record.status.as_str())),
        (ESTIMATE.to_string(), n(record.estimated_duration_seconds)),
        (CREATED_AT.to_string(), n(record.created_at.timestamp_micros())),
        (EXPIRES_AT.to_string(), n(record.expires_at.timestamp())),
    ])
}

fn from_item(scope: &str, key: &str, item: &Item) -> PortResult<KeyRecord> {
    let unreadable = || PortError::Permanent("stored idempotency key is unreadable".into());
    Ok(KeyRecord {
        scope: scope.to_string(),
        key: key.to_string(),
        fingerprint: get_s(item, FINGERPRINT).ok_or_else(unreadable)?.to_string(),
        export_id: get_s(item, EXPORT_ID).and_then(ExportId::parse).ok_or_else(unreadable)?,
        status: get_s(item, STATUS).and_then(ExportStatus::parse).ok_or_else(unreadable)?,
        estimated_duration_seconds: get_n(item, ESTIMATE).and_then(|v| u64::try_from(v).ok()).ok_or_else(unreadable)?,
        created_at: get_n(item, CREATED_AT).and_then(DateTime::from_timestamp_micros).ok_or_else(unreadable)?,
        expires_at: get_n(item, EXPIRES_AT).and_then(|v| DateTime::from_timestamp(v, 0)).ok_or_else(unreadable)?,
    })
}

#[async_trait]
impl KeyedJobs for DynamoJobStore {
    async fn insert_keyed(&self, job: &ExportJob, record: &KeyRecord) -> PortResult<KeyedInsert> {
        let key_put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(record)))
                .condition_expression("attribute_not_exists(#pk) OR #exp <= :now")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#exp", EXPIRES_AT)
                .expression_attribute_values(":now", n(record.created_at.timestamp()))
                .build(),
        )?;
        let job_put = self.new_job_put(job)?;
        let mut items =
            vec![TransactWriteItem::builder().put(key_put).build(), TransactWriteItem::builder().put(job_put).build()];
        items.extend(self.counter_updates(&[(Cell::of(job), 1)])?);
        let outcome = match self.transact("store export with its idempotency key", items).await {
            // DynamoDB refuses a transaction that meets another one on the
            // same item (here: the key) without evaluating its conditions;
            // after a burst of those the winner may long have committed.
            Err(PortError::Transient(reason)) => {
                return match self.key_record(&record.scope, &record.key, record.created_at).await? {
                    Some(existing) => Ok(KeyedInsert::KeyTaken(existing)),
                    None => Err(PortError::Transient(reason)),
                };
            }
            other => other?,
        };
        match outcome {
            Ok(()) => Ok(KeyedInsert::Inserted),
            // Which condition failed: the key's (item 0: someone holds it),
            // the organisation's cap (item 2, its counter), or the job id's
            // (a clash the caller handles by drawing a new id). A held key
            // wins: a repeat is replayed even when the organisation is full.
            Err(Cancelled::Collision) => unreachable!("collisions are retried"),
            Err(c) => match self.key_record(&record.scope, &record.key, record.created_at).await? {
                Some(existing) => Ok(KeyedInsert::KeyTaken(existing)),
                None if c.failed_at(2) => Err(PortError::InFlightCapReached),
                None => Err(PortError::Conflict),
            },
        }
    }

    async fn forget_scope(&self, scope: &str) -> PortResult<u64> {
        // `idem#{scope}#`: the trailing `#` keeps `org-1` from matching `org-10`.
        let prefix = &key_id(scope, "");
        let keys = delete_matching(
            &self.client,
            &self.table,
            &[PK],
            Matching::ScanPrefix { name: PK, prefix },
            |_| Verdict::DeleteCounted,
            "erase idempotency keys",
        )
        .await?;
        self.drop_counter_if_zero(scope).await?;
        Ok(keys)
    }

    async fn key_record(&self, scope: &str, key: &str, now: DateTime<Utc>) -> PortResult<Option<KeyRecord>> {
        let Some(item) = self.get_item(&key_id(scope, key)).await? else { return Ok(None) };
        let record = from_item(scope, key, &item)?;
        Ok((record.expires_at > now).then_some(record))
    }
}
