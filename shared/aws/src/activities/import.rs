//! One import's writes. Every item the import writes carries its id in
//! `written_by`; when the import replaces a period, finishing it removes
//! the period's activities that do not carry that id (the file did not
//! name them). DynamoDB has no transaction the size of a file, so a run
//! that stops half way leaves the rows written so far; the import stays
//! unfinished, and running it again from the start (the queue's
//! redelivery) writes the same rows and finishes the sweep.

use async_trait::async_trait;

use super::writer::{BATCH, DynamoActivityWriter, delete};
use super::{WRITTEN_BY, key, pointer_key, range_of};
use crate::attr::{Item, get_s, s};
use crate::domain::{Activity, Period};
use crate::errors::port_error;
use crate::ports::{ImportOutcome, ImportWriter, PortResult};

pub(super) struct DynamoImportWriter {
    pub(super) writer: DynamoActivityWriter,
    pub(super) org_id: String,
    pub(super) replace: Option<Period>,
    pub(super) written: u64,
}

#[async_trait]
impl ImportWriter for DynamoImportWriter {
    async fn write(&mut self, batch: Vec<Activity>) -> PortResult<()> {
        self.written += self.writer.put_all(batch.into_iter()).await?;
        Ok(())
    }

    async fn finish(self: Box<Self>) -> PortResult<ImportOutcome> {
        let removed = match self.replace {
            Some(period) => self.sweep(period).await?,
            None => 0,
        };
        Ok(ImportOutcome { written: self.written, removed })
    }
}

impl DynamoImportWriter {
    /// Removes the period's activities this import did not write.
    async fn sweep(&self, period: Period) -> PortResult<u64> {
        let tag = self.writer.tag.clone().unwrap_or_default();
        let (lo, hi) = range_of(period.from, period.to);
        let (client, table) = (&self.writer.client, &self.writer.table);
        let mut removed = 0u64;
        let mut next: Option<Item> = None;
        loop {
            let out = client
                .query()
                .table_name(table)
                .key_condition_expression("org_id = :org AND sk BETWEEN :lo AND :hi")
                .filter_expression("attribute_not_exists(#by) OR #by <> :tag")
                .expression_attribute_names("#by", WRITTEN_BY)
                .expression_attribute_values(":org", s(&self.org_id))
                .expression_attribute_values(":lo", s(lo.clone()))
                .expression_attribute_values(":hi", s(hi.clone()))
                .expression_attribute_values(":tag", s(&tag))
                .projection_expression("sk")
                .consistent_read(true)
                .set_exclusive_start_key(next.take())
                .send()
                .await
                .map_err(|e| port_error("find activities to remove", e))?;
            let mut requests = Vec::new();
            for item in out.items.unwrap_or_default() {
                let Some(sk) = get_s(&item, "sk") else { continue };
                // `{date}#{activity_id}`: the date is ten characters.
                let Some(activity_id) = sk.get(11..) else { continue };
                requests.push(delete(key(&self.org_id, sk.to_string()))?);
                requests.push(delete(key(&self.org_id, pointer_key(activity_id)))?);
                removed += 1;
            }
            for chunk in requests.chunks(BATCH) {
                self.writer.send_batch(chunk.to_vec()).await?;
            }
            next = out.last_evaluated_key.filter(|k| !k.is_empty());
            if next.is_none() {
                return Ok(removed);
            }
        }
    }
}
