//! The SDK calls as X-Ray subsegments: a UDP socket stands in for Lambda's
//! X-Ray daemon (none runs here), the calls go to moto over HTTP, and each
//! datagram must be what the daemon accepts: the header line, then a
//! subsegment of the invocation's trace naming the service and operation,
//! with its answer's status.

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bufdir_testing::moto;
use serde_json::Value;
use shared::adapters::aws::Clients;
use shared::adapters::aws::xray::SdkSubsegments;

const ROOT: &str = "1-6740f1a0-0123456789abcdef01234567";
const PARENT: &str = "53995c3f42cd8ad8";

/// Every datagram that has arrived, as (header line, document).
fn received(socket: &UdpSocket) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = socket.recv(&mut buf) {
        let text = String::from_utf8(buf[..n].to_vec()).unwrap();
        let (header, body) = text.split_once('\n').expect("a header line, then the document");
        out.push((header.to_string(), serde_json::from_str(body).unwrap()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sdk_call_of_a_sampled_invocation_is_a_subsegment_of_it() {
    let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
    daemon.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let header = Arc::new(Mutex::new(Some(format!("Root={ROOT};Parent={PARENT};Sampled=1"))));
    let source = header.clone();
    let subsegments =
        SdkSubsegments::new(daemon.local_addr().unwrap(), Arc::new(move || source.lock().unwrap().clone()), None)
            .unwrap();
    let c = Clients::traced_by(&moto::sdk_config().await, Some(subsegments));
    let table = moto::unique("xray");
    moto::create_activities_table(&c, &table).await;
    let _ = received(&daemon);

    let started = chrono::Utc::now().timestamp() as f64;
    c.dynamodb.describe_table().table_name(&table).send().await.unwrap();
    let missing = c.dynamodb.describe_table().table_name(format!("{table}-missing")).send().await;
    assert!(missing.is_err());
    let calls = received(&daemon);
    assert_eq!(calls.len(), 2, "{calls:#?}");
    for (line, doc) in &calls {
        assert_eq!(serde_json::from_str::<Value>(line).unwrap(), serde_json::json!({"format": "json", "version": 1}));
        assert_eq!((doc["trace_id"].as_str(), doc["parent_id"].as_str()), (Some(ROOT), Some(PARENT)), "{doc}");
        assert_eq!((doc["type"].as_str(), doc["namespace"].as_str()), (Some("subsegment"), Some("aws")), "{doc}");
        assert_eq!(doc["name"], "DynamoDB", "{doc}");
        assert_eq!(doc["aws"]["operation"], "DescribeTable", "{doc}");
        let id = doc["id"].as_str().unwrap();
        assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{doc}");
        let (start, end) = (doc["start_time"].as_f64().unwrap(), doc["end_time"].as_f64().unwrap());
        assert!(start >= started - 1.0 && start <= end && end - start < 30.0, "{doc}");
    }
    assert_eq!(calls[0].1["http"]["response"]["status"], 200);
    assert!(calls[0].1.get("error").is_none());
    assert_eq!(calls[1].1["http"]["response"]["status"], 400);
    assert_eq!(calls[1].1["error"], true, "an answer of 400 is the caller's error");
    assert_ne!(calls[0].1["id"], calls[1].1["id"]);

    // another service through the same clients
    let bucket = moto::unique("xray-bucket");
    moto::create_bucket(&c, &bucket).await;
    let s3 = received(&daemon);
    assert_eq!(s3.len(), 1, "{s3:#?}");
    assert_eq!((s3[0].1["name"].as_str(), s3[0].1["aws"]["operation"].as_str()), (Some("S3"), Some("CreateBucket")));

    // an invocation not sampled, or outside any, sends nothing
    for unsampled in [Some(format!("Root={ROOT};Parent={PARENT};Sampled=0")), None] {
        *header.lock().unwrap() = unsampled;
        c.dynamodb.describe_table().table_name(&table).send().await.unwrap();
        assert!(received(&daemon).is_empty());
    }
}
