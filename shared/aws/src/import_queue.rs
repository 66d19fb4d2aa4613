//! The imports queue: the files bucket tells it when an import's file
//! arrives (an S3 event notification), and the watchdog's sweep puts an
//! import back on it (`{"import_id": ...}`) when its run died or its
//! notification was lost. The import function reads both kinds.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use serde_json::Value;

use super::errors::port_error;
use crate::domain::ImportId;
use crate::ports::{PortError, PortResult};
use crate::service::{ImportRunner, import_of_upload};

/// Starts an import by putting it on the imports queue.
pub struct SqsImportRunner {
    client: Client,
    queue_url: Option<String>,
}

impl SqsImportRunner {
    pub fn new(client: Client, queue_url: Option<String>) -> Self {
        SqsImportRunner { client, queue_url }
    }
}

#[async_trait]
impl ImportRunner for SqsImportRunner {
    async fn start(&self, id: &ImportId) -> PortResult<()> {
        let url = self.queue_url.as_deref().ok_or_else(|| {
            PortError::Permanent("IMPORTS_QUEUE_URL is not set; this process cannot start imports".into())
        })?;
        self.client
            .send_message()
            .queue_url(url)
            .message_body(serde_json::json!({ "import_id": id.as_str() }).to_string())
            .send()
            .await
            .map_err(|e| port_error("queue import", e))?;
        Ok(())
    }
}

/// Reads the imports queue for ever and hands each import it names to
/// `runner`: `serve --backend aws --runner local` runs the imports the
/// bucket's notifications announce in its own process, as the import
/// function would. A message is removed once its imports are started; a
/// run that dies later is started again by the sweep.
pub async fn relay_imports(
    client: Client,
    queue_url: String,
    uploads_prefix: String,
    runner: std::sync::Arc<dyn ImportRunner>,
    wait: std::time::Duration,
) {
    loop {
        let received = client
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %port_error("read imports queue", e), "imports queue unreadable; trying again");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() && wait.is_zero() {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        for m in messages {
            let mut started = true;
            for id in imports_in_message(m.body().unwrap_or_default(), &uploads_prefix) {
                if let Err(e) = runner.start(&id).await {
                    tracing::warn!(import_id = %id, error = %e, "import not started; the message comes back");
                    started = false;
                }
            }
            if started && let Some(handle) = m.receipt_handle() {
                let _ = client.delete_message().queue_url(&queue_url).receipt_handle(handle).send().await;
            }
        }
    }
}

/// The imports a queue message asks to run. S3's test event and keys
/// outside `uploads_prefix` or not an import's upload name none.
pub fn imports_in_message(body: &str, uploads_prefix: &str) -> Vec<ImportId> {
    let Ok(message) = serde_json::from_str::<Value>(body) else { return Vec::new() };
    if let Some(id) = message.get("import_id").and_then(Value::as_str) {
        return ImportId::parse(id).into_iter().collect();
    }
    let records = message.get("Records").and_then(Value::as_array).into_iter().flatten();
    let mut ids: Vec<ImportId> = records
        .filter(|r| r["eventName"].as_str().is_some_and(|e| e.starts_with("ObjectCreated")))
        .filter_map(|r| r["s3"]["object"]["key"].as_str())
        .map(decode_key)
        .filter_map(|key| key.strip_prefix(uploads_prefix).and_then(import_of_upload))
        .collect();
    ids.dedup();
    ids
}

/// S3 notifications form-encode the key (a space arrives as `+`).
fn decode_key(key: &str) -> String {
    form_urlencoded::parse(format!("k={key}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_and_restarts_name_their_imports() {
        let s3 = r#"{"Records":[{"eventName":"ObjectCreated:Post","s3":{"bucket":{"name":"b"},
            "object":{"key":"uploads/org-a/imp-20261129-abc123/upload.csv","size":10}}}]}"#;
        assert_eq!(imports_in_message(s3, "uploads/"), vec![ImportId::parse("imp-20261129-abc123").unwrap()]);
        let restart = r#"{"import_id":"imp-20261129-abc123"}"#;
        assert_eq!(imports_in_message(restart, "uploads/").len(), 1);
        for none in [
            r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#,
            r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"object":{"key":"exports/org-a/imp-20261129-abc123/upload.csv"}}}]}"#,
            r#"{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{"object":{"key":"uploads/org-a/imp-20261129-abc123/upload.csv"}}}]}"#,
            r#"{"import_id":"exp-20261129-abc123"}"#,
            "not json",
        ] {
            assert!(imports_in_message(none, "uploads/").is_empty(), "{none}");
        }
    }

    #[test]
    fn keys_are_form_decoded() {
        assert_eq!(decode_key("uploads/org%2Da/a+b.csv"), "uploads/org-a/a b.csv");
    }
}
