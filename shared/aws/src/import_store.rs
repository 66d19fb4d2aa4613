//! Activity imports in their own DynamoDB table, laid out like the export
//! jobs (the SAM template creates exactly this):
//! - an item per import, keyed by `import_id`, with the import's fields as
//!   native attributes plus `created_key` (`{created_at}#{import_id}`,
//!   fixed width), `all_imports` (one constant: imports are few, one index
//!   partition holds them), `open` (only while the import is unfinished)
//!   and, once it is final, `expires_at` (the table's TTL);
//! - GSI `by_org` (`org_id`, `created_key`) and `by_all` (`all_imports`,
//!   `created_key`): the list, newest first;
//! - GSI `open` (`open`, `created_key`): sparse, the unfinished imports
//!   that housekeeping expires and re-starts;
//! - idempotency key items `idem#{scope}#{key}`, written in the same
//!   transaction as their import, treated as gone once past `expires_at`.
//!
//! Every write after the first is conditional on the version read.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{Put, Select, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::attr::{self, Item, get_n, get_s, n, s};
use super::errors::port_error;
use super::index_query::{Filter, Merge, Source};
use super::transact::transact;
use crate::domain::{ImportId, ImportJob, OrgScope};
use crate::erase::{Matching, Verdict, delete_matching};
use crate::ports::{
    ErasedImports, ImportKey, ImportKeyed, ImportPage, ImportQuery, ImportStore, PortError, PortResult,
};

pub const IMPORTS_BY_ORG: &str = "by_org";
pub const IMPORTS_BY_ALL: &str = "by_all";
pub const IMPORTS_OPEN: &str = "open";

const PK: &str = "import_id";
const CREATED_KEY: &str = "created_key";
const ALL: &str = "all_imports";
const OPEN: &str = "open";
const EXPIRES_AT: &str = "expires_at";
const BOOKKEEPING: &[&str] = &[CREATED_KEY, ALL, OPEN, EXPIRES_AT];

const KEY_FINGERPRINT: &str = "idem_fingerprint";
const KEY_IMPORT_ID: &str = "idem_import_id";
const KEY_CREATED_AT: &str = "idem_created_at";

fn created_key(job: &ImportJob) -> String {
    format!("{}#{}", job.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ"), job.import_id)
}

fn key_id(scope: &str, key: &str) -> String {
    format!("idem#{scope}#{key}")
}

fn built<T>(r: Result<T, aws_sdk_dynamodb::error::BuildError>) -> PortResult<T> {
    r.map_err(|e| PortError::Permanent(format!("request: {e}")))
}

#[derive(Clone)]
pub struct DynamoImportStore {
    client: Client,
    table: String,
    /// How long a finished import is kept.
    retention: chrono::Duration,
}

impl DynamoImportStore {
    pub fn new(client: Client, table: impl Into<String>, retention: chrono::Duration) -> Self {
        DynamoImportStore { client, table: table.into(), retention }
    }

    fn item(&self, job: &ImportJob) -> PortResult<Item> {
        let mut item = attr::to_item(job)?;
        item.insert(CREATED_KEY.into(), s(created_key(job)));
        item.insert(ALL.into(), s("imports"));
        if job.status.is_final() {
            let done = job.finished_at.unwrap_or(job.updated_at);
            item.insert(EXPIRES_AT.into(), n((done + self.retention).timestamp()));
        } else {
            item.insert(OPEN.into(), s("open"));
        }
        Ok(item)
    }

    fn new_import_put(&self, job: &ImportJob) -> PortResult<Put> {
        built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(self.item(job)?))
                .condition_expression("attribute_not_exists(import_id)")
                .build(),
        )
    }

    fn decode(item: &Item) -> PortResult<ImportJob> {
        attr::from_item(item, BOOKKEEPING)
    }

    async fn get_item(&self, id: &str) -> PortResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("read import", e))?;
        Ok(out.item)
    }

    fn merge<'a>(&'a self, newest_first: bool, filter: &'a Filter) -> Merge<'a, ImportJob> {
        Merge {
            client: &self.client,
            table: &self.table,
            sort_key: CREATED_KEY,
            newest_first,
            filter,
            decode: Self::decode,
            what: "list imports",
        }
    }

    /// How many imports the sources hold that pass the filter.
    async fn count(&self, sources: &[Source], filter: Option<&str>) -> PortResult<u64> {
        let mut total = 0u64;
        for source in sources {
            let mut next: Option<Item> = None;
            loop {
                let mut q = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(source.index)
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", source.pk_name)
                    .expression_attribute_values(":pk", s(&source.pk))
                    .select(Select::Count)
                    .set_exclusive_start_key(next.take());
                if let Some(status) = filter {
                    q = q
                        .filter_expression("#st = :st")
                        .expression_attribute_names("#st", "status")
                        .expression_attribute_values(":st", s(status));
                }
                let out = q.send().await.map_err(|e| port_error("count imports", e))?;
                total += out.count.max(0) as u64;
                next = out.last_evaluated_key.filter(|k| !k.is_empty());
                if next.is_none() {
                    break;
                }
            }
        }
        Ok(total)
    }
}

fn key_item(key: &ImportKey) -> Item {
    HashMap::from([
        (PK.to_string(), s(key_id(&key.scope, &key.key))),
        (KEY_FINGERPRINT.to_string(), s(&key.fingerprint)),
        (KEY_IMPORT_ID.to_string(), s(key.import_id.as_str())),
        (KEY_CREATED_AT.to_string(), n(key.created_at.timestamp_micros())),
        (EXPIRES_AT.to_string(), n(key.expires_at.timestamp())),
    ])
}

fn key_from_item(scope: &str, key: &str, item: &Item) -> PortResult<ImportKey> {
    let unreadable = || PortError::Permanent("stored idempotency key is unreadable".into());
    Ok(ImportKey {
        scope: scope.to_string(),
        key: key.to_string(),
        fingerprint: get_s(item, KEY_FINGERPRINT).ok_or_else(unreadable)?.to_string(),
        import_id: get_s(item, KEY_IMPORT_ID).and_then(ImportId::parse).ok_or_else(unreadable)?,
        created_at: get_n(item, KEY_CREATED_AT).and_then(DateTime::from_timestamp_micros).ok_or_else(unreadable)?,
        expires_at: get_n(item, EXPIRES_AT).and_then(|v| DateTime::from_timestamp(v, 0)).ok_or_else(unreadable)?,
    })
}

#[async_trait]
impl ImportStore for DynamoImportStore {
    async fn insert_import(&self, job: &ImportJob) -> PortResult<()> {
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.item(job)?))
            .condition_expression("attribute_not_exists(import_id)")
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_))) => {
                Err(PortError::Conflict)
            }
            Err(e) => Err(port_error("store import", e)),
        }
    }

    async fn insert_import_keyed(&self, job: &ImportJob, key: &ImportKey) -> PortResult<ImportKeyed> {
        let key_put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(key_item(key)))
                .condition_expression("attribute_not_exists(#pk) OR #exp <= :now")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#exp", EXPIRES_AT)
                .expression_attribute_values(":now", n(key.created_at.timestamp()))
                .build(),
        )?;
        let items = vec![
            TransactWriteItem::builder().put(key_put).build(),
            TransactWriteItem::builder().put(self.new_import_put(job)?).build(),
        ];
        let outcome = match transact(&self.client, "store import with its idempotency key", items).await {
            // Refused without its conditions evaluated, after a burst on the
            // same key: the winner may long have committed.
            Err(PortError::Transient(reason)) => {
                return match self.import_key(&key.scope, &key.key, key.created_at).await? {
                    Some(existing) => Ok(ImportKeyed::KeyTaken(existing)),
                    None => Err(PortError::Transient(reason)),
                };
            }
            other => other?,
        };
        match outcome {
            Ok(()) => Ok(ImportKeyed::Inserted),
            Err(_) => match self.import_key(&key.scope, &key.key, key.created_at).await? {
                Some(existing) => Ok(ImportKeyed::KeyTaken(existing)),
                None => Err(PortError::Conflict),
            },
        }
    }

    async fn import_key(&self, scope: &str, key: &str, now: DateTime<Utc>) -> PortResult<Option<ImportKey>> {
        let Some(item) = self.get_item(&key_id(scope, key)).await? else { return Ok(None) };
        let record = key_from_item(scope, key, &item)?;
        Ok((record.expires_at > now).then_some(record))
    }

    async fn get_import(&self, id: &ImportId) -> PortResult<Option<ImportJob>> {
        self.get_item(id.as_str()).await?.as_ref().map(Self::decode).transpose()
    }

    async fn list_imports(&self, query: &ImportQuery) -> PortResult<ImportPage> {
        let sources: Vec<Source> = match &query.scope {
            OrgScope::All => vec![Source { index: IMPORTS_BY_ALL, pk_name: ALL, pk: "imports".into() }],
            OrgScope::Only(orgs) => {
                let mut orgs = orgs.clone();
                orgs.sort();
                orgs.dedup();
                orgs.into_iter().map(|o| Source { index: IMPORTS_BY_ORG, pk_name: "org_id", pk: o }).collect()
            }
        };
        if sources.is_empty() {
            return Ok(ImportPage { imports: Vec::new(), total: 0 });
        }
        let status = query.status.map(|s| s.as_str());
        let mut filter = Filter::default();
        if let Some(st) = status {
            filter = filter.equals("status", st);
        }
        let total = self.count(&sources, status).await?;
        let limit = query.limit.max(1) as usize;
        let skip = (query.page.max(1) as usize - 1).saturating_mul(limit);
        let imports = self.merge(true, &filter).read(sources, skip, limit).await?;
        Ok(ImportPage { imports, total })
    }

    async fn update_import(&self, job: &ImportJob, expected_version: u64) -> PortResult<()> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.item(job)?))
            .condition_expression("#ver = :v")
            .expression_attribute_names("#ver", "version")
            .expression_attribute_values(":v", n(expected_version))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_))) => {
                Err(PortError::Conflict)
            }
            Err(e) => Err(port_error("update import", e)),
        }
    }

    async fn erase_imports(&self, org_id: &str) -> PortResult<ErasedImports> {
        let imports = delete_matching(
            &self.client,
            &self.table,
            &[PK],
            Matching::Partition { index: Some(IMPORTS_BY_ORG), name: "org_id", value: org_id },
            |_| Verdict::DeleteCounted,
            "erase imports",
        )
        .await?;
        // `idem#{scope}#`: the trailing `#` keeps `org-1` from matching `org-10`.
        let keys = delete_matching(
            &self.client,
            &self.table,
            &[PK],
            Matching::ScanPrefix { name: PK, prefix: &key_id(org_id, "") },
            |_| Verdict::DeleteCounted,
            "erase import keys",
        )
        .await?;
        Ok(ErasedImports { imports, keys })
    }

    async fn unfinished_imports(&self) -> PortResult<Vec<ImportJob>> {
        let sources = vec![Source { index: IMPORTS_OPEN, pk_name: OPEN, pk: "open".into() }];
        self.merge(false, &Filter::default()).read(sources, 0, usize::MAX).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookkeeping_attributes_do_not_reach_the_record() {
        let store = DynamoImportStore::new(
            aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::Config::builder().behavior_version_latest().region(None).build(),
            ),
            "t",
            chrono::Duration::days(30),
        );
        let job = crate::domain::fixtures::import();
        let item = store.item(&job).unwrap();
        assert_eq!(get_s(&item, OPEN), Some("open"));
        assert_eq!(DynamoImportStore::decode(&item).unwrap(), job);
    }
}
