//! Webhook endpoints and their deliveries in a DynamoDB table of their
//! own, keyed `pk`/`sk` (the SAM template creates exactly this):
//! - an endpoint is `endpoint#{id}`/`endpoint`, its fields as native
//!   attributes plus `endpoint_org` and `created_key` (`{created_at}#{id}`,
//!   fixed width) for GSI `by_org`: an organisation's endpoints, oldest
//!   first. Only endpoints carry `endpoint_org`, so the index holds nothing
//!   else;
//! - a counter per organisation, `org#{org_id}`/`endpoints`, holds `count`.
//!   The cap is a condition on it in the transaction that puts the
//!   endpoint, so no burst of inserts gets past it (counting the index
//!   would read a stale count before the write);
//! - a delivery lives in its endpoint's partition under
//!   `delivery#{created_at}#{id}`: read backwards the partition lists the
//!   newest first, and the endpoint's delete finds them all. While pending
//!   it also carries `due_part`/`due_key` (`{next_attempt_at}#{id}`) for GSI
//!   `due`, and `pending_subject` (`{endpoint_id}#{subject}`) beside its
//!   own `order_key` for GSI `pending_by_subject`; once finished it drops
//!   them and leaves both indexes (they are sparse);
//! - beside each delivery an `id#{delivery_id}` item, written in the same
//!   transaction: the delivery's sort key holds `created_at`, which an
//!   event handled again sets anew, so only this item makes a second insert
//!   of the same id fail;
//! - `expires_at` (the table's TTL) drops a delivery and its id item 30
//!   days after it was made, whatever became of it.
//!
//! Every write after the first is conditional on the version read.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{Delete, DeleteRequest, Put, TransactWriteItem, Update, WriteRequest};
use chrono::{DateTime, Utc};

use super::attr::{self, Item, get_s, n, s};
use super::errors::port_error;
use super::transact::{batch_write, transact};
use crate::domain::{DeliveryStatus, WebhookDelivery, WebhookEndpoint};
use crate::ports::{PortError, PortResult, WebhookStore};

pub const WEBHOOKS_BY_ORG: &str = "by_org";
pub const WEBHOOKS_DUE: &str = "due";
pub const WEBHOOKS_PENDING_BY_SUBJECT: &str = "pending_by_subject";

const PK: &str = "pk";
const SK: &str = "sk";
const ENDPOINT_SK: &str = "endpoint";
const COUNTER_SK: &str = "endpoints";
const DELIVERY_PREFIX: &str = "delivery#";
const ENDPOINT_ORG: &str = "endpoint_org";
const CREATED_KEY: &str = "created_key";
const DUE_PART: &str = "due_part";
const DUE_KEY: &str = "due_key";
const PENDING_SUBJECT: &str = "pending_subject";
const EXPIRES_AT: &str = "expires_at";
/// Pending deliveries are few at any moment: one index partition holds them.
const PENDING: &str = "pending";
const ENDPOINT_BOOKKEEPING: &[&str] = &[PK, SK, ENDPOINT_ORG, CREATED_KEY];
const DELIVERY_BOOKKEEPING: &[&str] = &[PK, SK, DUE_PART, DUE_KEY, PENDING_SUBJECT, EXPIRES_AT];
/// Longer than any delivery's retry window, so only finished ones expire.
const DELIVERY_RETENTION_DAYS: i64 = 30;

/// Sorts like the time it shows, to the microsecond.
fn fixed(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn endpoint_pk(id: &str) -> String {
    format!("endpoint#{id}")
}

/// Made from fields that never change, so an update finds the item again.
fn delivery_sk(d: &WebhookDelivery) -> String {
    format!("{DELIVERY_PREFIX}{}#{}", fixed(d.created_at), d.id)
}

fn key(pk: String, sk: &str) -> Item {
    Item::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

fn built<T>(r: Result<T, aws_sdk_dynamodb::error::BuildError>) -> PortResult<T> {
    r.map_err(|e| PortError::Permanent(format!("request: {e}")))
}

#[derive(Clone)]
pub struct DynamoWebhookStore {
    client: Client,
    table: String,
}

impl DynamoWebhookStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoWebhookStore { client, table: table.into() }
    }

    fn endpoint_item(e: &WebhookEndpoint) -> PortResult<Item> {
        let mut item = attr::to_item(e)?;
        item.insert(PK.into(), s(endpoint_pk(&e.id)));
        item.insert(SK.into(), s(ENDPOINT_SK));
        item.insert(ENDPOINT_ORG.into(), s(&e.org_id));
        item.insert(CREATED_KEY.into(), s(format!("{}#{}", fixed(e.created_at), e.id)));
        Ok(item)
    }

    fn expires_at(d: &WebhookDelivery) -> i64 {
        (d.created_at + chrono::Duration::days(DELIVERY_RETENTION_DAYS)).timestamp()
    }

    fn delivery_item(d: &WebhookDelivery) -> PortResult<Item> {
        let mut item = attr::to_item(d)?;
        item.insert(PK.into(), s(endpoint_pk(&d.endpoint_id)));
        item.insert(SK.into(), s(delivery_sk(d)));
        item.insert(EXPIRES_AT.into(), n(Self::expires_at(d)));
        if d.status == DeliveryStatus::Pending {
            item.insert(DUE_PART.into(), s(PENDING));
            item.insert(DUE_KEY.into(), s(format!("{}#{}", fixed(d.next_attempt_at), d.id)));
            item.insert(PENDING_SUBJECT.into(), s(format!("{}#{}", d.endpoint_id, d.subject)));
        }
        Ok(item)
    }

    fn id_item(d: &WebhookDelivery) -> Item {
        let mut item = key(endpoint_pk(&d.endpoint_id), &format!("id#{}", d.id));
        item.insert(EXPIRES_AT.into(), n(Self::expires_at(d)));
        item
    }

    fn new_put(&self, item: Item) -> PortResult<TransactWriteItem> {
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The organisation's counter going up or down by one; only going up
    /// carries the cap.
    fn counter(&self, org_id: &str, up: Option<u32>) -> PortResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(format!("org#{org_id}"), COUNTER_SK)))
            .expression_attribute_names("#c", "count")
            .expression_attribute_values(":one", n(1));
        let update = match up {
            Some(cap) => update
                .update_expression("SET #c = if_not_exists(#c, :zero) + :one")
                .condition_expression("attribute_not_exists(#c) OR #c < :cap")
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":cap", n(cap)),
            // never below zero, should the counter ever be missing
            None => update.update_expression("SET #c = if_not_exists(#c, :one) - :one"),
        };
        Ok(TransactWriteItem::builder().update(built(update.build())?).build())
    }

    async fn put_versioned(&self, item: Item, expected_version: u64, what: &str) -> PortResult<()> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
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
            Err(e) => Err(port_error(what, e)),
        }
    }

    fn query(&self) -> QueryFluentBuilder {
        self.client.query().table_name(&self.table)
    }

    /// The query's items, page after page, up to `limit`.
    async fn read(&self, query: QueryFluentBuilder, limit: usize, what: &str) -> PortResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        while items.len() < limit {
            let left = i32::try_from(limit - items.len()).unwrap_or(i32::MAX);
            let out = query
                .clone()
                .limit(left)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| port_error(what, e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                break;
            }
        }
        Ok(items)
    }

    fn deliveries(items: Vec<Item>) -> PortResult<Vec<WebhookDelivery>> {
        items.iter().map(|i| attr::from_item(i, DELIVERY_BOOKKEEPING)).collect()
    }

    /// Every item left in a deleted endpoint's partition: its deliveries
    /// and their id items.
    async fn delete_deliveries(&self, endpoint_id: &str) -> PortResult<()> {
        let query = self
            .query()
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(endpoint_pk(endpoint_id)))
            .projection_expression("#pk, #sk")
            .consistent_read(true);
        let keys: Vec<Item> = self
            .read(query, usize::MAX, "list webhook deliveries to delete")
            .await?
            .into_iter()
            .filter(|k| get_s(k, SK) != Some(ENDPOINT_SK))
            .collect();
        for chunk in keys.chunks(25) {
            let requests = chunk
                .iter()
                .map(|k| {
                    let delete = built(DeleteRequest::builder().set_key(Some(k.clone())).build())?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<PortResult<Vec<_>>>()?;
            batch_write(&self.client, &self.table, requests, "delete webhook deliveries").await?;
        }
        Ok(())
    }
}

#[async_trait]
impl WebhookStore for DynamoWebhookStore {
    async fn insert_endpoint(&self, endpoint: &WebhookEndpoint, cap: u32) -> PortResult<()> {
        // A missing counter passes the cap's condition, whatever the cap.
        if cap == 0 {
            return Err(PortError::LimitReached);
        }
        let items = vec![self.counter(&endpoint.org_id, Some(cap))?, self.new_put(Self::endpoint_item(endpoint)?)?];
        match transact(&self.client, "store webhook endpoint", items).await? {
            Ok(()) => Ok(()),
            Err(c) if c.failed_at(1) => Err(PortError::Conflict),
            Err(_) => Err(PortError::LimitReached),
        }
    }

    async fn get_endpoint(&self, id: &str) -> PortResult<Option<WebhookEndpoint>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(endpoint_pk(id), ENDPOINT_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("read webhook endpoint", e))?;
        out.item.as_ref().map(|i| attr::from_item(i, ENDPOINT_BOOKKEEPING)).transpose()
    }

    async fn list_endpoints(&self, org_id: &str) -> PortResult<Vec<WebhookEndpoint>> {
        let query = self
            .query()
            .index_name(WEBHOOKS_BY_ORG)
            .key_condition_expression("#org = :org")
            .expression_attribute_names("#org", ENDPOINT_ORG)
            .expression_attribute_values(":org", s(org_id))
            .scan_index_forward(true);
        let items = self.read(query, usize::MAX, "list webhook endpoints").await?;
        items.iter().map(|i| attr::from_item(i, ENDPOINT_BOOKKEEPING)).collect()
    }

    async fn update_endpoint(&self, endpoint: &WebhookEndpoint, expected_version: u64) -> PortResult<()> {
        self.put_versioned(Self::endpoint_item(endpoint)?, expected_version, "update webhook endpoint").await
    }

    async fn delete_endpoint(&self, endpoint: &WebhookEndpoint) -> PortResult<bool> {
        let delete = built(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(endpoint_pk(&endpoint.id), ENDPOINT_SK)))
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .build(),
        )?;
        let items = vec![TransactWriteItem::builder().delete(delete).build(), self.counter(&endpoint.org_id, None)?];
        if transact(&self.client, "delete webhook endpoint", items).await?.is_err() {
            return Ok(false);
        }
        // The endpoint is gone whatever happens here: a delivery left behind
        // is given up by the deliverer (its endpoint is missing) and expires.
        if let Err(e) = self.delete_deliveries(&endpoint.id).await {
            tracing::warn!(endpoint_id = %endpoint.id, error = %e, "deliveries of a deleted webhook endpoint are left to expire");
        }
        Ok(true)
    }

    async fn erase_endpoints(&self, org_id: &str) -> PortResult<u64> {
        let mut removed = 0;
        for endpoint in self.list_endpoints(org_id).await? {
            if self.delete_endpoint(&endpoint).await? {
                removed += 1;
            }
            // Again, so a delivery left behind fails the erasure instead of a warning.
            self.delete_deliveries(&endpoint.id).await?;
        }
        let counter = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("org#{org_id}"), COUNTER_SK)))
            .condition_expression("attribute_not_exists(#c) OR #c = :zero")
            .expression_attribute_names("#c", "count")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match counter {
            Ok(_) => Ok(removed),
            // An endpoint was created meanwhile: it keeps its count.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(removed),
            Err(e) => Err(port_error("erase the webhook endpoint count", e)),
        }
    }

    async fn insert_delivery(&self, delivery: &WebhookDelivery) -> PortResult<bool> {
        let items = vec![self.new_put(Self::id_item(delivery))?, self.new_put(Self::delivery_item(delivery)?)?];
        Ok(transact(&self.client, "store webhook delivery", items).await?.is_ok())
    }

    async fn update_delivery(&self, delivery: &WebhookDelivery, expected_version: u64) -> PortResult<()> {
        self.put_versioned(Self::delivery_item(delivery)?, expected_version, "update webhook delivery").await
    }

    async fn due_deliveries(&self, now: DateTime<Utc>, limit: usize) -> PortResult<Vec<WebhookDelivery>> {
        let query = self
            .query()
            .index_name(WEBHOOKS_DUE)
            .key_condition_expression("#part = :part AND #due <= :due")
            .expression_attribute_names("#part", DUE_PART)
            .expression_attribute_names("#due", DUE_KEY)
            .expression_attribute_values(":part", s(PENDING))
            // every id due at `now`, to the microsecond
            .expression_attribute_values(":due", s(format!("{}#\u{10FFFF}", fixed(now))))
            .scan_index_forward(true);
        Self::deliveries(self.read(query, limit, "list due webhook deliveries").await?)
    }

    async fn first_pending(&self, endpoint_id: &str, subject: &str) -> PortResult<Option<WebhookDelivery>> {
        let query = self
            .query()
            .index_name(WEBHOOKS_PENDING_BY_SUBJECT)
            .key_condition_expression("#ps = :ps")
            .expression_attribute_names("#ps", PENDING_SUBJECT)
            .expression_attribute_values(":ps", s(format!("{endpoint_id}#{subject}")))
            .scan_index_forward(true);
        Ok(Self::deliveries(self.read(query, 1, "read first pending webhook delivery").await?)?.into_iter().next())
    }

    async fn list_deliveries(&self, endpoint_id: &str, limit: usize) -> PortResult<Vec<WebhookDelivery>> {
        let query = self
            .query()
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(endpoint_pk(endpoint_id)))
            .expression_attribute_values(":prefix", s(DELIVERY_PREFIX))
            .scan_index_forward(false)
            .consistent_read(true);
        Self::deliveries(self.read(query, limit, "list webhook deliveries").await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeliveryStatus, EndpointStatus};

    fn delivery(status: DeliveryStatus) -> WebhookDelivery {
        let at: DateTime<Utc> = "2026-11-30T10:00:00.5Z".parse().unwrap();
        WebhookDelivery {
            id: "whd_1".into(),
            endpoint_id: "whe-20261130-abcdef".into(),
            org_id: "org".into(),
            event_id: "evt_1".into(),
            event_type: "export.completed".into(),
            subject: "exp-a".into(),
            order_key: "20261130T100000.000000000#evt_1".into(),
            payload: "{}".into(),
            status,
            attempt_count: 0,
            attempts: Vec::new(),
            next_attempt_at: at,
            created_at: at,
            delivered_at: None,
            failed_reason: None,
            version: 1,
        }
    }

    #[test]
    fn only_pending_deliveries_carry_the_index_keys() {
        let pending = delivery(DeliveryStatus::Pending);
        let item = DynamoWebhookStore::delivery_item(&pending).unwrap();
        assert_eq!(get_s(&item, SK), Some("delivery#2026-11-30T10:00:00.500000Z#whd_1"));
        assert_eq!(get_s(&item, DUE_KEY), Some("2026-11-30T10:00:00.500000Z#whd_1"));
        assert_eq!(get_s(&item, PENDING_SUBJECT), Some("whe-20261130-abcdef#exp-a"));
        let back: WebhookDelivery = attr::from_item(&item, DELIVERY_BOOKKEEPING).unwrap();
        assert_eq!(back, pending);

        let done = DynamoWebhookStore::delivery_item(&delivery(DeliveryStatus::Delivered)).unwrap();
        assert!([DUE_PART, DUE_KEY, PENDING_SUBJECT].iter().all(|a| !done.contains_key(*a)));
        assert_eq!(get_s(&done, SK), get_s(&item, SK), "the key never moves");
    }

    #[test]
    fn endpoints_round_trip() {
        let now = Utc::now();
        let e = WebhookEndpoint {
            id: "whe-20261130-abcdef".into(),
            org_id: "org".into(),
            url: "https://example.org".into(),
            event_types: vec!["export.completed".into()],
            description: None,
            status: EndpointStatus::Enabled,
            disabled_reason: None,
            disabled_at: None,
            created_at: now,
            created_by: "u".into(),
            updated_at: now,
            secrets: Vec::new(),
            version: 3,
        };
        let item = DynamoWebhookStore::endpoint_item(&e).unwrap();
        assert_eq!(get_s(&item, ENDPOINT_ORG), Some("org"));
        assert_eq!(attr::from_item::<WebhookEndpoint>(&item, ENDPOINT_BOOKKEEPING).unwrap(), e);
    }
}
