//! TransactWriteItems as the stores use it: a cancelled transaction is
//! told apart as "a condition failed" (the record is not what the writer
//! read; the caller decides) or "it met another transaction" (tried again
//! with backoff here).

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{TransactWriteItem, WriteRequest};

use super::errors::port_error;
use crate::backoff::Backoff;
use crate::ports::{PortError, PortResult};

/// How often a transaction that collided with another is tried again.
pub(crate) const TRANSACTION_TRIES: u32 = 6;
/// Between tries of a transaction that collided, or of a batch's unprocessed keys.
pub(crate) const RETRY_BACKOFF: Backoff = Backoff::new(Duration::from_millis(20), 2, Duration::from_secs(1));

/// Why a transaction was cancelled, in the terms the callers act on.
pub(crate) enum Cancelled {
    /// A condition failed: the record is not what the writer read. Holds
    /// the positions of the items whose condition failed.
    Condition(Vec<usize>),
    /// Another transaction touched the same items; worth another try.
    Collision,
}

impl Cancelled {
    /// Whether the item at `index` is among those whose condition failed.
    pub(crate) fn failed_at(&self, index: usize) -> bool {
        matches!(self, Cancelled::Condition(failed) if failed.contains(&index))
    }
}

fn cancelled(err: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError>) -> Option<Cancelled> {
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(e) => {
            let reasons = e.cancellation_reasons();
            let failed: Vec<usize> = reasons
                .iter()
                .enumerate()
                .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                .map(|(i, _)| i)
                .collect();
            let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).filter(|c| *c != "None").collect();
            if !failed.is_empty() {
                Some(Cancelled::Condition(failed))
            } else if codes
                .iter()
                .all(|c| matches!(*c, "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"))
            {
                Some(Cancelled::Collision)
            } else {
                // a validation error or a size limit: trying again will not help
                None
            }
        }
        TransactWriteItemsError::TransactionInProgressException(_) => Some(Cancelled::Collision),
        _ => None,
    }
}

/// Runs a transaction, trying again while it only collides with others.
pub(crate) async fn transact(
    client: &Client,
    what: &str,
    items: Vec<TransactWriteItem>,
) -> PortResult<Result<(), Cancelled>> {
    for tries in 1..=TRANSACTION_TRIES {
        match client.transact_write_items().set_transact_items(Some(items.clone())).send().await {
            Ok(_) => return Ok(Ok(())),
            Err(e) => match cancelled(&e) {
                Some(condition @ Cancelled::Condition(_)) => return Ok(Err(condition)),
                Some(Cancelled::Collision) if tries < TRANSACTION_TRIES => RETRY_BACKOFF.wait(tries + 1).await,
                Some(Cancelled::Collision) => {
                    return Err(PortError::Transient(format!("{what}: kept colliding with other writes")));
                }
                None => return Err(port_error(what, e)),
            },
        }
    }
    unreachable!("the loop returns on its last try")
}

/// Between tries of a BatchWriteItem's unprocessed items.
const BATCH_BACKOFF: Backoff = Backoff::new(Duration::from_millis(25), 2, Duration::from_secs(2));

/// One BatchWriteItem (at most 25 requests), sending what DynamoDB left
/// unprocessed again with backoff, ten tries in all. `what` names the
/// work in errors ("write activities").
pub(crate) async fn batch_write(
    client: &Client,
    table: &str,
    mut requests: Vec<WriteRequest>,
    what: &'static str,
) -> PortResult<()> {
    for tries in 1..=10 {
        let out =
            client.batch_write_item().request_items(table, requests).send().await.map_err(|e| port_error(what, e))?;
        requests = out.unprocessed_items.unwrap_or_default().remove(table).unwrap_or_default();
        if requests.is_empty() {
            return Ok(());
        }
        BATCH_BACKOFF.wait(tries + 1).await;
    }
    Err(PortError::Transient(format!("{what}: items left unprocessed after repeated tries")))
}
