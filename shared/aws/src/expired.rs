//! The jobs table's stream consumer: when DynamoDB's TTL removes a
//! finished job, its counter cells are decremented, so list totals stay
//! exact without ever reading every job. Only TTL removals are counted
//! here (the template's event filter passes only those); deletes through
//! the API adjust the counters in their own transaction.

use serde_json::Value;
use tracing::info;

use super::DynamoJobStore;
use super::attr::Item;
use crate::ports::{PortError, PortResult};
use aws_sdk_dynamodb::types::AttributeValue;

/// A stream image (`{"name": {"S": "..."}}`) as attribute values.
pub fn image_to_item(image: &Value) -> PortResult<Item> {
    let Value::Object(fields) = image else {
        return Err(PortError::Permanent("a stream image must be an object".into()));
    };
    fields.iter().map(|(k, v)| Ok((k.clone(), typed(v)?))).collect()
}

fn typed(v: &Value) -> PortResult<AttributeValue> {
    let bad = || PortError::Permanent(format!("unsupported stream attribute {v}"));
    let Value::Object(o) = v else { return Err(bad()) };
    let (kind, inner) = o.iter().next().ok_or_else(bad)?;
    let strings = |inner: &Value| -> PortResult<Vec<String>> {
        inner.as_array().ok_or_else(bad)?.iter().map(|s| s.as_str().map(str::to_string).ok_or_else(bad)).collect()
    };
    Ok(match kind.as_str() {
        "S" => AttributeValue::S(inner.as_str().ok_or_else(bad)?.to_string()),
        "N" => AttributeValue::N(inner.as_str().ok_or_else(bad)?.to_string()),
        "BOOL" => AttributeValue::Bool(inner.as_bool().ok_or_else(bad)?),
        "NULL" => AttributeValue::Null(true),
        "L" => AttributeValue::L(inner.as_array().ok_or_else(bad)?.iter().map(typed).collect::<PortResult<_>>()?),
        "M" => AttributeValue::M(image_to_item(inner)?),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        _ => return Err(bad()),
    })
}

/// Is this record DynamoDB's own TTL deletion?
pub fn is_ttl_removal(record: &Value) -> bool {
    record["eventName"] == "REMOVE"
        && record["userIdentity"]["type"] == "Service"
        && record["userIdentity"]["principalId"] == "dynamodb.amazonaws.com"
}

/// Handles one batch of stream records; returns how many jobs were taken
/// off the counters. A failure fails the batch, which Lambda delivers
/// again; records already counted are recognised by their tombstones.
pub async fn handle_stream_batch(store: &DynamoJobStore, event: &Value) -> PortResult<u64> {
    let mut counted = 0;
    for record in event["Records"].as_array().into_iter().flatten() {
        if !is_ttl_removal(record) {
            continue;
        }
        let Some(image) = record["dynamodb"].get("OldImage") else { continue };
        let item = image_to_item(image)?;
        if store.forget_expired(&item).await? {
            counted += 1;
            info!(
                export_id = item.get("export_id").and_then(|v| v.as_s().ok()).map(String::as_str).unwrap_or(""),
                "expired export uncounted"
            );
        }
    }
    Ok(counted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stream_images_become_items() {
        let item = image_to_item(&json!({
            "export_id": {"S": "exp-20260326-xyz789"}, "version": {"N": "3"}, "file": {"NULL": true},
            "activity_types": {"L": [{"S": "group_session"}]}, "progress": {"M": {"rows_done": {"N": "1"}}},
            "include_attachments": {"BOOL": false}
        }))
        .unwrap();
        assert_eq!(item["version"], AttributeValue::N("3".into()));
        assert_eq!(item["activity_types"], AttributeValue::L(vec![AttributeValue::S("group_session".into())]));
        assert!(image_to_item(&json!({"x": {"Q": 1}})).is_err());
    }

    #[test]
    fn only_ttl_removals_count() {
        let ttl = json!({"eventName": "REMOVE", "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"}});
        assert!(is_ttl_removal(&ttl));
        assert!(!is_ttl_removal(&json!({"eventName": "REMOVE"})));
        assert!(!is_ttl_removal(&json!({"eventName": "MODIFY", "userIdentity": ttl["userIdentity"].clone()})));
    }
}
