//! Creates the stack's tables, bucket and queue the way template.yaml
//! does, for development and tests against a local emulator (moto):
//! `serve --backend aws` on a laptop, the AWS test suites. In an AWS
//! account the SAM template creates them; nothing here runs there.
//! Idempotent: what already exists is left as it is.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

use super::config::{AwsNames, Clients};
use super::errors::port_error;
use super::{INDEX_ACTIVE, INDEX_BY_ALL, INDEX_BY_ORG};
use crate::ports::{PortError, PortResult};

fn key(name: &str, t: KeyType) -> PortResult<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(t)
        .build()
        .map_err(|e| PortError::Permanent(e.to_string()))
}

fn attr(name: &str) -> PortResult<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| PortError::Permanent(e.to_string()))
}

fn gsi(name: &str, pk: &str, sk: &str) -> PortResult<GlobalSecondaryIndex> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(pk, KeyType::Hash)?)
        .key_schema(key(sk, KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .map_err(|e| PortError::Permanent(e.to_string()))
}

fn exists<E: ProvideErrorMetadata>(e: &aws_sdk_dynamodb::error::SdkError<E>) -> bool {
    matches!(e.code(), Some("ResourceInUseException" | "TableAlreadyExistsException"))
}

/// The jobs table: key `export_id`, GSIs `by_org`, `by_all`, `active`, TTL `expires_at`.
pub async fn create_exports_table(c: &Clients, name: &str) -> PortResult<()> {
    let created = c
        .dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("export_id", KeyType::Hash)?)
        .attribute_definitions(attr("export_id")?)
        .attribute_definitions(attr("org_id")?)
        .attribute_definitions(attr("created_key")?)
        .attribute_definitions(attr("all_shard")?)
        .attribute_definitions(attr("active_shard")?)
        .global_secondary_indexes(gsi(INDEX_BY_ORG, "org_id", "created_key")?)
        .global_secondary_indexes(gsi(INDEX_BY_ALL, "all_shard", "created_key")?)
        .global_secondary_indexes(gsi(INDEX_ACTIVE, "active_shard", "created_key")?)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if exists(&e) => return Ok(()),
        Err(e) => return Err(port_error("create exports table", e)),
    }
    c.dynamodb
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .map_err(|e| PortError::Permanent(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| port_error("enable TTL", e))?;
    Ok(())
}

/// The activities table: partition `org_id`, sort key `sk`.
pub async fn create_activities_table(c: &Clients, name: &str) -> PortResult<()> {
    let created = c
        .dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("org_id", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .attribute_definitions(attr("org_id")?)
        .attribute_definitions(attr("sk")?)
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(e) if exists(&e) => Ok(()),
        Err(e) => Err(port_error("create activities table", e)),
    }
}

pub async fn create_bucket(c: &Clients, name: &str) -> PortResult<()> {
    let mut request = c.s3.create_bucket().bucket(name);
    // us-east-1 is the one region that takes no location constraint
    if let Some(region) = c.s3.config().region().map(|r| r.as_ref().to_string()).filter(|r| r != "us-east-1") {
        request = request.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    match request.send().await {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.code(), Some("BucketAlreadyOwnedByYou")) => Ok(()),
        Err(e) => Err(port_error("create bucket", e)),
    }
}

/// Creates the queue (or finds it) and returns its URL.
pub async fn create_queue(c: &Clients, name: &str) -> PortResult<String> {
    let out = c.sqs.create_queue().queue_name(name).send().await.map_err(|e| port_error("create queue", e))?;
    out.queue_url.ok_or_else(|| PortError::Permanent("no queue URL".into()))
}

/// Every data resource `names` refers to. The events queue is created by
/// the name at the end of `events_queue_url`.
pub async fn create_resources(c: &Clients, names: &AwsNames) -> PortResult<()> {
    create_exports_table(c, &names.exports_table).await?;
    create_activities_table(c, &names.activities_table).await?;
    create_bucket(c, &names.files_bucket).await?;
    let queue = names.events_queue_url.rsplit('/').next().unwrap_or_default();
    if !queue.is_empty() {
        create_queue(c, queue).await?;
    }
    Ok(())
}
