//! Bearer tokens against the running server: every way a token can be
//! wrong answers the same 401, with nothing that tells an attacker which
//! check failed. The forger below knows the server's key, so a refusal
//! is the server's doing, not a broken test token (see the control case).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

/// The data directory's token key, as `shared::adapters::embedded` derives it.
fn token_key(data: &std::path::Path) -> Vec<u8> {
    shared::adapters::embedded::DataDir::open(data).unwrap().secret("jwt-hs256").unwrap()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn good_claims() -> Value {
    let now = now();
    json!({"sub": "mallory", "org_ids": ["org-a"], "iss": "bufdir-exports-local", "aud": "bufdir-exports",
           "iat": now, "nbf": now, "exp": now + 600})
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn sign(alg: Algorithm, key: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
}

fn b64url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// An unsigned token (`alg: none`), with `signature` appended after the last dot.
fn unsigned(claims: &Value, signature: &str) -> String {
    let header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.{signature}", b64url(claims.to_string().as_bytes()))
}

/// The problem body without the parts that differ per request.
fn comparable(mut body: Value) -> Value {
    let obj = body.as_object_mut().unwrap();
    obj.remove("request_id");
    obj.remove("instance");
    body
}

#[tokio::test]
async fn every_bad_token_gets_the_same_401() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 20, 2025, 4);
    let server = Server::start(dir.path());
    let key = token_key(dir.path());
    let good = sign(Algorithm::HS256, &key, &good_claims());

    // Control: the forger makes tokens the server accepts, so each refusal
    // below comes from the one thing changed.
    let (status, _, body) = server.call(Method::GET, API, Some(&good), None).await;
    assert_eq!(status, 200, "{body}");
    let signature = good.rsplit('.').next().unwrap().to_string();
    let other_key = b"not the server's key, but long enough".to_vec();
    let now = now();

    let cases: Vec<(&str, String)> = vec![
        ("alg none, no signature", unsigned(&good_claims(), "")),
        ("alg none, real signature kept", unsigned(&good_claims(), &signature)),
        ("signed with another key", sign(Algorithm::HS256, &other_key, &good_claims())),
        ("HS512 with the right key", sign(Algorithm::HS512, &key, &good_claims())),
        ("HS384 with the right key", sign(Algorithm::HS384, &key, &good_claims())),
        ("claims altered after signing", {
            let parts: Vec<&str> = good.split('.').collect();
            let admin = with(good_claims(), json!({"roles": ["admin"]}));
            format!("{}.{}.{}", parts[0], b64url(admin.to_string().as_bytes()), parts[2])
        }),
        ("signature truncated", good[..good.len() - 3].to_string()),
        ("signature missing", good[..good.rfind('.').unwrap() + 1].to_string()),
        (
            "expired",
            sign(
                Algorithm::HS256,
                &key,
                &with(good_claims(), json!({"iat": now - 7200, "nbf": now - 7200, "exp": now - 120})),
            ),
        ),
        ("not yet valid (nbf)", sign(Algorithm::HS256, &key, &with(good_claims(), json!({"nbf": now + 600})))),
        ("wrong audience", sign(Algorithm::HS256, &key, &with(good_claims(), json!({"aud": "another-service"})))),
        ("wrong issuer", sign(Algorithm::HS256, &key, &with(good_claims(), json!({"iss": "https://evil.example"})))),
        ("no audience", sign(Algorithm::HS256, &key, &with(good_claims(), json!({"aud": null})))),
        ("no issuer", sign(Algorithm::HS256, &key, &with(good_claims(), json!({"iss": null})))),
        ("no expiry", sign(Algorithm::HS256, &key, &with(good_claims(), json!({"exp": null})))),
        ("no organisation claims", sign(Algorithm::HS256, &key, &with(good_claims(), json!({"org_ids": null})))),
        ("empty organisation list", sign(Algorithm::HS256, &key, &with(good_claims(), json!({"org_ids": []})))),
        ("blank org_id", sign(Algorithm::HS256, &key, &with(good_claims(), json!({"org_ids": null, "org_id": "  "})))),
        (
            "a role other than admin",
            sign(Algorithm::HS256, &key, &with(good_claims(), json!({"org_ids": null, "roles": ["auditor"]}))),
        ),
        ("org_ids of the wrong type", sign(Algorithm::HS256, &key, &with(good_claims(), json!({"org_ids": "org-a"})))),
        ("exp of the wrong type", sign(Algorithm::HS256, &key, &with(good_claims(), json!({"exp": "tomorrow"})))),
        ("not a JWT", "not-a-jwt".to_string()),
        ("two segments", "eyJhbGciOiJIUzI1NiJ9.e30".to_string()),
        ("header not base64", format!("!!!.{}", &good[good.find('.').unwrap() + 1..])),
        ("header not JSON", format!("{}.{}", b64url(b"alg=HS256"), &good[good.find('.').unwrap() + 1..])),
        ("token padded with spaces inside", good.replacen('.', " .", 1)),
    ];
    // Authorization headers that are not a bearer token at all.
    let headers: Vec<(&str, String)> = vec![
        ("no header", String::new()),
        ("scheme only", "Bearer".to_string()),
        ("scheme and blank", "Bearer    ".to_string()),
        ("basic auth", "Basic YWxpY2U6c2VjcmV0".to_string()),
        ("token without scheme", good.clone()),
        ("two tokens", format!("Bearer {good} {good}")),
    ];

    let mut reference: Option<Value> = None;
    let mut tried = 0;
    let requests = cases
        .iter()
        .map(|(name, t)| (*name, Some(format!("Bearer {t}"))))
        .chain(headers.iter().map(|(name, h)| (*name, (!h.is_empty()).then(|| h.clone()))));
    for (name, authorization) in requests {
        for (method, path) in [
            (Method::GET, API.to_string()),
            (Method::POST, API.to_string()),
            (Method::GET, format!("{API}/exp-20250101-abcdef")),
        ] {
            let mut req = server.http.request(method.clone(), server.url(&path)).json(&export_body(
                "org-a",
                "2025-01-01",
                "2025-12-31",
                "excel",
            ));
            if let Some(h) = &authorization {
                req = req.header("authorization", h);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 401, "{name}: {method} {path}");
            assert_eq!(resp.headers()["www-authenticate"], "Bearer", "{name}");
            assert_eq!(resp.headers()["content-type"], "application/problem+json", "{name}");
            let body = comparable(resp.json().await.unwrap());
            let text = body.to_string().to_lowercase();
            for hint in
                ["expired", "signature", "audience", "issuer", "algorithm", "nbf", "claim", "base64", "organisation"]
            {
                assert!(!text.contains(hint), "{name}: the answer hints at the reason ({hint}): {body}");
            }
            match &reference {
                None => reference = Some(body),
                Some(first) => assert_eq!(&body, first, "{name}: a different answer tells the cases apart"),
            }
            tried += 1;
        }
    }
    assert_eq!(reference.unwrap()["code"], "unauthorized");
    println!("{} token cases, {tried} requests, all 401 with one body", cases.len() + headers.len());
}

#[tokio::test]
async fn a_token_within_the_clock_leeway_is_accepted_and_admin_needs_no_org() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let key = token_key(dir.path());
    let now = now();
    // Clocks drift: 30 s either way is tolerated, no more (see the cases above).
    let just_expired = sign(Algorithm::HS256, &key, &with(good_claims(), json!({"exp": now - 5})));
    let early = sign(Algorithm::HS256, &key, &with(good_claims(), json!({"nbf": now + 5})));
    let single_org = sign(Algorithm::HS256, &key, &with(good_claims(), json!({"org_ids": null, "org_id": "org-a"})));
    let admin = sign(Algorithm::HS256, &key, &with(good_claims(), json!({"org_ids": null, "roles": ["admin"]})));
    for t in [just_expired, early, single_org, admin] {
        let (status, _, body) = server.call(Method::GET, API, Some(&t), None).await;
        assert_eq!(status, 200, "{body}");
    }
}

/// A token may name at most 1 000 organisations: one naming more is
/// refused like any bad token, not answered with a 500 from a query too
/// large for the store, and nothing the server logs grows with it. At the
/// limit, every one of them is searched. (A token so large that the request
/// head passes the HTTP layer's 400 KB gets 431 before any of this.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_naming_too_many_organisations_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 20, 2025, 6);
    let log = dir.path().join("server.log");
    let server = Server::start_logging_to(dir.path(), &[], &log);
    let key = token_key(dir.path());
    let orgs =
        |n: usize| -> Vec<String> { (0..n - 1).map(|i| format!("org-{i:05}")).chain(["org-a".to_string()]).collect() };

    let at_limit = sign(Algorithm::HS256, &key, &with(good_claims(), json!({"org_ids": orgs(1000)})));
    let id = server.create(&at_limit, export_body("org-a", "2025-01-01", "2025-01-31", "json")).await;
    let (total, listed) = server.list_all(&at_limit).await;
    assert_eq!((total, listed[0]["export_id"].as_str()), (1, Some(id.as_str())));

    let over = sign(Algorithm::HS256, &key, &with(good_claims(), json!({"org_ids": orgs(1001)})));
    // Short names, so 33 000 of them fit in a request head the server reads.
    let short: Vec<String> = (0..33_000).map(|i| format!("o{i}")).collect();
    let far_over = sign(Algorithm::HS256, &key, &with(good_claims(), json!({"org_ids": short})));
    assert!(far_over.len() < 400_000, "{} bytes", far_over.len());
    for token in [&over, &far_over] {
        for (method, path) in
            [(Method::GET, API.to_string()), (Method::GET, format!("{API}/{id}")), (Method::POST, API.to_string())]
        {
            let body = export_body("org-a", "2025-01-01", "2025-01-31", "json");
            let (status, _, body) = server.call(method.clone(), &path, Some(token), Some(body)).await;
            assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")), "{method} {path}: {body}");
        }
    }
    drop(server);
    let logged = std::fs::read_to_string(&log).unwrap();
    let longest = logged.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 2048, "a log line of {longest} bytes");
}
