//! The functions' AWS SDK calls as X-Ray subsegments. Lambda's active
//! tracing records each invocation, and the SDK passes the trace on to the
//! services it calls, but the Rust SDK has no X-Ray recorder: without this
//! a trace shows the function as one bar. Each call (DynamoDB GetItem, S3
//! PutObject, ...) becomes a subsegment of the invocation's segment, sent
//! to the X-Ray daemon over UDP as the X-Ray SDKs of other languages do
//! (<https://docs.aws.amazon.com/xray/latest/devguide/xray-api-sendingdata.html>).
//! Only in a sampled invocation; a lost datagram loses one subsegment.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::time::SystemTime;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use rand::Rng;
use serde_json::{Value, json};

/// Where Lambda's X-Ray daemon listens, when tracing is on.
pub const DAEMON_ADDRESS: &str = "AWS_XRAY_DAEMON_ADDRESS";
/// The invocation's trace header, set by the Lambda runtime for each one.
pub const TRACE_ID: &str = "_X_AMZN_TRACE_ID";

/// Where the current call's trace header comes from.
pub type TraceSource = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Sends a subsegment per SDK call; add it to each service client.
#[derive(Clone)]
pub struct SdkSubsegments {
    daemon: SocketAddr,
    socket: Arc<UdpSocket>,
    trace: TraceSource,
    region: Option<String>,
}

impl std::fmt::Debug for SdkSubsegments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdkSubsegments").field("daemon", &self.daemon).finish()
    }
}

impl SdkSubsegments {
    pub fn new(daemon: SocketAddr, trace: TraceSource, region: Option<String>) -> std::io::Result<Self> {
        let bind = if daemon.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        Ok(SdkSubsegments { daemon, socket: Arc::new(UdpSocket::bind(bind)?), trace, region })
    }

    /// In a Lambda with active tracing (`AWS_XRAY_DAEMON_ADDRESS` set), the
    /// trace header read from the environment at each call; none elsewhere.
    pub fn from_env(region: Option<String>) -> Option<Self> {
        let daemon = daemon_address(&std::env::var(DAEMON_ADDRESS).ok()?)?;
        let trace: TraceSource = Arc::new(|| std::env::var(TRACE_ID).ok());
        Self::new(daemon, trace, region)
            .inspect_err(|e| tracing::warn!(error = %e, "SDK calls will not show in traces"))
            .ok()
    }
}

/// The UDP address in `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or
/// `udp:host:port tcp:host:port`.
pub fn daemon_address(value: &str) -> Option<SocketAddr> {
    let udp = value.split_whitespace().find_map(|part| match part.split_once(':') {
        Some(("udp", rest)) => Some(rest),
        Some(("tcp", _)) => None,
        _ => Some(part),
    })?;
    udp.to_socket_addrs().ok()?.next()
}

/// The trace and parent ids of a sampled trace header
/// (`Root=1-...;Parent=...;Sampled=1`).
fn sampled_parent(header: &str) -> Option<(&str, &str)> {
    let field = |name: &str| {
        header.split(';').find_map(|kv| kv.trim().split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
    };
    match (field("Root"), field("Parent"), field("Sampled")) {
        (Some(root), Some(parent), Some("1")) => Some((root, parent)),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug)]
struct Started(SystemTime);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

/// The subsegment document of one call.
struct Call<'a> {
    trace_id: &'a str,
    parent_id: &'a str,
    service: &'a str,
    operation: &'a str,
    region: Option<&'a str>,
    status: Option<u16>,
    request_id: Option<&'a str>,
    started: SystemTime,
    ended: SystemTime,
}

impl Call<'_> {
    fn document(&self) -> Value {
        let status = self.status.unwrap_or(0);
        let mut doc = json!({
            "name": self.service,
            "id": format!("{:016x}", rand::rng().random::<u64>()),
            "trace_id": self.trace_id,
            "parent_id": self.parent_id,
            "type": "subsegment",
            "namespace": "aws",
            "start_time": epoch_seconds(self.started),
            "end_time": epoch_seconds(self.ended),
            "aws": { "operation": self.operation },
        });
        if let Some(region) = self.region {
            doc["aws"]["region"] = json!(region);
        }
        if let Some(id) = self.request_id {
            doc["aws"]["request_id"] = json!(id);
        }
        match self.status {
            Some(s) => doc["http"] = json!({ "response": { "status": s } }),
            // no answer at all (a dropped connection, a timeout)
            None => doc["fault"] = json!(true),
        }
        if (400..500).contains(&status) {
            doc["error"] = json!(true);
        }
        if status == 429 {
            doc["throttle"] = json!(true);
        }
        if status >= 500 {
            doc["fault"] = json!(true);
        }
        doc
    }
}

impl Intercept for SdkSubsegments {
    fn name(&self) -> &'static str {
        "SdkSubsegments"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(SystemTime::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(header) = (self.trace)() else { return Ok(()) };
        let Some((trace_id, parent_id)) = sampled_parent(&header) else { return Ok(()) };
        let (Some(metadata), Some(Started(started))) = (cfg.load::<Metadata>(), cfg.load::<Started>().copied()) else {
            return Ok(());
        };
        let response = context.response();
        let request_id = response.and_then(|r| {
            let h = r.headers();
            h.get("x-amzn-requestid").or_else(|| h.get("x-amz-request-id"))
        });
        let call = Call {
            trace_id,
            parent_id,
            service: metadata.service(),
            operation: metadata.name(),
            region: self.region.as_deref(),
            status: response.map(|r| r.status().as_u16()),
            request_id,
            started,
            ended: SystemTime::now(),
        };
        let mut datagram = b"{\"format\":\"json\",\"version\":1}\n".to_vec();
        datagram.extend_from_slice(call.document().to_string().as_bytes());
        if let Err(e) = self.socket.send_to(&datagram, self.daemon) {
            tracing::debug!(error = %e, "a subsegment was not sent to the X-Ray daemon");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_sampled_header_has_a_parent() {
        let root = "1-5759e988-bd862e3fe1be46a994272793";
        let sampled = format!("Root={root};Parent=53995c3f42cd8ad8;Sampled=1");
        assert_eq!(sampled_parent(&sampled), Some((root, "53995c3f42cd8ad8")));
        assert_eq!(sampled_parent(&format!("Root={root};Parent=53995c3f42cd8ad8;Sampled=0")), None);
        assert_eq!(sampled_parent(&format!("Root={root};Sampled=1")), None);
        assert_eq!(sampled_parent(""), None);
    }

    #[test]
    fn the_daemon_address_takes_both_forms() {
        let plain = daemon_address("169.254.79.129:2000").unwrap();
        assert_eq!(plain.to_string(), "169.254.79.129:2000");
        let both = daemon_address("tcp:127.0.0.1:2000 udp:127.0.0.2:2001").unwrap();
        assert_eq!(both.to_string(), "127.0.0.2:2001");
        assert_eq!(daemon_address("tcp:127.0.0.1:2000"), None);
        assert_eq!(daemon_address("nonsense"), None);
    }

    #[test]
    fn a_call_answered_with_an_error_is_marked_so() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let call = |status| Call {
            trace_id: "1-a-b",
            parent_id: "p",
            service: "DynamoDB",
            operation: "GetItem",
            region: Some("eu-north-1"),
            status,
            request_id: Some("R1"),
            started: t,
            ended: t + std::time::Duration::from_millis(12),
        };
        let ok = call(Some(200)).document();
        assert_eq!((ok["name"].as_str(), ok["aws"]["operation"].as_str()), (Some("DynamoDB"), Some("GetItem")));
        assert_eq!(ok["http"]["response"]["status"], 200);
        assert!(ok.get("error").is_none() && ok.get("fault").is_none());
        assert!((ok["end_time"].as_f64().unwrap() - ok["start_time"].as_f64().unwrap() - 0.012).abs() < 1e-6);
        assert_eq!(call(Some(400)).document()["error"], true);
        let throttled = call(Some(429)).document();
        assert_eq!((&throttled["error"], &throttled["throttle"]), (&json!(true), &json!(true)));
        assert_eq!(call(Some(503)).document()["fault"], true);
        assert_eq!(call(None).document()["fault"], true);
    }
}
