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
//! An import tags what it writes with `written_by` (its id), so finishing
//! an import that replaces a period can remove what the file left out
//! (`activities/import.rs`). The organisation's own details live in the
//! same partition, `sk` = `org` (`organisations.rs`), which also sorts
//! after every date.
//!
//! Reads are a `Query` with `sk BETWEEN` the period's ends and a
//! `FilterExpression` on the types, consumed page by page. An export reads
//! its period once, a month per query, several months at once
//! (`activities/read.rs`); it never counts first, since a count costs the
//! read capacity of reading.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Select, TransactWriteItem};
use chrono::NaiveDate;
use futures::stream::BoxStream;

use super::attr::{Item, get_s, s};
use super::erase::{Matching, Verdict, delete_matching};
use super::errors::port_error;
use crate::domain::{Activity, ImportId, Period};
use crate::ports::{ActivityQuery, ActivitySource, ActivityStore, ImportWriter, PortError, PortResult, Stored};

mod import;
mod read;
mod writer;

pub use read::{MONTHS_IN_FLIGHT, Reads, months};
pub use writer::DynamoActivityWriter;

/// The import that last wrote an activity item.
const WRITTEN_BY: &str = "written_by";

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
    range_of(q.from, q.to)
}

fn range_of(from: NaiveDate, to: NaiveDate) -> (String, String) {
    (format!("{from}#"), format!("{to}$"))
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
    stats: std::sync::Arc<read::ReadStats>,
    one_stream: bool,
}

impl DynamoActivities {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoActivities { client, table: table.into(), page_size: None, stats: Default::default(), one_stream: false }
    }

    /// What this source's reads (and its clones') have cost so far.
    pub fn reads(&self) -> Reads {
        self.stats.snapshot()
    }

    /// Reads a period as one sequential Query instead of a month at a
    /// time: what `make bench` compares the months against.
    pub fn in_one_stream(mut self) -> Self {
        self.one_stream = true;
        self
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
        DynamoActivityWriter { client: self.client.clone(), table: self.table.clone(), tag: None }
    }

    /// Where `org_id` keeps `activity_id` now, from its pointer.
    async fn stored_date(&self, org_id: &str, activity_id: &str) -> PortResult<Option<NaiveDate>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(org_id, pointer_key(activity_id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("read activity pointer", e))?;
        Ok(out.item.as_ref().and_then(|i| get_s(i, "date")).and_then(|d| d.parse().ok()))
    }
}

#[async_trait]
impl ActivitySource for DynamoActivities {
    async fn count(&self, q: &ActivityQuery) -> PortResult<u64> {
        let mut total = 0u64;
        let mut next: Option<Item> = None;
        loop {
            let out = {
                let _in_flight = self.stats.started();
                Self::query(&self.client, &self.table, q, None)
                    .select(Select::Count)
                    .set_exclusive_start_key(next)
                    .send()
                    .await
                    .map_err(|e| port_error("count activities", e))?
            };
            self.stats.scanned(out.scanned_count);
            total += out.count.max(0) as u64;
            next = out.last_evaluated_key.filter(|k| !k.is_empty());
            if next.is_none() {
                return Ok(total);
            }
        }
    }

    fn stream(&self, q: ActivityQuery) -> BoxStream<'static, PortResult<Activity>> {
        read::by_months(self, q)
    }
}

#[async_trait]
impl ActivityStore for DynamoActivities {
    async fn put_activities(&self, org_id: &str, activities: Vec<Activity>) -> PortResult<Vec<Stored>> {
        if activities.iter().any(|a| a.org_id != org_id) {
            return Err(PortError::Permanent("an activity of another organisation".into()));
        }
        self.writer().put_distinct(activities).await
    }

    async fn erase_activities(&self, org_id: &str) -> PortResult<u64> {
        // The partition holds the activities, their pointers and the
        // organisation's details (`org`), which the organisation store erases.
        delete_matching(
            &self.client,
            &self.table,
            &["org_id", "sk"],
            Matching::Partition { index: None, name: "org_id", value: org_id },
            |item| match get_s(item, "sk") {
                Some("org") => Verdict::Keep,
                Some(sk) if sk.starts_with("id#") => Verdict::Delete,
                _ => Verdict::DeleteCounted,
            },
            "erase activities",
        )
        .await
    }

    async fn delete_activity(&self, org_id: &str, activity_id: &str) -> PortResult<bool> {
        let Some(date) = self.stored_date(org_id, activity_id).await? else { return Ok(false) };
        // Both go, or neither; the pointer must still say the date read.
        let activity = writer::built(
            aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(org_id, sort_key(date, activity_id))))
                .build(),
        )?;
        let pointer = writer::built(
            aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(org_id, pointer_key(activity_id))))
                .condition_expression("#d = :d")
                .expression_attribute_names("#d", "date")
                .expression_attribute_values(":d", s(date.to_string()))
                .build(),
        )?;
        let items = vec![
            TransactWriteItem::builder().delete(activity).build(),
            TransactWriteItem::builder().delete(pointer).build(),
        ];
        match super::transact::transact(&self.client, "delete activity", items).await? {
            Ok(()) => Ok(true),
            // Re-written or removed meanwhile: whoever did it decided.
            Err(_) => Ok(self.stored_date(org_id, activity_id).await?.is_none()),
        }
    }

    async fn activity_page(
        &self,
        query: &ActivityQuery,
        after: Option<(NaiveDate, String)>,
        limit: u32,
    ) -> PortResult<Vec<Activity>> {
        let mut out = Vec::new();
        let mut next: Option<Item> = after.map(|(date, id)| key(&query.org_id, sort_key(date, &id)));
        let (lo, hi) = range(query);
        // DynamoDB refuses a start key outside the key condition (a
        // ValidationException): one before the period reads it from its
        // start, and after it there is nothing left to read.
        match next.as_ref().and_then(|k| get_s(k, "sk")) {
            Some(sk) if sk < lo.as_str() => next = None,
            Some(sk) if sk > hi.as_str() => return Ok(Vec::new()),
            _ => {}
        }
        let want = limit.max(1) as usize;
        loop {
            let page = Self::query(&self.client, &self.table, query, Some((want - out.len()).max(10) as i32))
                .set_exclusive_start_key(next.take())
                .send()
                .await
                .map_err(|e| port_error("read activities", e))?;
            for item in page.items.unwrap_or_default() {
                out.push(decode(&item)?);
                if out.len() == want {
                    return Ok(out);
                }
            }
            next = page.last_evaluated_key.filter(|k| !k.is_empty());
            if next.is_none() {
                return Ok(out);
            }
        }
    }

    async fn begin_import(
        &self,
        org_id: &str,
        import_id: &ImportId,
        replace: Option<Period>,
    ) -> PortResult<Box<dyn ImportWriter>> {
        let mut writer = self.writer();
        writer.tag = Some(import_id.to_string());
        Ok(Box::new(import::DynamoImportWriter { writer, org_id: org_id.to_string(), replace, written: 0 }))
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
