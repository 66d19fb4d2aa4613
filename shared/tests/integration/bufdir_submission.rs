//! The HTTP Bufdir submitter and its Maskinporten client against real HTTP
//! servers on loopback: a token endpoint that verifies each JWT grant with
//! the public key and checks every claim, and a receiver that checks the
//! bearer token and records what it got.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::NaiveDate;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::adapters::maskinporten::{
    BufdirApiConfig, GRANT_TYPE, HttpBufdirSubmitter, MaskinportenConfig, RetryPolicy,
};
use shared::ports::{BufdirSubmitter, PortError, Submission};
use tokio::sync::Mutex;

const AUD: &str = "https://test.maskinporten.example/";
const CLIENT_ID: &str = "0f5e9a2c-test-client";
const SCOPE: &str = "bufdir:tilskuddsrapport.write";
const KID: &str = "org-demo-key-2025";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/maskinporten").join(name)
}

fn private_key() -> Vec<u8> {
    std::fs::read(fixture("test-private-key.pem")).unwrap()
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

// ---------------------------------------------------------------- token endpoint

#[derive(Clone, Copy, Debug, PartialEq)]
enum TokenMode {
    /// Issue tokens living this many seconds.
    Issue(u64),
    /// 400 invalid_client, as Maskinporten answers an unknown client.
    Refuse,
    /// 503.
    Unavailable,
}

struct TokenEndpoint {
    public: DecodingKey,
    mode: Mutex<TokenMode>,
    requests: AtomicUsize,
    jtis: Mutex<HashSet<String>>,
    issued: Mutex<Vec<String>>,
    /// Every grant that failed a check, and why.
    problems: Mutex<Vec<String>>,
}

impl TokenEndpoint {
    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
    async fn is_valid(&self, token: &str) -> bool {
        self.issued.lock().await.iter().any(|t| t == token)
    }
}

fn public_key() -> DecodingKey {
    let pem = std::fs::read_to_string(fixture("test-public-key.pem")).unwrap();
    let public = rsa::RsaPublicKey::from_public_key_pem(&pem).unwrap();
    DecodingKey::from_rsa_der(public.to_pkcs1_der().unwrap().as_bytes())
}

/// Every rule Maskinporten applies to a JWT grant, or why it fails.
async fn check_grant(state: &TokenEndpoint, form: &HashMap<String, String>) -> Result<(), String> {
    if form.get("grant_type").map(String::as_str) != Some(GRANT_TYPE) {
        return Err(format!("grant_type is {:?}", form.get("grant_type")));
    }
    let assertion = form.get("assertion").ok_or("no assertion")?;
    let header = jsonwebtoken::decode_header(assertion).map_err(|e| format!("header: {e}"))?;
    if header.alg != Algorithm::RS256 {
        return Err(format!("alg is {:?}", header.alg));
    }
    if header.kid.as_deref() != Some(KID) {
        return Err(format!("kid is {:?}", header.kid));
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[AUD]);
    validation.set_issuer(&[CLIENT_ID]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Value>(assertion, &state.public, &validation)
        .map_err(|e| format!("signature or claims: {e}"))?
        .claims;
    if claims["scope"] != SCOPE {
        return Err(format!("scope is {}", claims["scope"]));
    }
    let (iat, exp) = (claims["iat"].as_i64().ok_or("iat")?, claims["exp"].as_i64().ok_or("exp")?);
    let now = chrono::Utc::now().timestamp();
    if (iat - now).abs() > 5 {
        return Err(format!("iat {iat} is not now ({now})"));
    }
    if exp <= iat || exp - iat > 120 {
        return Err(format!("exp - iat is {} s", exp - iat));
    }
    let jti = claims["jti"].as_str().filter(|j| j.len() >= 16).ok_or("jti missing or short")?;
    if !state.jtis.lock().await.insert(jti.to_string()) {
        return Err(format!("jti {jti} was used before"));
    }
    Ok(())
}

async fn token_handler(State(state): State<Arc<TokenEndpoint>>, Form(form): Form<HashMap<String, String>>) -> Response {
    let n = state.requests.fetch_add(1, Ordering::SeqCst) + 1;
    if let Err(why) = check_grant(&state, &form).await {
        state.problems.lock().await.push(why.clone());
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant", "error_description": why})))
            .into_response();
    }
    match *state.mode.lock().await {
        TokenMode::Refuse => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_client", "error_description": "Client not registered for this scope"})),
        )
            .into_response(),
        TokenMode::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "maintenance").into_response(),
        TokenMode::Issue(expires_in) => {
            let token = format!("mp-token-{n}-{:016x}", rand::random::<u64>());
            state.issued.lock().await.push(token.clone());
            axum::Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": SCOPE}))
                .into_response()
        }
    }
}

async fn token_endpoint(mode: TokenMode) -> (String, Arc<TokenEndpoint>) {
    let state = Arc::new(TokenEndpoint {
        public: public_key(),
        mode: Mutex::new(mode),
        requests: AtomicUsize::new(0),
        jtis: Mutex::new(HashSet::new()),
        issued: Mutex::new(Vec::new()),
        problems: Mutex::new(Vec::new()),
    });
    let url = serve(Router::new().route("/token", post(token_handler)).with_state(state.clone())).await;
    (format!("{url}/token"), state)
}

// ---------------------------------------------------------------- receiver

/// What the receiver does with the next request (after recording it).
#[derive(Clone, Debug)]
enum Reply {
    /// Answer with this status, content type, body and Retry-After.
    Status(u16, &'static str, String, Option<&'static str>),
    /// Take this long before accepting.
    Slow(Duration),
    /// Revoke the token the request carried and answer 401.
    RevokeToken,
}

#[derive(Clone, Debug, Default)]
struct Received {
    authorization: Option<String>,
    idempotency_key: Option<String>,
    content_type: Option<String>,
    parts: Vec<String>,
    metadata: Option<Value>,
    file_name: Option<String>,
    file_content_type: Option<String>,
    file: Vec<u8>,
}

struct Receiver {
    tokens: Arc<TokenEndpoint>,
    revoked: Mutex<HashSet<String>>,
    script: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
    /// idempotency key -> (sha256, reference): what a real receiver keeps.
    accepted: Mutex<HashMap<String, (String, String)>>,
}

impl Receiver {
    async fn received(&self) -> Vec<Received> {
        self.received.lock().await.clone()
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(String::from)
}

async fn receive_handler(State(state): State<Arc<Receiver>>, headers: HeaderMap, mut multipart: Multipart) -> Response {
    let mut got = Received {
        authorization: header_text(&headers, "authorization"),
        idempotency_key: header_text(&headers, "idempotency-key"),
        content_type: header_text(&headers, "content-type"),
        ..Received::default()
    };
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_string();
                got.parts.push(name.clone());
                if name == "file" {
                    got.file_name = field.file_name().map(String::from);
                    got.file_content_type = field.content_type().map(String::from);
                    got.file = field.bytes().await.unwrap().to_vec();
                } else if name == "metadata" {
                    got.metadata = serde_json::from_slice(&field.bytes().await.unwrap()).ok();
                }
            }
            Ok(None) => break,
            Err(e) => {
                return (StatusCode::BAD_REQUEST, format!("bad multipart: {e}")).into_response();
            }
        }
    }
    state.received.lock().await.push(got.clone());

    let token = got.authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")).unwrap_or("").to_string();
    if !state.tokens.is_valid(&token).await || state.revoked.lock().await.contains(&token) {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")], "")
            .into_response();
    }
    match state.script.lock().await.pop_front() {
        Some(Reply::Status(code, content_type, body, retry_after)) => {
            let mut response =
                (StatusCode::from_u16(code).unwrap(), [(header::CONTENT_TYPE, content_type)], body).into_response();
            if let Some(seconds) = retry_after {
                response.headers_mut().insert(header::RETRY_AFTER, seconds.parse().unwrap());
            }
            return response;
        }
        Some(Reply::RevokeToken) => {
            state.revoked.lock().await.insert(token);
            return (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "token revoked"}))).into_response();
        }
        Some(Reply::Slow(delay)) => tokio::time::sleep(delay).await,
        None => {}
    }

    let sha256 = hex::encode(Sha256::digest(&got.file));
    let Some(metadata) = got.metadata else {
        return (StatusCode::BAD_REQUEST, "no metadata part").into_response();
    };
    if metadata["sha256"] != sha256.as_str() {
        return (StatusCode::UNPROCESSABLE_ENTITY, "sha256 does not match the file").into_response();
    }
    let key = got.idempotency_key.unwrap_or_default();
    let mut accepted = state.accepted.lock().await;
    let count = accepted.len();
    let (stored_sha, reference) =
        accepted.entry(key).or_insert_with(|| (sha256.clone(), format!("BUF-2025-{:05}", count + 1))).clone();
    if stored_sha != sha256 {
        return (StatusCode::CONFLICT, axum::Json(json!({"detail": "idempotency key reused for another file"})))
            .into_response();
    }
    (StatusCode::CREATED, axum::Json(json!({"reference": reference, "status": "received"}))).into_response()
}

async fn receiver(tokens: Arc<TokenEndpoint>, script: Vec<Reply>) -> (String, Arc<Receiver>) {
    let state = Arc::new(Receiver {
        tokens,
        revoked: Mutex::new(HashSet::new()),
        script: Mutex::new(script.into()),
        received: Mutex::new(Vec::new()),
        accepted: Mutex::new(HashMap::new()),
    });
    let router = Router::new()
        .route("/api/v1/reports", post(receive_handler))
        .layer(DefaultBodyLimit::disable())
        .with_state(state.clone());
    let url = serve(router).await;
    (format!("{url}/api/v1/reports"), state)
}

// ---------------------------------------------------------------- harness

fn fast_retry(max_tries: u32) -> RetryPolicy {
    RetryPolicy {
        max_tries,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_millis(250),
    }
}

fn config(token_url: &str, receiver_url: &str) -> BufdirApiConfig {
    let mut config = BufdirApiConfig::new(
        receiver_url,
        MaskinportenConfig {
            token_url: token_url.to_string(),
            issuer: AUD.to_string(),
            client_id: CLIENT_ID.to_string(),
            scope: SCOPE.to_string(),
            key_id: KID.to_string(),
        },
    );
    config.retry = fast_retry(4);
    config.request_timeout = Duration::from_secs(5);
    config
}

struct Harness {
    tokens: Arc<TokenEndpoint>,
    receiver: Arc<Receiver>,
    submitter: HttpBufdirSubmitter,
    report: Vec<u8>,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new(mode: TokenMode, script: Vec<Reply>) -> Self {
        Self::with(mode, script, |_| {}).await
    }

    async fn with(mode: TokenMode, script: Vec<Reply>, tune: impl FnOnce(&mut BufdirApiConfig)) -> Self {
        let (token_url, tokens) = token_endpoint(mode).await;
        let (receiver_url, receiver) = receiver(tokens.clone(), script).await;
        let mut config = config(&token_url, &receiver_url);
        tune(&mut config);
        let submitter = HttpBufdirSubmitter::new(&config, &private_key()).unwrap();
        // Bytes that a text-mangling or truncating transfer would damage.
        let report: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bufdir-rapport-org-demo-2025.xlsx");
        std::fs::write(&file, &report).unwrap();
        Harness { tokens, receiver, submitter, report, file, _dir: dir }
    }

    fn submission(&self, attempt: u32) -> Submission {
        Submission {
            export_id: "exp-01HZX".to_string(),
            attempt,
            org_id: "org-demo".to_string(),
            organisation_name: Some("Foreningen for pårørende".into()),
            organisation_number: Some("974760673".into()),
            period_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            period_to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
            report_profile: "likeperson".to_string(),
            filename: "bufdir-rapport-org-demo-2025.xlsx".to_string(),
            content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
            sha256: hex::encode(Sha256::digest(&self.report)),
            idempotency_key: format!("exp-01HZX-a{attempt}"),
        }
    }

    async fn submit(&self, submission: &Submission) -> Result<shared::ports::Receipt, PortError> {
        self.submitter.submit(submission, &self.file).await
    }

    async fn assert_grants_were_valid(&self) {
        let problems = self.tokens.problems.lock().await;
        assert!(problems.is_empty(), "the token endpoint refused grants: {problems:?}");
    }

    async fn keys_sent(&self) -> Vec<String> {
        self.receiver.received().await.into_iter().map(|r| r.idempotency_key.unwrap_or_default()).collect()
    }
}

fn transient(result: Result<shared::ports::Receipt, PortError>) -> String {
    match result {
        Err(PortError::Transient(m)) => m,
        other => panic!("expected a transient error, got {other:?}"),
    }
}

fn permanent(result: Result<shared::ports::Receipt, PortError>) -> String {
    match result {
        Err(PortError::Permanent(m)) => m,
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

fn problem(status: u16, detail: &str) -> Reply {
    Reply::Status(
        status,
        "application/problem+json",
        json!({"type": "about:blank", "title": "Rejected", "status": status, "detail": detail}).to_string(),
        None,
    )
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn success_delivers_the_report_intact_with_token_key_and_metadata_and_caches_the_token() {
    let h = Harness::new(TokenMode::Issue(120), vec![]).await;
    let submission = h.submission(1);

    let receipt = h.submit(&submission).await.unwrap();
    assert_eq!(receipt.reference, "BUF-2025-00001");
    // A second export's submission reuses the cached token.
    let other = h.submission(2);
    let second = h.submit(&other).await.unwrap();
    assert_eq!(second.reference, "BUF-2025-00002");
    assert_eq!(h.tokens.requests(), 1, "the token is cached between submissions");
    h.assert_grants_were_valid().await;

    let received = h.receiver.received().await;
    assert_eq!(received.len(), 2);
    let got = &received[0];
    let token = h.tokens.issued.lock().await[0].clone();
    assert_eq!(got.authorization.as_deref(), Some(format!("Bearer {token}").as_str()));
    assert_eq!(got.idempotency_key.as_deref(), Some("exp-01HZX-a1"));
    assert!(got.content_type.as_deref().unwrap().starts_with("multipart/form-data; boundary="));
    assert_eq!(got.parts, ["metadata", "file"]);
    assert_eq!(got.file, h.report, "the file arrives byte for byte");
    assert_eq!(hex::encode(Sha256::digest(&got.file)), submission.sha256);
    assert_eq!(got.file_name.as_deref(), Some(submission.filename.as_str()));
    assert_eq!(got.file_content_type.as_deref(), Some(submission.content_type.as_str()));
    let metadata = got.metadata.as_ref().expect("a metadata JSON part");
    assert_eq!(
        *metadata,
        json!({
            "export_id": "exp-01HZX", "attempt": 1, "org_id": "org-demo",
            "organisation_name": "Foreningen for pårørende", "organisation_number": "974760673",
            "period_from": "2025-01-01", "period_to": "2025-12-31", "report_profile": "likeperson",
            "filename": submission.filename, "content_type": submission.content_type,
            "sha256": submission.sha256, "size_bytes": h.report.len(), "idempotency_key": "exp-01HZX-a1",
        })
    );
    assert_eq!(received[1].idempotency_key.as_deref(), Some("exp-01HZX-a2"));
    assert_eq!(received[1].authorization, got.authorization);
}

#[tokio::test]
async fn concurrent_submissions_share_one_token_request() {
    let h = Arc::new(Harness::new(TokenMode::Issue(120), vec![]).await);
    let tasks: Vec<_> = (1..=6)
        .map(|attempt| {
            let h = h.clone();
            tokio::spawn(async move { h.submit(&h.submission(attempt)).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(h.tokens.requests(), 1, "one refresh at a time, shared by all");
    assert_eq!(h.receiver.received().await.len(), 6);
    h.assert_grants_were_valid().await;
}

#[tokio::test]
async fn a_token_is_refreshed_before_it_expires() {
    // Lives 2 s, so it is used for 1.8 s.
    let h = Harness::new(TokenMode::Issue(2), vec![]).await;
    h.submit(&h.submission(1)).await.unwrap();
    h.submit(&h.submission(1)).await.unwrap();
    assert_eq!(h.tokens.requests(), 1);
    tokio::time::sleep(Duration::from_millis(1900)).await;
    h.submit(&h.submission(1)).await.unwrap();
    assert_eq!(h.tokens.requests(), 2, "an expiring token is replaced");
    h.assert_grants_were_valid().await;
    let received = h.receiver.received().await;
    assert_ne!(received[0].authorization, received[2].authorization);
}

#[tokio::test]
async fn token_refusal_is_permanent_with_the_endpoints_message() {
    let h = Harness::new(TokenMode::Refuse, vec![]).await;
    let message = permanent(h.submit(&h.submission(1)).await);
    assert!(message.contains("invalid_client"), "{message}");
    assert!(message.contains("Client not registered for this scope"), "{message}");
    assert!(message.contains("400"), "{message}");
    assert_eq!(h.tokens.requests(), 1, "a refusal is not retried");
    assert!(h.receiver.received().await.is_empty(), "nothing is sent without a token");
    h.assert_grants_were_valid().await;
}

#[tokio::test]
async fn token_endpoint_unavailable_is_transient_after_the_tries() {
    let h = Harness::new(TokenMode::Unavailable, vec![]).await;
    let message = transient(h.submit(&h.submission(1)).await);
    assert!(message.contains("503") && message.contains("maintenance"), "{message}");
    assert!(message.contains("gave up after 4 tries"), "{message}");
    assert_eq!(h.tokens.requests(), 4);
    assert!(h.receiver.received().await.is_empty());
    // Every try signed a new grant with its own jti.
    assert_eq!(h.tokens.jtis.lock().await.len(), 4);
    h.assert_grants_were_valid().await;
}

#[tokio::test]
async fn a_grant_signed_with_another_key_is_refused_by_the_endpoint() {
    let (token_url, tokens) = token_endpoint(TokenMode::Issue(120)).await;
    let (receiver_url, _receiver) = receiver(tokens.clone(), vec![]).await;
    let other_key = std::fs::read(fixture("other-private-key.pem")).unwrap();
    let submitter = HttpBufdirSubmitter::new(&config(&token_url, &receiver_url), &other_key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.json");
    std::fs::write(&file, b"{}").unwrap();
    let submission = Submission {
        export_id: "exp-1".into(),
        attempt: 1,
        org_id: "org-demo".into(),
        organisation_name: Some("Foreningen for pårørende".into()),
        organisation_number: Some("974760673".into()),
        period_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        period_to: NaiveDate::from_ymd_opt(2025, 6, 30).unwrap(),
        report_profile: "standard".into(),
        filename: "r.json".into(),
        content_type: "application/json".into(),
        sha256: hex::encode(Sha256::digest(b"{}")),
        idempotency_key: "exp-1-a1".into(),
    };
    let message = permanent(submitter.submit(&submission, &file).await);
    assert!(message.contains("invalid_grant") && message.contains("InvalidSignature"), "{message}");
    assert_eq!(tokens.problems.lock().await.len(), 1, "the test endpoint really checks signatures");
}

#[tokio::test]
async fn grants_carry_every_claim_and_a_fresh_jti() {
    let h = Harness::new(TokenMode::Issue(120), vec![]).await;
    let mut jtis = HashSet::new();
    for _ in 0..10 {
        let grant = h.submitter.tokens().grant().unwrap();
        let header = jsonwebtoken::decode_header(&grant).unwrap();
        assert_eq!((header.alg, header.kid.as_deref()), (Algorithm::RS256, Some(KID)));
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[AUD]);
        validation.set_issuer(&[CLIENT_ID]);
        let claims = jsonwebtoken::decode::<Value>(&grant, &h.tokens.public, &validation).unwrap().claims;
        assert_eq!(claims["scope"], SCOPE);
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120);
        let jti = claims["jti"].as_str().unwrap();
        assert_eq!(jti.len(), 36, "a UUID: {jti}");
        assert!(jtis.insert(jti.to_string()), "jti {jti} repeated");
    }
}

#[tokio::test]
async fn receiver_429_then_success_retries_with_the_same_idempotency_key_and_honours_retry_after() {
    let h = Harness::new(
        TokenMode::Issue(120),
        vec![Reply::Status(429, "application/json", r#"{"message":"slow down"}"#.into(), Some("5"))],
    )
    .await;
    let started = Instant::now();
    let receipt = h.submit(&h.submission(1)).await.unwrap();
    let took = started.elapsed();
    assert_eq!(receipt.reference, "BUF-2025-00001");
    assert_eq!(h.keys_sent().await, ["exp-01HZX-a1", "exp-01HZX-a1"]);
    // Retry-After: 5 is honoured, capped at max_retry_after (250 ms here).
    assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(4), "took {took:?}");
    let received = h.receiver.received().await;
    assert_eq!(received[1].file, h.report);
    assert_eq!(h.tokens.requests(), 1);
}

#[tokio::test]
async fn receiver_500_until_give_up_is_transient_after_max_tries() {
    let script = vec![Reply::Status(500, "text/plain", "database down".into(), None); 10];
    let h = Harness::with(TokenMode::Issue(120), script, |c| c.retry = fast_retry(3)).await;
    let message = transient(h.submit(&h.submission(1)).await);
    assert!(message.contains("500 Internal Server Error"), "{message}");
    assert!(message.contains("database down"), "{message}");
    assert!(message.contains("gave up after 3 tries"), "{message}");
    assert_eq!(h.keys_sent().await, ["exp-01HZX-a1"; 3]);
    let token = h.tokens.issued.lock().await[0].clone();
    assert!(!message.contains(&token), "no token in error messages");
}

#[tokio::test]
async fn receiver_400_is_permanent_at_once_with_its_message() {
    let h = Harness::new(TokenMode::Issue(120), vec![problem(400, "period_to must not be before period_from")]).await;
    let message = permanent(h.submit(&h.submission(1)).await);
    assert!(message.contains("400 Bad Request"), "{message}");
    assert!(message.contains("period_to must not be before period_from"), "{message}");
    assert_eq!(h.receiver.received().await.len(), 1, "exactly one try");
}

#[tokio::test]
async fn a_long_receiver_message_is_cut() {
    let h = Harness::new(TokenMode::Issue(120), vec![Reply::Status(422, "text/plain", "why ".repeat(500), None)]).await;
    let message = permanent(h.submit(&h.submission(1)).await);
    assert!(message.contains("422"), "{message}");
    assert!(message.len() < 500, "{} chars: {message}", message.len());
    assert!(message.ends_with('…'), "{message}");
}

#[tokio::test]
async fn a_slow_receiver_past_the_timeout_is_transient() {
    let script = vec![Reply::Slow(Duration::from_secs(5)); 2];
    let h = Harness::with(TokenMode::Issue(120), script, |c| {
        c.request_timeout = Duration::from_millis(400);
        c.retry = fast_retry(2);
    })
    .await;
    let started = Instant::now();
    let message = transient(h.submit(&h.submission(1)).await);
    assert!(message.contains("timed out"), "{message}");
    assert!(message.contains("gave up after 2 tries"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert_eq!(h.keys_sent().await, ["exp-01HZX-a1"; 2]);
}

#[tokio::test]
async fn a_401_drops_the_cached_token_and_retries_once_with_a_fresh_one() {
    let h = Harness::new(TokenMode::Issue(3600), vec![Reply::RevokeToken]).await;
    let receipt = h.submit(&h.submission(1)).await.unwrap();
    assert_eq!(receipt.reference, "BUF-2025-00001");
    assert_eq!(h.tokens.requests(), 2, "a fresh token was fetched");
    let received = h.receiver.received().await;
    assert_eq!(received.len(), 2);
    assert_ne!(received[0].authorization, received[1].authorization);
    assert_eq!(h.keys_sent().await, ["exp-01HZX-a1"; 2]);
    // The fresh token is the one cached now.
    h.submit(&h.submission(2)).await.unwrap();
    assert_eq!(h.tokens.requests(), 2);
    h.assert_grants_were_valid().await;
}

#[tokio::test]
async fn a_second_401_is_permanent() {
    let h = Harness::new(TokenMode::Issue(3600), vec![Reply::RevokeToken, Reply::RevokeToken]).await;
    let message = permanent(h.submit(&h.submission(1)).await);
    assert!(message.contains("401 Unauthorized") && message.contains("token revoked"), "{message}");
    assert!(message.contains("MASKINPORTEN_SCOPE"), "{message}");
    assert_eq!(h.receiver.received().await.len(), 2);
    for token in h.tokens.issued.lock().await.iter() {
        assert!(!message.contains(token.as_str()), "no token in error messages");
    }
}

#[tokio::test]
async fn a_retried_submission_reuses_the_idempotency_key_and_gets_the_same_reference() {
    let script = vec![Reply::Status(503, "text/plain", "busy".into(), None); 2];
    let h = Harness::with(TokenMode::Issue(120), script, |c| c.retry = fast_retry(2)).await;
    let submission = h.submission(1);

    // The step fails for now; the workflow retries it later, same attempt.
    transient(h.submit(&submission).await);
    let first = h.submit(&submission).await.unwrap();
    // Run again after success (e.g. the step's result was lost): the
    // receiver recognises the key and answers with the same reference.
    let again = h.submit(&submission).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(h.keys_sent().await, ["exp-01HZX-a1"; 4]);
    assert_eq!(h.receiver.accepted.lock().await.len(), 1, "filed once");

    // A new export attempt is a new submission.
    let next = h.submit(&h.submission(2)).await.unwrap();
    assert_ne!(next.reference, first.reference);
    assert_eq!(h.tokens.requests(), 1);
}

#[tokio::test]
async fn a_2xx_without_a_reference_is_permanent() {
    let h = Harness::new(TokenMode::Issue(120), vec![Reply::Status(200, "application/json", "{}".into(), None)]).await;
    let message = permanent(h.submit(&h.submission(1)).await);
    assert!(message.contains("gave no reference"), "{message}");
}

#[tokio::test]
async fn a_report_that_does_not_match_its_sha256_is_not_sent() {
    let h = Harness::new(TokenMode::Issue(120), vec![]).await;
    let mut submission = h.submission(1);
    submission.sha256 = "00".repeat(32);
    let message = permanent(h.submit(&submission).await);
    assert!(message.contains("sha256"), "{message}");
    assert!(h.receiver.received().await.is_empty());
    assert_eq!(h.tokens.requests(), 0);
}

#[tokio::test]
async fn the_receiver_being_down_is_transient() {
    let (token_url, _tokens) = token_endpoint(TokenMode::Issue(120)).await;
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut config = config(&token_url, &format!("http://{closed}/reports"));
    config.retry = fast_retry(2);
    let submitter = HttpBufdirSubmitter::new(&config, &private_key()).unwrap();
    let h = Harness::new(TokenMode::Issue(120), vec![]).await;
    let message = transient(submitter.submit(&h.submission(1), &h.file).await);
    assert!(message.contains("gave up after 2 tries"), "{message}");
}

// ---------------------------------------------------------------- configuration

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| vars.get(name).cloned()
}

fn full_env() -> Vec<(&'static str, String)> {
    vec![
        ("BUFDIR_RECEIVER_URL", "https://mottak.example.no/api/v1/reports".to_string()),
        ("MASKINPORTEN_TOKEN_URL", "https://test.maskinporten.no/token".to_string()),
        ("MASKINPORTEN_ISSUER", "https://test.maskinporten.no/".to_string()),
        ("MASKINPORTEN_CLIENT_ID", CLIENT_ID.to_string()),
        ("MASKINPORTEN_SCOPE", SCOPE.to_string()),
        ("MASKINPORTEN_KEY_ID", KID.to_string()),
        ("MASKINPORTEN_KEY_FILE", fixture("test-private-key.pem").display().to_string()),
    ]
}

fn lookup(vars: &[(&'static str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env(&pairs)
}

#[test]
fn config_is_absent_without_a_receiver_url() {
    assert_eq!(BufdirApiConfig::from_lookup(env(&[])).unwrap(), None);
    assert_eq!(BufdirApiConfig::from_lookup(env(&[("BUFDIR_RECEIVER_URL", "  ")])).unwrap(), None);
    // Maskinporten settings alone do not turn submission on.
    let mut vars = full_env();
    vars.remove(0);
    assert_eq!(BufdirApiConfig::from_lookup(lookup(&vars)).unwrap(), None);
}

#[test]
fn config_names_what_is_missing() {
    let mut vars = full_env();
    vars.retain(|(k, _)| *k != "MASKINPORTEN_SCOPE" && *k != "MASKINPORTEN_KEY_FILE");
    let err = BufdirApiConfig::from_lookup(lookup(&vars)).unwrap_err().to_string();
    assert!(
        err.contains("MASKINPORTEN_SCOPE, MASKINPORTEN_KEY_FILE or MASKINPORTEN_KEY_SECRET_ID are not set"),
        "{err}"
    );
}

#[test]
fn config_takes_the_key_from_exactly_one_place() {
    let mut vars = full_env();
    vars.push(("MASKINPORTEN_KEY_SECRET_ID", "bufdir/maskinporten-key".to_string()));
    let err = BufdirApiConfig::from_lookup(lookup(&vars)).unwrap_err().to_string();
    assert!(err.contains("MASKINPORTEN_KEY_FILE and MASKINPORTEN_KEY_SECRET_ID are both set"), "{err}");

    vars.retain(|(k, _)| *k != "MASKINPORTEN_KEY_FILE");
    let config = BufdirApiConfig::from_lookup(lookup(&vars)).unwrap().unwrap();
    assert_eq!(config.key_file, None);
    assert_eq!(config.key_secret_id.as_deref(), Some("bufdir/maskinporten-key"));
    // The file-reading constructor cannot reach a secret store, and says so.
    let err = HttpBufdirSubmitter::from_config(&config).unwrap_err().to_string();
    assert!(err.contains("MASKINPORTEN_KEY_SECRET_ID") && err.contains("MASKINPORTEN_KEY_FILE"), "{err}");
}

#[test]
fn config_reads_every_variable_and_the_key_file() {
    let mut vars = full_env();
    vars.push(("BUFDIR_REQUEST_TIMEOUT_SECS", "12".to_string()));
    vars.push(("BUFDIR_MAX_TRIES", "6".to_string()));
    let config = BufdirApiConfig::from_lookup(lookup(&vars)).unwrap().unwrap();
    assert_eq!(config.receiver_url, "https://mottak.example.no/api/v1/reports");
    assert_eq!(config.maskinporten.issuer, "https://test.maskinporten.no/");
    assert_eq!(config.maskinporten.client_id, CLIENT_ID);
    assert_eq!(config.maskinporten.key_id, KID);
    assert_eq!(config.request_timeout, Duration::from_secs(12));
    assert_eq!(config.retry.max_tries, 6);
    assert_eq!(config.key_file.as_deref(), Some(fixture("test-private-key.pem").as_path()));
    HttpBufdirSubmitter::from_config(&config).unwrap();

    let defaults = BufdirApiConfig::from_lookup(lookup(&full_env())).unwrap().unwrap();
    assert_eq!(defaults.request_timeout, Duration::from_secs(30));
    assert_eq!(defaults.retry, RetryPolicy::default());
}

#[test]
fn config_refuses_plain_http_off_loopback_and_bad_keys() {
    let mut vars = full_env();
    vars[0].1 = "http://mottak.example.no/reports".to_string();
    let err = BufdirApiConfig::from_lookup(lookup(&vars)).unwrap_err().to_string();
    assert!(err.contains("BUFDIR_RECEIVER_URL must use https"), "{err}");

    let mut vars = full_env();
    vars[0].1 = "http://127.0.0.1:8080/reports".to_string();
    BufdirApiConfig::from_lookup(lookup(&vars)).unwrap().unwrap();

    let mut vars = full_env();
    vars.push(("BUFDIR_MAX_TRIES", "zero".to_string()));
    let err = BufdirApiConfig::from_lookup(lookup(&vars)).unwrap_err().to_string();
    assert!(err.contains("BUFDIR_MAX_TRIES"), "{err}");

    let mut vars = full_env();
    vars[6].1 = fixture("test-public-key.pem").display().to_string();
    let config = BufdirApiConfig::from_lookup(lookup(&vars)).unwrap().unwrap();
    let err = HttpBufdirSubmitter::from_config(&config).unwrap_err().to_string();
    assert!(err.contains("not an RSA private key"), "{err}");

    vars[6].1 = "/nonexistent/key.pem".to_string();
    let config = BufdirApiConfig::from_lookup(lookup(&vars)).unwrap().unwrap();
    let err = HttpBufdirSubmitter::from_config(&config).unwrap_err().to_string();
    assert!(err.contains("MASKINPORTEN_KEY_FILE /nonexistent/key.pem"), "{err}");
}

#[test]
fn a_pkcs1_key_works_too() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let pem = String::from_utf8(private_key()).unwrap();
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap();
    let pkcs1 = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    let config = config("https://test.maskinporten.no/token", "https://mottak.example.no/reports");
    HttpBufdirSubmitter::new(&config, pkcs1.as_bytes()).unwrap();
}

// ------------------------------------------------- through the workflow

/// The export service and in-process runner submitting to the loopback
/// receiver, with `script` as the receiver's answers.
async fn service_submitting(
    script: Vec<Reply>,
) -> (tempfile::TempDir, shared::adapters::embedded::EmbeddedApp, Arc<Receiver>) {
    let (token_url, tokens) = token_endpoint(TokenMode::Issue(120)).await;
    let (receiver_url, receiver) = receiver(tokens, script).await;
    let submitter = HttpBufdirSubmitter::new(&config(&token_url, &receiver_url), &private_key()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = shared::adapters::embedded::EmbeddedApp::open_submitting_to(
        dir.path(),
        "http://127.0.0.1:1",
        1,
        shared::service::Settings::default(),
        Some(Arc::new(submitter)),
    )
    .unwrap();
    app.activities.insert_all(shared::demo::generate("org-demo", 40, 2025..=2025, 3)).await.unwrap();
    (dir, app, receiver)
}

async fn export_submitting(app: &shared::adapters::embedded::EmbeddedApp) -> shared::domain::ExportJob {
    let caller = shared::domain::Caller::operator();
    let request = shared::domain::CreateExportRequest {
        org_id: Some("org-demo".into()),
        period_from: Some("2025-01-01".into()),
        period_to: Some("2025-12-31".into()),
        submit_to_bufdir_api: Some(true),
        ..Default::default()
    };
    let job = app.service.create(&caller, &request).await.unwrap();
    let pending = job.bufdir_submission.clone().expect("a requested submission is tracked from the start");
    assert_eq!((pending.status, pending.attempts), (shared::domain::SubmissionStatus::Pending, 0));
    app.runner.wait_idle().await;
    app.service.get(&caller, &job.export_id).await.unwrap().job
}

#[tokio::test]
async fn an_accepted_submission_completes_the_export_with_its_reference() {
    let (_dir, app, receiver) = service_submitting(vec![]).await;
    let job = export_submitting(&app).await;
    assert_eq!(job.status, shared::domain::ExportStatus::Completed, "{:?}", job.error_message);
    let s = job.bufdir_submission.unwrap();
    assert_eq!((s.status, s.attempts, s.error), (shared::domain::SubmissionStatus::Submitted, 1, None));
    assert_eq!(s.reference.as_deref(), Some("BUF-2025-00001"));
    assert!(s.submitted_at.unwrap() <= job.completed_at.unwrap());
    let got = receiver.received().await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].idempotency_key.as_deref(), Some(format!("{}-a1", job.export_id).as_str()));
}

#[tokio::test]
async fn a_refused_submission_fails_the_export_with_the_receivers_message() {
    let (_dir, app, _receiver) = service_submitting(vec![problem(400, "org-demo has no grant for 2025")]).await;
    let job = export_submitting(&app).await;
    assert_eq!(job.status, shared::domain::ExportStatus::Failed);
    assert_eq!(job.error_code, Some(shared::domain::FailureCode::ReceiverRefused), "the caller's to fix");
    assert!(
        job.error_message.as_deref().unwrap().contains("org-demo has no grant for 2025"),
        "{:?}",
        job.error_message
    );
    let s = job.bufdir_submission.unwrap();
    assert_eq!((s.status, s.attempts, s.reference), (shared::domain::SubmissionStatus::Failed, 1, None));
    assert!(s.error.unwrap().contains("org-demo has no grant for 2025"));
    assert_eq!(job.file, None, "a failed export keeps no file");
}

#[tokio::test]
async fn a_receiver_down_for_one_step_try_is_tried_again_by_the_workflow() {
    // The submitter makes 4 requests per step try; the fifth answer is a success.
    let down = || Reply::Status(503, "text/plain", "maintenance".into(), None);
    let (_dir, app, receiver) = service_submitting(vec![down(), down(), down(), down()]).await;
    let job = export_submitting(&app).await;
    assert_eq!(job.status, shared::domain::ExportStatus::Completed, "{:?}", job.error_message);
    let s = job.bufdir_submission.unwrap();
    assert_eq!((s.status, s.attempts, s.error), (shared::domain::SubmissionStatus::Submitted, 2, None));
    let keys: HashSet<String> = receiver.received().await.into_iter().filter_map(|r| r.idempotency_key).collect();
    assert_eq!(keys.len(), 1, "every request of the attempt carries one idempotency key: {keys:?}");
}

#[tokio::test]
async fn a_receiver_down_through_every_try_fails_the_export_as_unavailable() {
    let down = || Reply::Status(503, "text/plain", "maintenance".into(), None);
    let (_dir, app, _receiver) = service_submitting((0..64).map(|_| down()).collect()).await;
    let job = export_submitting(&app).await;
    assert_eq!(job.status, shared::domain::ExportStatus::Failed);
    assert_eq!(job.error_code, Some(shared::domain::FailureCode::ReceiverUnavailable), "{:?}", job.error_message);
    let message = job.error_message.unwrap();
    assert!(message.starts_with("submission to Bufdir failed:"), "the code is not in the words: {message}");
}

// ---------------------------------------------------------------- the key in AWS Secrets Manager

/// The configuration the Submit Lambda reads, pointing at this harness's
/// loopback servers and at a secret instead of a key file.
fn secret_env(h: &Harness, secret_id: &str) -> Vec<(&'static str, String)> {
    let mut vars = full_env();
    vars.retain(|(k, _)| *k != "MASKINPORTEN_KEY_FILE");
    vars[0].1 = h.submitter.receiver_url().to_string();
    vars[1].1 = h.submitter.tokens().config().token_url.clone();
    vars[2].1 = AUD.to_string();
    vars.push(("MASKINPORTEN_KEY_SECRET_ID", secret_id.to_string()));
    vars
}

async fn put_secret(secrets: &aws_sdk_secretsmanager::Client, value: &str) -> String {
    secrets
        .create_secret()
        .name(bufdir_testing::moto::unique("maskinporten-key"))
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

#[tokio::test]
async fn a_key_from_secrets_manager_signs_grants_the_endpoint_accepts() {
    let h = Harness::new(TokenMode::Issue(120), vec![]).await;
    let clients = bufdir_testing::moto::clients().await;
    let arn =
        put_secret(&aws_sdk_secretsmanager::Client::new(&clients.sdk), &String::from_utf8(private_key()).unwrap())
            .await;

    let config = BufdirApiConfig::from_lookup(lookup(&secret_env(&h, &arn))).unwrap().unwrap();
    let submitter =
        shared::adapters::aws::bufdir_key::http_submitter(&config, &aws_sdk_secretsmanager::Client::new(&clients.sdk))
            .await
            .unwrap();
    let receipt = submitter.submit(&h.submission(1), &h.file).await.unwrap();

    assert_eq!(receipt.reference, "BUF-2025-00001");
    assert_eq!(h.tokens.requests(), 1);
    h.assert_grants_were_valid().await;
    let received = h.receiver.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].file, h.report);
}

/// Why the submitter could not be built from the key in `secret_id`.
async fn refusal(h: &Harness, clients: &shared::adapters::aws::Clients, secret_id: &str) -> String {
    let config = BufdirApiConfig::from_lookup(lookup(&secret_env(h, secret_id))).unwrap().unwrap();
    shared::adapters::aws::bufdir_key::http_submitter(&config, &aws_sdk_secretsmanager::Client::new(&clients.sdk))
        .await
        .unwrap_err()
        .to_string()
}

#[tokio::test]
async fn a_missing_or_unusable_secret_stops_the_start_without_showing_its_value() {
    let h = Harness::new(TokenMode::Issue(120), vec![]).await;
    let clients = bufdir_testing::moto::clients().await;

    let missing = bufdir_testing::moto::unique("no-such-secret");
    let err = refusal(&h, &clients, &missing).await;
    assert!(
        err.contains("MASKINPORTEN_KEY_SECRET_ID") && err.contains(&missing) && err.contains("no such secret"),
        "{err}"
    );

    let arn = put_secret(&aws_sdk_secretsmanager::Client::new(&clients.sdk), "password=hunter2-not-a-key").await;
    let err = refusal(&h, &clients, &arn).await;
    assert!(err.contains("not an RSA private key"), "{err}");
    assert!(!err.contains("hunter2"), "the secret's value stays out of errors: {err}");
    assert_eq!(h.tokens.requests(), 0);
}
