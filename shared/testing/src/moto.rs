//! Test harness for the AWS adapters: a moto server (the one named by
//! `MOTO_ENDPOINT`, or one this process starts with `scripts/moto_server.py`
//! and the `.venv` Python, or any `python3` that has moto), SDK clients pointed at it, and the stack's
//! tables, bucket and queue created under names no other test uses.
//! Without moto the tests FAIL with instructions; they never skip.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use bufdir_aws::{AwsNames, Clients, provision};

pub const REGION: &str = "eu-north-1";

static ENDPOINT: OnceLock<String> = OnceLock::new();

/// The project folder, whichever crate's tests include this harness.
fn root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().find(|d| d.join("scripts/moto_server.py").is_file()).unwrap_or(&here).to_path_buf()
}

/// A Python that can import moto: the project's `.venv`, else `python3`.
fn moto_python() -> Option<PathBuf> {
    let mut candidates = vec![root().join(".venv/bin/python")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("python3")));
    }
    candidates.into_iter().filter(|p| p.is_file()).find(|p| {
        Command::new(p)
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_ready(endpoint: &str, within: Duration) {
    let started = Instant::now();
    let url = format!("{endpoint}/moto-api/");
    while started.elapsed() < within {
        if probe::answers_200(&url).unwrap_or(false) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("moto server at {endpoint} did not answer {url} within {within:?}");
}

mod probe {
    /// A minimal blocking GET (the workspace's reqwest has no blocking client).
    pub fn answers_200(url: &str) -> std::io::Result<bool> {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap_or(url);
        let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
        let mut s = std::net::TcpStream::connect(host)?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"))
    }
}

/// The moto endpoint shared by a test binary, starting a server on first use.
pub fn endpoint() -> &'static str {
    ENDPOINT.get_or_init(|| {
        if let Ok(url) = std::env::var("MOTO_ENDPOINT") {
            let url = url.trim_end_matches('/').to_string();
            wait_ready(&url, Duration::from_secs(10));
            return url;
        }
        start_moto(&[])
    })
}

/// Starts a moto server of this test process's own (it ends with the
/// process) with extra environment, and returns its endpoint.
pub fn start_moto(env: &[(&str, &str)]) -> String {
    let Some(python) = moto_python() else {
        panic!(
            "These tests need moto's server and no Python with moto was found.\n\
             Install it: python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt\n\
             (or set MOTO_ENDPOINT=http://127.0.0.1:PORT to a server started by scripts/moto-server.sh)."
        );
    };
    let launcher = root().join("scripts/moto_server.py");
    let port = free_port();
    // A watchdog shell ends moto when this test process is gone.
    let script = format!(
        "\"$0\" \"$1\" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done; kill $m 2>/dev/null",
        parent = std::process::id()
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).arg(&python).arg(&launcher);
    for (k, v) in env {
        cmd.env(k, v);
    }
    // Never waited for: the watchdog shell lives exactly as long as this
    // process, and is reaped by init when it goes.
    #[allow(clippy::zombie_processes)]
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start moto with {}: {e}", python.display()));
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&url, Duration::from_secs(30));
    url
}

/// Clients for the shared server.
pub async fn clients() -> Clients {
    clients_for(endpoint()).await
}

pub async fn clients_for(endpoint: &str) -> Clients {
    Clients::new(&sdk_config_for(endpoint).await)
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_config_for(endpoint()).await
}

pub async fn sdk_config_for(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(bufdir_aws::config::https_client())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "moto"))
        .load()
        .await
}

/// A name no other test (or earlier run) uses.
pub fn unique(label: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000_000;
    format!("{label}-{nanos:x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The exports table as template.yaml defines it.
pub async fn create_exports_table(c: &Clients, name: &str) {
    provision::create_exports_table(c, name).await.unwrap();
}

/// The activities table as template.yaml defines it.
pub async fn create_activities_table(c: &Clients, name: &str) {
    provision::create_activities_table(c, name).await.unwrap();
}

pub async fn create_bucket(c: &Clients, name: &str) {
    provision::create_bucket(c, name).await.unwrap();
}

/// Returns the queue URL.
pub async fn create_queue(c: &Clients, name: &str) -> String {
    provision::create_queue(c, name).await.unwrap()
}

/// Every resource of a stack, freshly named, as `AwsNames`.
pub async fn stack(c: &Clients, state_machine_arn: Option<String>) -> AwsNames {
    let names = AwsNames {
        exports_table: unique("exports"),
        activities_table: unique("activities"),
        files_bucket: unique("files"),
        files_prefix: "exports/".into(),
        outbox_prefix: "bufdir-outbox/".into(),
        events_queue_url: String::new(),
        state_machine_arn,
        job_retention: chrono::Duration::days(90),
        activities_page_size: None,
        attachments_bucket: String::new(),
        attachments_prefix: "attachments/".into(),
        imports_table: unique("imports"),
        uploads_prefix: "uploads/".into(),
        imports_queue_url: None,
        webhooks_table: unique("webhooks"),
        audit_table: unique("audit"),
    };
    create_exports_table(c, &names.exports_table).await;
    create_activities_table(c, &names.activities_table).await;
    provision::create_imports_table(c, &names.imports_table).await.unwrap();
    provision::create_webhooks_table(c, &names.webhooks_table).await.unwrap();
    provision::create_audit_table(c, &names.audit_table).await.unwrap();
    create_bucket(c, &names.files_bucket).await;
    let events_queue_url = create_queue(c, &unique("events")).await;
    let imports_queue_url = create_queue(c, &unique("imports")).await;
    provision::notify_uploads(c, &names.files_bucket, &names.uploads_prefix, &imports_queue_url).await.unwrap();
    AwsNames {
        events_queue_url,
        imports_queue_url: Some(imports_queue_url),
        attachments_bucket: names.files_bucket.clone(),
        ..names
    }
}

/// Every message on the queue, removed from it.
pub async fn drain_queue(c: &Clients, queue_url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = c
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .visibility_timeout(60)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        for m in messages {
            bodies.push(m.body.clone().unwrap_or_default());
            c.sqs.delete_message().queue_url(queue_url).receipt_handle(m.receipt_handle.unwrap()).send().await.unwrap();
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// SigV4's URI encoding: everything but unreserved characters (and `/` in paths).
fn sigv4_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// Checks a presigned GET the way S3 does (moto serves presigned URLs but
/// does not check their signatures): SigV4 query authentication with the
/// test credentials, the signed host, and the expiry. Err says why not.
pub fn verify_presigned(url: &str) -> Result<(), String> {
    use sha2::Digest;
    let rest = url.strip_prefix("http://").ok_or("not an http URL")?;
    let (host, path_query) = rest.split_once('/').ok_or("no path")?;
    let (path, query) = path_query.split_once('?').ok_or("no query")?;
    let params: Vec<(String, String)> = query
        .split('&')
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let signature = get("X-Amz-Signature").ok_or("unsigned")?;
    if get("X-Amz-Algorithm").as_deref() != Some("AWS4-HMAC-SHA256") {
        return Err("not SigV4".into());
    }
    if get("X-Amz-SignedHeaders").as_deref() != Some("host") {
        return Err(format!("signed headers {:?}", get("X-Amz-SignedHeaders")));
    }
    let date = get("X-Amz-Date").ok_or("no date")?;
    let expires: i64 = get("X-Amz-Expires").ok_or("no expiry")?.parse().map_err(|_| "bad expiry")?;
    let signed_at = chrono::NaiveDateTime::parse_from_str(&date, "%Y%m%dT%H%M%SZ").map_err(|_| "bad date")?.and_utc();
    if chrono::Utc::now() > signed_at + chrono::Duration::seconds(expires) {
        return Err("expired".into());
    }
    let credential = get("X-Amz-Credential").ok_or("no credential")?;
    let scope = credential.split_once('/').ok_or("bad credential")?.1.to_string();
    let mut canonical_query: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| (sigv4_encode(k, false), sigv4_encode(v, false)))
        .collect();
    canonical_query.sort();
    let canonical_query = canonical_query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let canonical_uri = sigv4_encode(&percent_decode(&format!("/{path}")), true);
    let canonical_request = format!("GET\n{canonical_uri}\n{canonical_query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex::encode(sha2::Sha256::digest(canonical_request.as_bytes()))
    );
    let parts: Vec<&str> = scope.split('/').collect();
    let mut key = hmac(b"AWS4test", parts[0]);
    for p in &parts[1..] {
        key = hmac(&key, p);
    }
    if hex::encode(hmac(&key, &string_to_sign)) != signature {
        return Err("signature does not match".into());
    }
    Ok(())
}

/// A browser's download of a presigned URL: refused (None) when S3 would
/// refuse the signature, otherwise whatever moto serves (None unless 2xx).
pub async fn presigned_get(url: String) -> Option<Vec<u8>> {
    verify_presigned(&url).ok()?;
    let r = reqwest::get(&url).await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    Some(r.bytes().await.ok()?.to_vec())
}

pub const ACCOUNT: &str = "123456789012";

/// The state machine's definition with the template's DefinitionSubstitutions
/// filled in, naming the functions `{prefix}-generate`, `{prefix}-submit`...
pub fn asl_definition(prefix: &str) -> String {
    let definition =
        provision::workflow_definition(|step| format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{prefix}-{step}"));
    assert!(!definition.contains("${"), "every substitution is filled");
    definition
}

/// Creates the export state machine named `prefix`; returns its ARN.
pub async fn create_state_machine(c: &Clients, prefix: &str) -> String {
    c.sfn
        .create_state_machine()
        .name(prefix)
        .definition(asl_definition(prefix))
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/export-workflow"))
        .send()
        .await
        .unwrap()
        .state_machine_arn
}
