//! Deleting everything of one organisation from a table, page by page:
//! what an erasure does in each DynamoDB store. A page's keys are deleted
//! before the next page is read, so memory stays at one page however much
//! the organisation had.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};

use super::attr::{Item, s};
use super::errors::port_error;
use super::transact::batch_write;
use crate::ports::{PortError, PortResult};

/// DynamoDB's most requests in one BatchWriteItem.
const BATCH: usize = 25;

/// Which items to read: a query of a partition (of the table or an
/// index), or a scan with a filter where no key leads to them.
pub(crate) enum Matching<'a> {
    /// `name = value` on the table's or `index`'s partition key.
    Partition { index: Option<&'a str>, name: &'a str, value: &'a str },
    /// Items whose string attribute `name` starts with `prefix`.
    ScanPrefix { name: &'a str, prefix: &'a str },
    /// Items whose string attribute `name` equals `value`.
    ScanEqual { name: &'a str, value: &'a str },
}

/// What to do with one item read.
pub(crate) enum Verdict {
    Keep,
    Delete,
    /// Delete it and count it in the answer.
    DeleteCounted,
}

/// Deletes the items `matching` reads that `judge` says to, keyed by
/// `key_names` (the table's partition and sort key); returns how many
/// counted ones went.
pub(crate) async fn delete_matching(
    client: &Client,
    table: &str,
    key_names: &[&str],
    matching: Matching<'_>,
    judge: impl Fn(&Item) -> Verdict,
    what: &'static str,
) -> PortResult<u64> {
    let mut counted = 0;
    let mut next: Option<Item> = None;
    loop {
        let (items, last) = read_page(client, table, &matching, next.take(), what).await?;
        let mut requests = Vec::new();
        for item in items {
            let verdict = judge(&item);
            if matches!(verdict, Verdict::Keep) {
                continue;
            }
            if matches!(verdict, Verdict::DeleteCounted) {
                counted += 1;
            }
            let key = key_names.iter().filter_map(|k| item.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
            let delete = DeleteRequest::builder()
                .set_key(Some(key))
                .build()
                .map_err(|e| PortError::Permanent(format!("{what}: {e}")))?;
            requests.push(WriteRequest::builder().delete_request(delete).build());
        }
        for chunk in requests.chunks(BATCH) {
            batch_write(client, table, chunk.to_vec(), what).await?;
        }
        next = last.filter(|k| !k.is_empty());
        if next.is_none() {
            return Ok(counted);
        }
    }
}

async fn read_page(
    client: &Client,
    table: &str,
    matching: &Matching<'_>,
    start: Option<Item>,
    what: &'static str,
) -> PortResult<(Vec<Item>, Option<Item>)> {
    let value = |v: &str| -> AttributeValue { s(v) };
    match matching {
        Matching::Partition { index, name, value: v } => {
            let out = client
                .query()
                .table_name(table)
                .set_index_name(index.map(str::to_string))
                // A table's own key reads what was just written; an index cannot.
                .consistent_read(index.is_none())
                .key_condition_expression("#k = :v")
                .expression_attribute_names("#k", *name)
                .expression_attribute_values(":v", value(v))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| port_error(what, e))?;
            Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
        }
        Matching::ScanPrefix { name, prefix: v } | Matching::ScanEqual { name, value: v } => {
            let filter =
                if matches!(matching, Matching::ScanPrefix { .. }) { "begins_with(#k, :v)" } else { "#k = :v" };
            let out = client
                .scan()
                .table_name(table)
                .filter_expression(filter)
                .expression_attribute_names("#k", *name)
                .expression_attribute_values(":v", value(v))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| port_error(what, e))?;
            Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
        }
    }
}
