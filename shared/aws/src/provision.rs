//! Creates the stack's tables, bucket, queues and state machine the way
//! template.yaml does, for development and tests against a local emulator (moto):
//! `serve --backend aws` on a laptop, the AWS test suites. In an AWS
//! account the SAM template creates them; nothing here runs there.
//! Idempotent: what already exists is left as it is.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Event, FilterRule, FilterRuleName, NotificationConfiguration,
    NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;

use super::config::{AwsNames, Clients};
use super::errors::port_error;
use super::{
    IMPORTS_BY_ALL, IMPORTS_BY_ORG, IMPORTS_OPEN, INDEX_ACTIVE, INDEX_BY_ALL, INDEX_BY_ORG, WEBHOOKS_BY_ORG,
    WEBHOOKS_DUE, WEBHOOKS_PENDING_BY_SUBJECT,
};
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

async fn enable_ttl(c: &Clients, name: &str) -> PortResult<()> {
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

/// The imports table: key `import_id`, GSIs `by_org`, `by_all`, `open`, TTL `expires_at`.
pub async fn create_imports_table(c: &Clients, name: &str) -> PortResult<()> {
    let created = c
        .dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("import_id", KeyType::Hash)?)
        .attribute_definitions(attr("import_id")?)
        .attribute_definitions(attr("org_id")?)
        .attribute_definitions(attr("created_key")?)
        .attribute_definitions(attr("all_imports")?)
        .attribute_definitions(attr("open")?)
        .global_secondary_indexes(gsi(IMPORTS_BY_ORG, "org_id", "created_key")?)
        .global_secondary_indexes(gsi(IMPORTS_BY_ALL, "all_imports", "created_key")?)
        .global_secondary_indexes(gsi(IMPORTS_OPEN, "open", "created_key")?)
        .send()
        .await;
    match created {
        Ok(_) => enable_ttl(c, name).await,
        Err(e) if exists(&e) => Ok(()),
        Err(e) => Err(port_error("create imports table", e)),
    }
}

/// The webhooks table: keys `pk`, `sk`, GSIs `by_org`, `due`,
/// `pending_by_subject`, TTL `expires_at`.
pub async fn create_webhooks_table(c: &Clients, name: &str) -> PortResult<()> {
    let created = c
        .dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .attribute_definitions(attr("endpoint_org")?)
        .attribute_definitions(attr("created_key")?)
        .attribute_definitions(attr("due_part")?)
        .attribute_definitions(attr("due_key")?)
        .attribute_definitions(attr("pending_subject")?)
        .attribute_definitions(attr("order_key")?)
        .global_secondary_indexes(gsi(WEBHOOKS_BY_ORG, "endpoint_org", "created_key")?)
        .global_secondary_indexes(gsi(WEBHOOKS_DUE, "due_part", "due_key")?)
        .global_secondary_indexes(gsi(WEBHOOKS_PENDING_BY_SUBJECT, "pending_subject", "order_key")?)
        .send()
        .await;
    match created {
        Ok(_) => enable_ttl(c, name).await,
        Err(e) if exists(&e) => Ok(()),
        Err(e) => Err(port_error("create webhooks table", e)),
    }
}

/// The audit table: keys `export_id`, `entry_key`, TTL `expires_at`.
pub async fn create_audit_table(c: &Clients, name: &str) -> PortResult<()> {
    let created = c
        .dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("export_id", KeyType::Hash)?)
        .key_schema(key("entry_key", KeyType::Range)?)
        .attribute_definitions(attr("export_id")?)
        .attribute_definitions(attr("entry_key")?)
        .send()
        .await;
    match created {
        Ok(_) => enable_ttl(c, name).await,
        Err(e) if exists(&e) => Ok(()),
        Err(e) => Err(port_error("create audit table", e)),
    }
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
    enable_ttl(c, name).await
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

/// The template's export workflow (`infra/statemachine`), its functions
/// named by `function_arn("generate")` and so on.
pub fn workflow_definition(function_arn: impl Fn(&str) -> String) -> String {
    let mut definition = WORKFLOW_ASL.to_string();
    for (var, step) in WORKFLOW_STEPS {
        definition = definition.replace(&format!("${{{var}}}"), &function_arn(step));
    }
    definition
}

const WORKFLOW_ASL: &str = include_str!("../../../infra/statemachine/export-workflow.asl.json");
/// The template's DefinitionSubstitutions and the function each names.
const WORKFLOW_STEPS: [(&str, &str); 4] = [
    ("GenerateFunctionArn", "generate"),
    ("SubmitFunctionArn", "submit"),
    ("CompleteFunctionArn", "complete"),
    ("MarkFailedFunctionArn", "mark-failed"),
];

/// Creates the export state machine `arn` names (or finds it), its tasks
/// naming the functions `{machine}-generate` and so on in the same
/// account and region: what a local stack calls them.
pub async fn create_state_machine(c: &Clients, arn: &str) -> PortResult<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let [_, partition, "states", region, account, "stateMachine", name] = parts[..] else {
        return Err(PortError::Permanent(format!("{arn:?} is not a state machine ARN")));
    };
    let definition =
        workflow_definition(|step| format!("arn:{partition}:lambda:{region}:{account}:function:{name}-{step}"));
    let created = c
        .sfn
        .create_state_machine()
        .name(name)
        .definition(definition)
        .role_arn(format!("arn:{partition}:iam::{account}:role/{name}-role"))
        .send()
        .await;
    match created {
        Ok(out) => Ok(out.state_machine_arn),
        Err(e) if matches!(e.code(), Some("StateMachineAlreadyExists")) => Ok(arn.to_string()),
        Err(e) => Err(port_error("create state machine", e)),
    }
}

/// Creates the queue (or finds it) and returns its URL.
pub async fn create_queue(c: &Clients, name: &str) -> PortResult<String> {
    let out = c.sqs.create_queue().queue_name(name).send().await.map_err(|e| port_error("create queue", e))?;
    out.queue_url.ok_or_else(|| PortError::Permanent("no queue URL".into()))
}

/// Tells the imports queue of every file that arrives under the uploads
/// prefix, as the template's bucket notification does.
pub async fn notify_uploads(c: &Clients, bucket: &str, uploads_prefix: &str, queue_url: &str) -> PortResult<()> {
    let attrs = c
        .sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| port_error("read queue ARN", e))?;
    let arn = attrs
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| PortError::Permanent("the imports queue has no ARN".into()))?;
    let bad = |e: aws_sdk_s3::error::BuildError| PortError::Permanent(e.to_string());
    let filter = NotificationConfigurationFilter::builder()
        .key(
            S3KeyFilter::builder()
                .filter_rules(FilterRule::builder().name(FilterRuleName::Prefix).value(uploads_prefix).build())
                .build(),
        )
        .build();
    let queue = QueueConfiguration::builder()
        .queue_arn(arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .filter(filter)
        .build()
        .map_err(bad)?;
    c.s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(NotificationConfiguration::builder().queue_configurations(queue).build())
        .send()
        .await
        .map_err(|e| port_error("notify uploads", e))?;
    Ok(())
}

/// Every resource `names` refers to. The queues are created by the names
/// at the end of their URLs, the state machine by the name its ARN ends in.
pub async fn create_resources(c: &Clients, names: &AwsNames) -> PortResult<()> {
    create_exports_table(c, &names.exports_table).await?;
    create_activities_table(c, &names.activities_table).await?;
    create_imports_table(c, &names.imports_table).await?;
    create_webhooks_table(c, &names.webhooks_table).await?;
    create_audit_table(c, &names.audit_table).await?;
    create_bucket(c, &names.files_bucket).await?;
    let queue = names.events_queue_url.rsplit('/').next().unwrap_or_default();
    if !queue.is_empty() {
        create_queue(c, queue).await?;
    }
    if let Some(url) = &names.imports_queue_url {
        let name = url.rsplit('/').next().unwrap_or_default();
        if !name.is_empty() {
            let url = create_queue(c, name).await?;
            notify_uploads(c, &names.files_bucket, &names.uploads_prefix, &url).await?;
        }
    }
    if let Some(arn) = &names.state_machine_arn {
        create_state_machine(c, arn).await?;
    }
    Ok(())
}
