//! Writes activities with BatchWriteItem, 25 requests at a time, several
//! batches in flight, sending back whatever DynamoDB left unprocessed
//! (with backoff) until it is all stored. Each activity is two items (the
//! activity and its pointer) plus, when its date changed, the removal of
//! the item under the old date.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest};
use chrono::NaiveDate;
use futures::stream::{self, StreamExt};

use super::{WRITTEN_BY, activity_item, key, pointer_key, sort_key};
use crate::attr::{Item, get_s, s};
use crate::backoff::Backoff;
use crate::domain::Activity;
use crate::errors::port_error;
use crate::ports::{PortError, PortResult, Stored};
use crate::transact::batch_write;

/// BatchWriteItem's limit.
pub(super) const BATCH: usize = 25;
/// Between tries of a batch's unprocessed items or keys.
const BATCH_BACKOFF: Backoff = Backoff::new(Duration::from_millis(25), 2, Duration::from_secs(2));
/// Batches in flight at once while writing.
const WRITERS: usize = 4;
/// Activities per batch: with its pointer and a possible removal, up to
/// three requests each, so a batch is at most a few BatchWriteItem calls.
const ACTIVITIES_PER_BATCH: usize = 25;

/// Writes activities into the table; `tag` marks every item written with
/// the import that wrote it (see `DynamoImportWriter`).
#[derive(Clone)]
pub struct DynamoActivityWriter {
    pub(super) client: Client,
    pub(super) table: String,
    pub(super) tag: Option<String>,
}

pub(super) fn built<T>(r: Result<T, aws_sdk_dynamodb::error::BuildError>) -> PortResult<T> {
    r.map_err(|e| PortError::Permanent(format!("request: {e}")))
}

fn put(item: Item) -> PortResult<WriteRequest> {
    let put = built(PutRequest::builder().set_item(Some(item)).build())?;
    Ok(WriteRequest::builder().put_request(put).build())
}

pub(super) fn delete(key: Item) -> PortResult<WriteRequest> {
    let delete = built(DeleteRequest::builder().set_key(Some(key)).build())?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

impl DynamoActivityWriter {
    /// Stores every activity (replacing one with the same org and id);
    /// returns how many were written. The iterator is pulled lazily.
    pub async fn put_all(&self, activities: impl Iterator<Item = Activity> + Send) -> PortResult<u64> {
        let batches = stream::iter(activities).chunks(ACTIVITIES_PER_BATCH).map(|batch| {
            let this = self.clone();
            async move { this.write_batch(batch).await.map(|stored| stored.len() as u64) }
        });
        let mut written = 0u64;
        let mut results = batches.buffer_unordered(WRITERS);
        while let Some(n) = results.next().await {
            written += n?;
        }
        Ok(written)
    }

    /// Stores activities with distinct ids, saying of each (in order)
    /// whether it was new.
    pub async fn put_distinct(&self, activities: Vec<Activity>) -> PortResult<Vec<Stored>> {
        let batches: Vec<Vec<Activity>> = activities.chunks(ACTIVITIES_PER_BATCH).map(<[Activity]>::to_vec).collect();
        let results: Vec<PortResult<Vec<Stored>>> = stream::iter(batches)
            .map(|batch| {
                let this = self.clone();
                async move { this.write_batch(batch).await }
            })
            .buffered(WRITERS)
            .collect()
            .await;
        let mut out = Vec::with_capacity(activities.len());
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }

    /// Writes one batch; of the activities it names twice, the last wins,
    /// as it would written in sequence. Says of each activity kept whether
    /// it was new.
    async fn write_batch(&self, batch: Vec<Activity>) -> PortResult<Vec<Stored>> {
        let mut latest: Vec<Activity> = Vec::with_capacity(batch.len());
        for a in batch {
            latest.retain(|b| (&b.org_id, &b.activity_id) != (&a.org_id, &a.activity_id));
            latest.push(a);
        }
        let previous = self.stored_dates(&latest).await?;
        let mut requests: Vec<WriteRequest> = Vec::with_capacity(latest.len() * 3);
        let mut stored = Vec::with_capacity(latest.len());
        for a in &latest {
            let mut item = activity_item(a)?;
            if let Some(tag) = &self.tag {
                item.insert(WRITTEN_BY.into(), s(tag));
            }
            requests.push(put(item)?);
            let mut pointer = key(&a.org_id, pointer_key(&a.activity_id));
            pointer.insert("date".to_string(), s(a.date.to_string()));
            requests.push(put(pointer)?);
            let old = previous.get(&(a.org_id.clone(), a.activity_id.clone()));
            stored.push(if old.is_some() { Stored::Replaced } else { Stored::Created });
            if let Some(old) = old.filter(|d| **d != a.date) {
                requests.push(delete(key(&a.org_id, sort_key(*old, &a.activity_id)))?);
            }
        }
        for chunk in requests.chunks(BATCH) {
            self.send_batch(chunk.to_vec()).await?;
        }
        Ok(stored)
    }

    /// The dates the batch's activities are stored under now, from their pointers.
    pub(super) async fn stored_dates(&self, batch: &[Activity]) -> PortResult<HashMap<(String, String), NaiveDate>> {
        let keys: Vec<Item> = batch.iter().map(|a| key(&a.org_id, pointer_key(&a.activity_id))).collect();
        let mut wanted = built(KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build())?;
        let mut found = HashMap::new();
        for tries in 1..=10 {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, wanted)
                .send()
                .await
                .map_err(|e| port_error("read activity pointers", e))?;
            for item in out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                let (Some(org), Some(sk), Some(date)) =
                    (get_s(&item, "org_id"), get_s(&item, "sk"), get_s(&item, "date"))
                else {
                    continue;
                };
                if let (Some(id), Ok(date)) = (sk.strip_prefix("id#"), date.parse::<NaiveDate>()) {
                    found.insert((org.to_string(), id.to_string()), date);
                }
            }
            match out.unprocessed_keys.unwrap_or_default().remove(&self.table) {
                Some(rest) if !rest.keys().is_empty() => wanted = rest,
                _ => return Ok(found),
            }
            BATCH_BACKOFF.wait(tries + 1).await;
        }
        Err(PortError::Transient("activity pointers left unread after repeated tries".into()))
    }

    pub(super) async fn send_batch(&self, requests: Vec<WriteRequest>) -> PortResult<()> {
        batch_write(&self.client, &self.table, requests, "write activities").await
    }
}
