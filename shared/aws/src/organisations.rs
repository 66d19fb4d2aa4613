//! Organisations' own details, in the activities table beside their
//! activities: the item `org_id` + `sk` = `org` (which sorts after every
//! date, so no period's query reads it), the record as native attributes.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

use super::attr::{self, s};
use super::errors::port_error;
use crate::domain::Organisation;
use crate::ports::{OrganisationStore, PortResult};

const SK: &str = "org";

#[derive(Clone)]
pub struct DynamoOrganisations {
    client: Client,
    table: String,
}

impl DynamoOrganisations {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoOrganisations { client, table: table.into() }
    }
}

#[async_trait]
impl OrganisationStore for DynamoOrganisations {
    async fn get_organisation(&self, org_id: &str) -> PortResult<Option<Organisation>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("org_id", s(org_id))
            .key("sk", s(SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("read organisation", e))?;
        out.item.as_ref().map(|item| attr::from_item(item, &["sk"])).transpose()
    }

    async fn put_organisation(&self, org: &Organisation) -> PortResult<()> {
        let mut item = attr::to_item(org)?;
        item.insert("sk".into(), s(SK));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| port_error("store organisation", e))?;
        Ok(())
    }

    async fn delete_organisation(&self, org_id: &str) -> PortResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("org_id", s(org_id))
            .key("sk", s(SK))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| port_error("erase organisation", e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}
