//! Activities in DynamoDB, one partition per organisation.
//!
//! Item layout: `org_id` (partition key), `sk` = `{date}#{activity_id}`
//! (sort key, so a period is one key range and the order is date, then
//! id), `activity_type` (for the type filter) and `doc`, the activity as
//! JSON. Activities are only ever read whole, so one compact attribute
//! keeps items small (more per 1 MB page) and cheap to decode.
//!
//! Beside each activity a pointer item, `sk` = `id#{activity_id}` with the
//! activity's current `date`, lets a re-write with another date remove the
//! old item; `i` sorts after every date, so no period query sees pointers.
//!
//! Reads are a `Query` with `sk BETWEEN` the period's ends and a
//! `FilterExpression` on the types, consumed page by page: at most one page
//! (1 MB, or `page_size` items) is in memory at any time.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, Select, WriteRequest};
use chrono::NaiveDate;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use super::attr::{Item, get_s, s};
use super::errors::port_error;
use crate::backoff::Backoff;
use crate::domain::Activity;
use crate::ports::{ActivityQuery, ActivitySource, PortError, PortResult};

/// BatchWriteItem's limit.
const BATCH: usize = 25;
/// Between tries of a batch's unprocessed items or keys.
const BATCH_BACKOFF: Backoff = Backoff::new(Duration::from_millis(25), 2, Duration::from_secs(2));
/// Batches in flight at once while writing.
const WRITERS: usize = 4;

fn sort_key(date: NaiveDate, activity_id: &str) -> String {
    format!("{date}#{activity_id}")
}

fn pointer_key(activity_id: &str) -> String {
    format!("id#{activity_id}")
}

fn key(org_id: &str, sk: String) -> Item {
    HashMap::from([("org_id".to_string(), s(org_id)), ("sk".to_string(), AttributeValue::S(sk))])
}

/// The sort key range covering `from..=to`: `#` (0x23) follows the date,
/// and `$` (0x24) sorts after every `{date}#...`.
fn range(q: &ActivityQuery) -> (String, String) {
    (format!("{}#", q.from), format!("{}$", q.to))
}

pub fn activity_item(a: &Activity) -> PortResult<Item> {
    let doc = serde_json::to_string(a).map_err(|e| PortError::Permanent(format!("encode activity: {e}")))?;
    Ok(HashMap::from([
        ("org_id".to_string(), s(&a.org_id)),
        ("sk".to_string(), s(sort_key(a.date, &a.activity_id))),
        ("activity_type".to_string(), s(a.activity_type.as_str())),
        ("doc".to_string(), s(doc)),
    ]))
}

fn decode(item: &Item) -> PortResult<Activity> {
    let doc = get_s(item, "doc").ok_or_else(|| PortError::Permanent("stored activity has no doc".into()))?;
    serde_json::from_str(doc).map_err(|e| PortError::Permanent(format!("stored activity is unreadable: {e}")))
}

#[derive(Clone)]
pub struct DynamoActivities {
    client: Client,
    table: String,
    page_size: Option<i32>,
}

impl DynamoActivities {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoActivities { client, table: table.into(), page_size: None }
    }

    /// Caps a page at `items` (DynamoDB's own cap is 1 MB).
    pub fn with_page_size(mut self, items: i32) -> Self {
        self.page_size = Some(items.max(1));
        self
    }

    fn query(client: &Client, table: &str, q: &ActivityQuery, page_size: Option<i32>) -> QueryFluentBuilder {
        let (lo, hi) = range(q);
        let mut b = client
            .query()
            .table_name(table)
            .key_condition_expression("org_id = :org AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":org", s(&q.org_id))
            .expression_attribute_values(":lo", s(lo))
            .expression_attribute_values(":hi", s(hi))
            .set_limit(page_size);
        if !q.types.is_empty() {
            let names: Vec<String> = (0..q.types.len()).map(|i| format!(":t{i}")).collect();
            b = b.filter_expression(format!("activity_type IN ({})", names.join(", ")));
            for (name, t) in names.iter().zip(&q.types) {
                b = b.expression_attribute_values(name, s(t.as_str()));
            }
        }
        b
    }

    /// A writer for the same table (seeding and tests).
    pub fn writer(&self) -> DynamoActivityWriter {
        DynamoActivityWriter { client: self.client.clone(), table: self.table.clone() }
    }
}

#[async_trait]
impl ActivitySource for DynamoActivities {
    async fn count(&self, q: &ActivityQuery) -> PortResult<u64> {
        let mut total = 0u64;
        let mut next: Option<Item> = None;
        loop {
            let out = Self::query(&self.client, &self.table, q, None)
                .select(Select::Count)
                .set_exclusive_start_key(next)
                .send()
                .await
                .map_err(|e| port_error("count activities", e))?;
            total += out.count.max(0) as u64;
            next = out.last_evaluated_key.filter(|k| !k.is_empty());
            if next.is_none() {
                return Ok(total);
            }
        }
    }

    fn stream(&self, q: ActivityQuery) -> BoxStream<'static, PortResult<Activity>> {
        struct Page {
            next: Option<Item>,
            done: bool,
        }
        let client = self.client.clone();
        let table = self.table.clone();
        let page_size = self.page_size;
        stream::try_unfold(Page { next: None, done: false }, move |page| {
            let (client, table, q) = (client.clone(), table.clone(), q.clone());
            async move {
                if page.done {
                    return Ok(None);
                }
                let out = Self::query(&client, &table, &q, page_size)
                    .set_exclusive_start_key(page.next)
                    .send()
                    .await
                    .map_err(|e| port_error("read activities", e))?;
                let items = out.items.unwrap_or_default();
                let next = out.last_evaluated_key.filter(|k| !k.is_empty());
                let done = next.is_none();
                Ok::<_, PortError>(Some((items, Page { next, done })))
            }
        })
        .map_ok(|items| stream::iter(items.into_iter().map(|item| decode(&item))))
        .try_flatten()
        .boxed()
    }
}

/// Writes activities with BatchWriteItem, 25 at a time, sending back
/// whatever DynamoDB left unprocessed until it is all stored.
#[derive(Clone)]
pub struct DynamoActivityWriter {
    client: Client,
    table: String,
}

impl DynamoActivityWriter {
    /// Stores every activity (replacing one with the same org, date and
    /// id); returns how many were written. The iterator is pulled lazily.
    pub async fn put_all(&self, activities: impl Iterator<Item = Activity> + Send) -> PortResult<u64> {
        let batches = stream::iter(activities).chunks(BATCH).map(|batch| {
            let this = self.clone();
            async move { this.write_batch(batch).await }
        });
        let mut written = 0u64;
        let mut results = batches.buffer_unordered(WRITERS);
        while let Some(n) = results.next().await {
            written += n?;
        }
        Ok(written)
    }

    async fn write_batch(&self, batch: Vec<Activity>) -> PortResult<u64> {
        // One batch may not name a key twice: the last one wins, as it would in sequence.
        let mut latest: Vec<Activity> = Vec::with_capacity(batch.len());
        for a in batch {
            latest.retain(|b| (&b.org_id, &b.activity_id) != (&a.org_id, &a.activity_id));
            latest.push(a);
        }
        let n = latest.len() as u64;
        let previous = self.stored_dates(&latest).await?;
        let mut requests: Vec<WriteRequest> = Vec::with_capacity(latest.len() * 3);
        for a in &latest {
            let put = |item: Item| -> PortResult<WriteRequest> {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| PortError::Permanent(e.to_string()))?;
                Ok(WriteRequest::builder().put_request(put).build())
            };
            requests.push(put(activity_item(a)?)?);
            let mut pointer = key(&a.org_id, pointer_key(&a.activity_id));
            pointer.insert("date".to_string(), s(a.date.to_string()));
            requests.push(put(pointer)?);
            if let Some(old) = previous.get(&(a.org_id.clone(), a.activity_id.clone())).filter(|d| **d != a.date) {
                let delete = DeleteRequest::builder()
                    .set_key(Some(key(&a.org_id, sort_key(*old, &a.activity_id))))
                    .build()
                    .map_err(|e| PortError::Permanent(e.to_string()))?;
                requests.push(WriteRequest::builder().delete_request(delete).build());
            }
        }
        for chunk in requests.chunks(BATCH) {
            self.send_batch(chunk.to_vec()).await?;
        }
        Ok(n)
    }

    /// The dates the batch's activities are stored under now, from their pointers.
    async fn stored_dates(&self, batch: &[Activity]) -> PortResult<HashMap<(String, String), NaiveDate>> {
        let keys: Vec<Item> = batch.iter().map(|a| key(&a.org_id, pointer_key(&a.activity_id))).collect();
        let mut wanted = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .build()
            .map_err(|e| PortError::Permanent(e.to_string()))?;
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

    async fn send_batch(&self, mut requests: Vec<WriteRequest>) -> PortResult<()> {
        for tries in 1..=10 {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(|e| port_error("write activities", e))?;
            requests = out.unprocessed_items.unwrap_or_default().remove(&self.table).unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
            BATCH_BACKOFF.wait(tries + 1).await;
        }
        Err(PortError::Transient("activities left unprocessed after repeated tries".into()))
    }

    /// Removes one activity.
    pub async fn delete(&self, org_id: &str, date: NaiveDate, activity_id: &str) -> PortResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("org_id", s(org_id))
            .key("sk", AttributeValue::S(sort_key(date, activity_id)))
            .send()
            .await
            .map_err(|e| port_error("delete activity", e))?;
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(org_id, pointer_key(activity_id))))
            .send()
            .await
            .map_err(|e| port_error("delete activity pointer", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_range_covers_both_ends_and_nothing_else() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let q = ActivityQuery { org_id: "o".into(), from: d("2025-01-01"), to: d("2025-12-31"), types: vec![] };
        let (lo, hi) = range(&q);
        for (date, id, inside) in [
            ("2025-01-01", "", true),
            ("2025-01-01", "a", true),
            ("2025-12-31", "~~~~", true),
            ("2025-12-31", "\u{10FFFF}", true),
            ("2024-12-31", "zzz", false),
            ("2026-01-01", "", false),
        ] {
            let k = sort_key(d(date), id);
            assert_eq!(lo <= k && k <= hi, inside, "{k}");
        }
    }

    #[test]
    fn items_round_trip() {
        let a = crate::domain::fixtures::activity();
        let item = activity_item(&a).unwrap();
        assert_eq!(get_s(&item, "sk"), Some("2025-03-04#act-000123"));
        assert_eq!(decode(&item).unwrap(), a);
    }
}
