//! Export jobs in one DynamoDB table.
//!
//! Layout (the SAM template creates exactly this):
//! - a job item per export, keyed by `export_id`, with the job's fields as
//!   native attributes plus bookkeeping attributes:
//!   `created_key` (`{created_at}#{export_id}`, fixed width, so it sorts by
//!   time and breaks ties like the embedded store), `all_shard`, and, only
//!   while the job is queued or running, `active_shard`; `expires_at`
//!   (epoch seconds, the table's TTL attribute) once the job is finished;
//! - GSI `by_org` (`org_id`, `created_key`): the list endpoint for callers
//!   acting for some organisations, newest first;
//! - GSI `by_all` (`all_shard`, `created_key`): the administrator's list;
//!   the jobs are spread over [`SHARDS`] partitions so no single index
//!   partition takes every write;
//! - GSI `active` (`active_shard`, `created_key`): sparse, only queued and
//!   running jobs, for [`JobStore::unfinished`];
//! - counter items `count#org#{org_id}` and `count#all#{shard}` holding one
//!   number per (status, format) cell, kept exact by the same transaction
//!   that inserts a job, changes its status or deletes it, so `total` is a
//!   handful of reads whatever the number of jobs. Jobs that DynamoDB's TTL
//!   removes are taken off the counters by the `jobs-expired` function
//!   (a DynamoDB stream consumer, see [`DynamoJobStore::forget_expired`]);
//! - on the organisation's counter item, `in_flight`: its queued and
//!   running jobs. The transaction that adds one (an insert, a retry)
//!   carries the condition `in_flight < cap`, and every transaction that
//!   moves a job out of queued/running (complete, fail, cancel, the
//!   watchdog, delete) takes it off, so the cap holds exactly under any
//!   burst and a crash can never leave a slot taken;
//! - idempotency key items `idem#{scope}#{key}`, written in the transaction
//!   that inserts their job and removed by the TTL (see `keys.rs`).
//!
//! Every write is conditional on the version the writer read
//! (`ConditionalCheckFailed` -> [`PortError::Conflict`]), except a running
//! attempt's progress, which is conditional on the status and attempt.
//!
//! Paging: DynamoDB pages by key, the API by page number. A page beyond the
//! first walks past the earlier pages' keys (reading `page * limit` items of
//! each organisation in the scope at most). That is cheap for the list
//! endpoint's limits (at most 100 per page) and the first few pages people
//! actually look at; deep pages cost proportionally more reads.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};

use super::attr::{self, Item, get_n, get_s, n, s};
use super::errors::port_error;
use super::index_query::{Filter, Merge, Source};
use super::transact::{Cancelled, RETRY_BACKOFF, TRANSACTION_TRIES, transact};
use crate::domain::{ExportFormat, ExportId, ExportJob, ExportStatus, OrgScope, Progress};
use crate::ports::{DEFAULT_IN_FLIGHT_CAP, JobPage, JobQuery, JobStore, PortError, PortResult};

mod keys;

/// Partitions of the administrator's and the unfinished jobs' indexes.
pub const SHARDS: u32 = 4;
pub const INDEX_BY_ORG: &str = "by_org";
pub const INDEX_BY_ALL: &str = "by_all";
pub const INDEX_ACTIVE: &str = "active";

const PK: &str = "export_id";
const CREATED_KEY: &str = "created_key";
const ALL_SHARD: &str = "all_shard";
const ACTIVE_SHARD: &str = "active_shard";
const EXPIRES_AT: &str = "expires_at";
/// On an organisation's counter item: its jobs queued or running.
const IN_FLIGHT: &str = "in_flight";
/// Attributes that are bookkeeping, not fields of [`ExportJob`].
const BOOKKEEPING: &[&str] = &[CREATED_KEY, ALL_SHARD, ACTIVE_SHARD, EXPIRES_AT];
/// How long a marker that a TTL removal was counted is kept.
const TOMBSTONE_DAYS: i64 = 7;

#[derive(Clone)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
    job_retention: chrono::Duration,
    in_flight_cap: u32,
}

/// Which counter cells a job occupies.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cell {
    org_id: String,
    shard: u32,
    status: String,
    format: String,
}

impl Cell {
    fn of(job: &ExportJob) -> Cell {
        Cell {
            org_id: job.org_id.clone(),
            shard: shard_of(job.export_id.as_str()),
            status: job.status.as_str().to_string(),
            format: job.format.as_str().to_string(),
        }
    }

    fn from_item(item: &Item) -> Option<Cell> {
        Some(Cell {
            org_id: get_s(item, "org_id")?.to_string(),
            shard: shard_of(get_s(item, PK)?),
            status: get_s(item, "status")?.to_string(),
            format: get_s(item, "format")?.to_string(),
        })
    }

    fn counter(&self) -> String {
        counter_attr(&self.status, &self.format)
    }
}

fn counter_attr(status: &str, format: &str) -> String {
    format!("n_{status}_{format}")
}

fn org_counter_key(org_id: &str) -> String {
    format!("count#org#{org_id}")
}

fn all_counter_key(shard: u32) -> String {
    format!("count#all#{shard}")
}

/// FNV-1a of the id: stable across processes and releases.
fn shard_of(export_id: &str) -> u32 {
    let mut h: u32 = 0x811c9dc5;
    for b in export_id.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x01000193);
    }
    h % SHARDS
}

/// Fixed width, so text order is time order.
fn created_key(job: &ExportJob) -> String {
    format!("{}#{}", job.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ"), job.export_id)
}

fn key(id: &str) -> Item {
    HashMap::from([(PK.to_string(), s(id))])
}

fn built<T>(r: Result<T, aws_sdk_dynamodb::error::BuildError>) -> PortResult<T> {
    r.map_err(|e| PortError::Permanent(format!("request: {e}")))
}

fn finished_at(job: &ExportJob) -> Option<DateTime<Utc>> {
    if job.status.is_active() {
        return None;
    }
    Some(job.completed_at.or(job.failed_at).or(job.cancelled_at).unwrap_or(job.updated_at))
}

impl DynamoJobStore {
    pub fn new(client: Client, table: impl Into<String>, job_retention: chrono::Duration) -> Self {
        DynamoJobStore { client, table: table.into(), job_retention, in_flight_cap: DEFAULT_IN_FLIGHT_CAP }
    }

    /// The most exports one organisation may have queued or running.
    pub fn with_in_flight_cap(mut self, cap: u32) -> Self {
        self.in_flight_cap = cap;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn item(&self, job: &ExportJob) -> PortResult<Item> {
        let mut item = attr::to_item(job)?;
        let shard = shard_of(job.export_id.as_str());
        item.insert(CREATED_KEY.into(), s(created_key(job)));
        item.insert(ALL_SHARD.into(), s(format!("all#{shard}")));
        if job.status.is_active() {
            item.insert(ACTIVE_SHARD.into(), s(format!("active#{shard}")));
        }
        if let Some(done) = finished_at(job) {
            item.insert(EXPIRES_AT.into(), n((done + self.job_retention).timestamp()));
        }
        Ok(item)
    }

    /// The Put of a job that must not exist yet (plain and keyed inserts).
    pub(super) fn new_job_put(&self, job: &ExportJob) -> PortResult<Put> {
        built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(self.item(job)?))
                .condition_expression("attribute_not_exists(export_id)")
                .build(),
        )
    }

    fn decode(item: &Item) -> PortResult<ExportJob> {
        attr::from_item(item, BOOKKEEPING)
    }

    /// `ADD` of `delta` to each counter cell, one update per counter item
    /// (a transaction may touch an item only once), the organisation's item
    /// first. Where the change adds to an organisation's jobs in flight, its
    /// update carries the cap as a condition: the transaction then fails on
    /// that item (index 0 of what this returns) when the organisation is full.
    fn counter_updates(&self, changes: &[(Cell, i64)]) -> PortResult<Vec<TransactWriteItem>> {
        let mut in_flight: Vec<(String, i64)> = Vec::new();
        for (cell, delta) in changes {
            let active = ExportStatus::parse(&cell.status).is_some_and(ExportStatus::is_active);
            if active {
                let key = org_counter_key(&cell.org_id);
                match in_flight.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot.1 += delta,
                    None => in_flight.push((key, *delta)),
                }
            }
        }
        let mut by_item: Vec<(String, Vec<(String, i64)>)> = Vec::new();
        for (cell, delta) in changes {
            for key in [org_counter_key(&cell.org_id), all_counter_key(cell.shard)] {
                let slot = match by_item.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot,
                    None => {
                        by_item.push((key, Vec::new()));
                        by_item.last_mut().unwrap()
                    }
                };
                match slot.1.iter_mut().find(|(c, _)| *c == cell.counter()) {
                    Some(existing) => existing.1 += delta,
                    None => slot.1.push((cell.counter(), *delta)),
                }
            }
        }
        by_item
            .into_iter()
            .filter_map(|(k, cells)| {
                let cells: Vec<_> = cells.into_iter().filter(|(_, d)| *d != 0).collect();
                let flight = in_flight.iter().find(|(f, _)| *f == k).map(|(_, d)| *d).filter(|d| *d != 0);
                if cells.is_empty() && flight.is_none() {
                    return None;
                }
                let mut update = Update::builder().table_name(&self.table).set_key(Some(key(&k)));
                let mut adds = Vec::new();
                for (i, (cell, delta)) in cells.iter().enumerate() {
                    adds.push(format!("#c{i} :d{i}"));
                    update = update
                        .expression_attribute_names(format!("#c{i}"), cell)
                        .expression_attribute_values(format!(":d{i}"), n(delta));
                }
                if let Some(delta) = flight {
                    adds.push("#inf :dinf".to_string());
                    update = update
                        .expression_attribute_names("#inf", IN_FLIGHT)
                        .expression_attribute_values(":dinf", n(delta));
                    if delta > 0 {
                        // Room for `delta` more: at most cap - delta now.
                        let room = i64::from(self.in_flight_cap) - delta;
                        update = update
                            .condition_expression("attribute_not_exists(#inf) OR #inf <= :room")
                            .expression_attribute_values(":room", n(room));
                    }
                }
                Some(
                    built(update.update_expression(format!("ADD {}", adds.join(", "))).build())
                        .map(|u| TransactWriteItem::builder().update(u).build()),
                )
            })
            .collect()
    }

    async fn transact(&self, what: &str, items: Vec<TransactWriteItem>) -> PortResult<Result<(), Cancelled>> {
        transact(&self.client, what, items).await
    }

    async fn get_item(&self, id: &str) -> PortResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("read export", e))?;
        Ok(out.item)
    }

    /// Removes the organisation's counter item once every count on it is
    /// zero (no job of it is left), on the condition that they still are,
    /// so a job created meanwhile keeps its counter.
    async fn drop_counter_if_zero(&self, org_id: &str) -> PortResult<()> {
        let id = org_counter_key(org_id);
        let Some(item) = self.get_item(&id).await? else { return Ok(()) };
        let counts: Vec<&String> = item.keys().filter(|k| k.as_str() != PK).collect();
        if counts.iter().any(|k| get_n(&item, k).is_none_or(|v| v != 0)) {
            return Ok(());
        }
        let mut delete = self.client.delete_item().table_name(&self.table).set_key(Some(key(&id)));
        let mut condition = Vec::new();
        for (i, name) in counts.iter().enumerate() {
            condition.push(format!("#c{i} = :zero"));
            delete = delete.expression_attribute_names(format!("#c{i}"), name.as_str());
        }
        if !condition.is_empty() {
            delete = delete.condition_expression(condition.join(" AND ")).expression_attribute_values(":zero", n(0));
        }
        match delete.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(port_error("erase the organisation's counter", e)),
        }
    }

    /// Sums the counter cells matching the query's filters.
    async fn total(&self, counter_keys: Vec<String>, query: &JobQuery) -> PortResult<u64> {
        let statuses: Vec<ExportStatus> = query.status.map(|s| vec![s]).unwrap_or_else(|| ExportStatus::ALL.to_vec());
        let formats: Vec<ExportFormat> = query.format.map(|f| vec![f]).unwrap_or_else(|| ExportFormat::ALL.to_vec());
        let cells: Vec<String> =
            statuses.iter().flat_map(|st| formats.iter().map(move |f| counter_attr(st.as_str(), f.as_str()))).collect();
        let mut total: i64 = 0;
        for chunk in counter_keys.chunks(100) {
            let mut pending: Option<KeysAndAttributes> = Some(built(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.iter().map(|k| key(k)).collect()))
                    .consistent_read(true)
                    .build(),
            )?);
            let mut tries = 1;
            while let Some(request) = pending.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| port_error("count exports", e))?;
                for item in out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                    total += cells.iter().filter_map(|c| get_n(&item, c)).sum::<i64>();
                }
                pending = out.unprocessed_keys.unwrap_or_default().remove(&self.table).filter(|k| !k.keys.is_empty());
                if pending.is_some() {
                    tries += 1;
                    RETRY_BACKOFF.wait(tries).await;
                }
            }
        }
        Ok(total.max(0) as u64)
    }

    /// Takes a job that DynamoDB's TTL removed off the counters, given the
    /// removed item (the stream record's old image). Idempotent: a
    /// redelivered record finds its tombstone and changes nothing.
    pub async fn forget_expired(&self, old_image: &Item) -> PortResult<bool> {
        let Some(id) = get_s(old_image, PK).filter(|id| ExportId::parse(id).is_some()) else {
            return Ok(false);
        };
        let Some(cell) = Cell::from_item(old_image) else { return Ok(false) };
        let tombstone = HashMap::from([
            (PK.to_string(), s(format!("gone#{id}"))),
            (EXPIRES_AT.to_string(), n((Utc::now() + chrono::Duration::days(TOMBSTONE_DAYS)).timestamp())),
        ]);
        let mut items = vec![
            TransactWriteItem::builder()
                .put(built(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(tombstone))
                        .condition_expression("attribute_not_exists(export_id)")
                        .build(),
                )?)
                .build(),
        ];
        items.extend(self.counter_updates(&[(cell, -1)])?);
        Ok(self.transact("count expired export", items).await?.is_ok())
    }

    fn merge<'a>(&'a self, newest_first: bool, filter: &'a Filter) -> Merge<'a, ExportJob> {
        Merge {
            client: &self.client,
            table: &self.table,
            sort_key: CREATED_KEY,
            newest_first,
            filter,
            decode: Self::decode,
            what: "list exports",
        }
    }
}

/// The list's status and format filters.
fn filter_of(query: &JobQuery) -> Filter {
    let mut f = Filter::default();
    if let Some(st) = query.status {
        f = f.equals("status", st.as_str());
    }
    if let Some(fmt) = query.format {
        f = f.equals("format", fmt.as_str());
    }
    f
}

#[async_trait]
impl JobStore for DynamoJobStore {
    async fn insert(&self, job: &ExportJob) -> PortResult<()> {
        let put = self.new_job_put(job)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        items.extend(self.counter_updates(&[(Cell::of(job), 1)])?);
        match self.transact("store export", items).await? {
            Ok(()) => Ok(()),
            // Item 1 is the organisation's counter, which carries the cap.
            Err(c) if c.failed_at(1) => Err(PortError::InFlightCapReached),
            Err(_) => Err(PortError::Conflict),
        }
    }

    async fn get(&self, id: &ExportId) -> PortResult<Option<ExportJob>> {
        self.get_item(id.as_str()).await?.as_ref().map(Self::decode).transpose()
    }

    async fn list(&self, query: &JobQuery) -> PortResult<JobPage> {
        let (sources, counters): (Vec<Source>, Vec<String>) = match &query.scope {
            OrgScope::All => (0..SHARDS)
                .map(|i| {
                    (Source { index: INDEX_BY_ALL, pk_name: ALL_SHARD, pk: format!("all#{i}") }, all_counter_key(i))
                })
                .unzip(),
            OrgScope::Only(orgs) => {
                let mut orgs = orgs.clone();
                orgs.sort();
                orgs.dedup();
                orgs.into_iter()
                    .map(|o| (Source { index: INDEX_BY_ORG, pk_name: "org_id", pk: o.clone() }, org_counter_key(&o)))
                    .unzip()
            }
        };
        if sources.is_empty() {
            return Ok(JobPage { jobs: Vec::new(), total: 0 });
        }
        let limit = query.limit.max(1) as usize;
        let skip = (query.page.max(1) as usize - 1).saturating_mul(limit);
        let filter = filter_of(query);
        let (jobs, total) = futures::future::try_join(
            self.merge(true, &filter).read(sources, skip, limit),
            self.total(counters, query),
        )
        .await?;
        Ok(JobPage { jobs, total })
    }

    async fn update(&self, job: &ExportJob, expected_version: u64) -> PortResult<()> {
        let item = self.item(job)?;
        let new_cell = Cell::of(job);
        // The common case (progress, file, reference): the counters stay.
        let same_cell = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.clone()))
            .condition_expression("#ver = :v AND #st = :st AND #fmt = :fmt AND #org = :org")
            .expression_attribute_names("#ver", "version")
            .expression_attribute_names("#org", "org_id")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#fmt", "format")
            .expression_attribute_values(":v", n(expected_version))
            .expression_attribute_values(":st", s(&new_cell.status))
            .expression_attribute_values(":fmt", s(&new_cell.format))
            .expression_attribute_values(":org", s(&new_cell.org_id))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let old = match same_cell {
            Ok(_) => return Ok(()),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => c.item().cloned(),
                _ => return Err(port_error("update export", e)),
            },
        };
        // Gone, or changed by someone else since it was read.
        let Some(old) = old else { return Err(PortError::Conflict) };
        if get_n(&old, "version") != Some(expected_version as i64) {
            return Err(PortError::Conflict);
        }
        // The status (or format, or organisation) changes: move the counters with it.
        let old_cell = Cell::from_item(&old).ok_or_else(|| PortError::Permanent("stored export lacks keys".into()))?;
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("#ver = :v AND #st = :st AND #fmt = :fmt AND #org = :org")
                .expression_attribute_names("#ver", "version")
                .expression_attribute_names("#org", "org_id")
                .expression_attribute_names("#st", "status")
                .expression_attribute_names("#fmt", "format")
                .expression_attribute_values(":v", n(expected_version))
                .expression_attribute_values(":st", s(&old_cell.status))
                .expression_attribute_values(":fmt", s(&old_cell.format))
                .expression_attribute_values(":org", s(&old_cell.org_id))
                .build(),
        )?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        items.extend(self.counter_updates(&[(old_cell, -1), (new_cell, 1)])?);
        match self.transact("update export", items).await? {
            Ok(()) => Ok(()),
            // A retry: item 1, the organisation's counter, carries the cap.
            Err(c) if c.failed_at(1) && !c.failed_at(0) => Err(PortError::InFlightCapReached),
            Err(_) => Err(PortError::Conflict),
        }
    }

    async fn record_progress(
        &self,
        id: &ExportId,
        attempt: u32,
        progress: &Progress,
        at: DateTime<Utc>,
    ) -> PortResult<()> {
        let encode = |v: serde_json::Result<serde_json::Value>| {
            v.map(|v| attr::to_attr(&v)).map_err(|e| PortError::Permanent(format!("encode progress: {e}")))
        };
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(id.as_str()))
            .update_expression("SET #p = :p, #u = :u")
            .condition_expression("#st = :running AND #rc = :rc")
            .expression_attribute_names("#p", "progress")
            .expression_attribute_names("#u", "updated_at")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#rc", "retry_count")
            .expression_attribute_values(":p", encode(serde_json::to_value(progress))?)
            .expression_attribute_values(":u", encode(serde_json::to_value(at))?)
            .expression_attribute_values(":running", s(ExportStatus::Running.as_str()))
            .expression_attribute_values(":rc", n(attempt.saturating_sub(1)))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Err(PortError::Conflict),
                _ => Err(port_error("record progress", e)),
            },
        }
    }

    async fn delete(&self, id: &ExportId) -> PortResult<()> {
        for _ in 0..TRANSACTION_TRIES {
            let Some(old) = self.get_item(id.as_str()).await? else { return Ok(()) };
            let cell = Cell::from_item(&old).ok_or_else(|| PortError::Permanent("stored export lacks keys".into()))?;
            let version = old.get("version").cloned().unwrap_or(AttributeValue::Null(true));
            let delete = built(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(id.as_str())))
                    .condition_expression("#ver = :v")
                    .expression_attribute_names("#ver", "version")
                    .expression_attribute_values(":v", version)
                    .build(),
            )?;
            let mut items = vec![TransactWriteItem::builder().delete(delete).build()];
            items.extend(self.counter_updates(&[(cell, -1)])?);
            match self.transact("delete export", items).await? {
                Ok(()) => return Ok(()),
                // changed meanwhile: read it again
                Err(_) => continue,
            }
        }
        Err(PortError::Transient("the export kept changing while being deleted".into()))
    }

    async fn unfinished(&self) -> PortResult<Vec<ExportJob>> {
        let sources = (0..SHARDS)
            .map(|i| Source { index: INDEX_ACTIVE, pk_name: ACTIVE_SHARD, pk: format!("active#{i}") })
            .collect();
        self.merge(false, &Filter::default()).read(sources, 0, usize::MAX).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_keys_sort_like_time_then_id() {
        let mut a = crate::domain::fixtures::job();
        let mut b = a.clone();
        b.created_at = a.created_at + chrono::Duration::microseconds(1);
        assert!(created_key(&a) < created_key(&b));
        a.created_at = "2026-03-26T09:59:59.999999Z".parse().unwrap();
        assert_eq!(created_key(&a), "2026-03-26T09:59:59.999999Z#exp-20260326-xyz789");
        b.created_at = "2026-03-26T10:00:00Z".parse().unwrap();
        assert!(created_key(&a) < created_key(&b));
    }

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard_of("exp-20260326-xyz789"), shard_of("exp-20260326-xyz789"));
        let used: std::collections::HashSet<u32> =
            (0..100).map(|i| shard_of(&format!("exp-20260326-{i:06}"))).collect();
        assert_eq!(used.len(), SHARDS as usize);
    }
}
