//! Reading several index partitions as one list, newest (or oldest) first:
//! the exports and imports lists of a caller acting for several
//! organisations, the administrator's sharded list, the unfinished jobs.
//! Each partition is read page by page and the pages are merged on the
//! index's sort key, so a list never holds more than a page per partition
//! beyond what it returns.

use std::collections::{HashMap, VecDeque};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt};

use super::attr::{Item, get_s, s};
use super::errors::port_error;
use crate::ports::PortResult;

/// Partitions whose first page is read at the same time.
const FIRST_PAGES_AT_ONCE: usize = 32;

/// One index partition to read.
pub struct Source {
    pub index: &'static str,
    pub pk_name: &'static str,
    pub pk: String,
}

/// A FilterExpression on the items read (status, format).
#[derive(Default)]
pub struct Filter {
    parts: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Filter {
    /// Adds `attribute = value`.
    pub fn equals(mut self, attribute: &str, value: &str) -> Filter {
        let i = self.parts.len();
        self.parts.push(format!("#f{i} = :f{i}"));
        self.names.insert(format!("#f{i}"), attribute.to_string());
        self.values.insert(format!(":f{i}"), s(value));
        self
    }

    fn expression(&self) -> Option<String> {
        (!self.parts.is_empty()).then(|| self.parts.join(" AND "))
    }
}

/// What to read and how to turn an item into a record.
pub struct Merge<'a, T> {
    pub client: &'a Client,
    pub table: &'a str,
    /// The index's sort key attribute.
    pub sort_key: &'static str,
    pub newest_first: bool,
    pub filter: &'a Filter,
    pub decode: fn(&Item) -> PortResult<T>,
    /// For errors: "list exports".
    pub what: &'static str,
}

impl<T> Merge<'_, T> {
    /// Skips `skip` records of the merged order and returns up to `take`.
    pub async fn read(&self, sources: Vec<Source>, skip: usize, take: usize) -> PortResult<Vec<T>> {
        let page_size = skip.saturating_add(take).clamp(10, 1000) as i32;
        // A token may name a thousand organisations: their first pages are
        // read a few at a time, not as one burst of a thousand queries
        // (which DynamoDB throttles, and which overran a test's emulator).
        let mut cursors: Vec<Cursor<T>> = futures::stream::iter(sources.into_iter().map(Cursor::new))
            .map(|mut c| async move { c.fill(self, page_size).await.map(|()| c) })
            .buffered(FIRST_PAGES_AT_ONCE)
            .try_collect()
            .await?;
        let mut out = Vec::new();
        let mut skipped = 0;
        while out.len() < take {
            for c in cursors.iter_mut() {
                c.fill(self, page_size).await?;
            }
            let best = cursors
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.buf.front().map(|(k, _)| (i, k)))
                .reduce(|a, b| if (b.1 > a.1) == self.newest_first { b } else { a })
                .map(|(i, _)| i);
            let Some(i) = best else { break };
            let (_, record) = cursors[i].buf.pop_front().expect("picked a non-empty cursor");
            if skipped < skip {
                skipped += 1;
            } else {
                out.push(record);
            }
        }
        Ok(out)
    }
}

struct Cursor<T> {
    source: Source,
    buf: VecDeque<(String, T)>,
    next: Option<Item>,
    done: bool,
}

impl<T> Cursor<T> {
    fn new(source: Source) -> Cursor<T> {
        Cursor { source, buf: VecDeque::new(), next: None, done: false }
    }

    /// Reads pages until there is a record to offer or the partition ends.
    async fn fill(&mut self, m: &Merge<'_, T>, page_size: i32) -> PortResult<()> {
        while self.buf.is_empty() && !self.done {
            let mut names = m.filter.names.clone();
            let mut values = m.filter.values.clone();
            names.insert("#pk".into(), self.source.pk_name.into());
            values.insert(":pk".into(), s(&self.source.pk));
            let out = m
                .client
                .query()
                .table_name(m.table)
                .index_name(self.source.index)
                .key_condition_expression("#pk = :pk")
                .set_filter_expression(m.filter.expression())
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .scan_index_forward(!m.newest_first)
                .limit(page_size)
                .set_exclusive_start_key(self.next.take())
                .send()
                .await
                .map_err(|e| port_error(m.what, e))?;
            for item in out.items.unwrap_or_default() {
                let k = get_s(&item, m.sort_key).unwrap_or_default().to_string();
                self.buf.push_back((k, (m.decode)(&item)?));
            }
            self.next = out.last_evaluated_key.filter(|k| !k.is_empty());
            self.done = self.next.is_none();
        }
        Ok(())
    }
}
