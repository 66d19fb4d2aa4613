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
        (
            "org_ids of the wrong type",
            sign(Algorithm::HS256, &key, &with(good_claims(), json!({"org_ids": {"org-a": true}}))),
        ),
        ("org_ids a number", sign(Algorithm::HS256, &key, &with(good_claims(), json!({"org_ids": [42]})))),
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

/// Claims as Cognito (an ID token), Entra ID (an access token for an app
/// with app roles and an extension attribute) and Keycloak (an access
/// token with realm roles) issue them. The local server verifies its own
/// issuer, audience and key (API Gateway's authorizer checks the
/// provider's), so those three claims are the local ones; the rest is the
/// provider's shape.
fn provider_token(key: &[u8], provider: &str, orgs: &[&str], admin: bool) -> String {
    let now = now();
    let mut claims = match provider {
        "cognito" => json!({
            "sub": "5f1c8a2e-0b1d-4c1a-9b7e-1f2d3c4b5a69", "cognito:username": "kari", "token_use": "id",
            "auth_time": now, "email": "kari@example.org", "email_verified": true,
            "custom:org_id": orgs.join(","),
            "cognito:groups": if admin { vec!["bufdir-admin", "grant-officers"] } else { vec!["grant-officers"] },
        }),
        "entra" => json!({
            "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "oid": "00000000-0000-0000-66f3-3332eca7ea81",
            "tid": "9122040d-6c67-4c5b-b112-36a304b66dad", "ver": "2.0", "azp": "6e74172b-be56-4843-9ff4-e66a39bb12e3",
            "scp": "exports.read", "groups": ["93b1c3b4-0000-4c2e-9a3f-3a1f2d6b7c8e"],
            "roles": if admin { vec!["Bufdir.Admin"] } else { vec!["Bufdir.User"] },
            "extn.bufdir_org_ids": orgs,
        }),
        "keycloak" => json!({
            "sub": "df053ed9-a9ce-41bf-9143-85e75ee2657c", "typ": "Bearer", "azp": "bufdir-console",
            "session_state": "606b3c5c", "scope": "openid profile", "preferred_username": "kari",
            "realm_access": {"roles": if admin { vec!["offline_access", "bufdir-admin"] } else { vec!["offline_access"] }},
            "resource_access": {"account": {"roles": ["view-profile"]}},
            "org_ids": orgs,
        }),
        other => panic!("{other}"),
    };
    let local =
        json!({"iss": "bufdir-exports-local", "aud": "bufdir-exports", "iat": now, "nbf": now, "exp": now + 600});
    for (k, v) in local.as_object().unwrap() {
        claims[k] = v.clone();
    }
    sign(Algorithm::HS256, key, &claims)
}

/// Exports visible to a token: their organisations.
async fn orgs_seen(server: &Server, token: &str) -> Result<Vec<String>, u16> {
    let (status, _, body) = server.call(Method::GET, &format!("{API}?limit=100"), Some(token), None).await;
    if status != 200 {
        return Err(status);
    }
    let mut orgs: Vec<String> =
        body["data"].as_array().unwrap().iter().map(|e| e["org_id"].as_str().unwrap().to_string()).collect();
    orgs.sort();
    orgs.dedup();
    Ok(orgs)
}

#[tokio::test]
async fn tokens_of_cognito_entra_and_keycloak_reach_exactly_their_organisations() {
    let dir = tempfile::tempdir().unwrap();
    for (org, seed_no) in [("org-a", 1), ("org-b", 2), ("org-c", 3)] {
        seed(dir.path(), org, 10, 2025, seed_no);
    }
    let key = token_key(dir.path());
    {
        let server = Server::start(dir.path());
        let admin = sign(Algorithm::HS256, &key, &with(good_claims(), json!({"org_ids": null, "roles": ["admin"]})));
        for org in ["org-a", "org-b", "org-c"] {
            server.create(&admin, export_body(org, "2025-01-01", "2025-01-31", "json")).await;
        }
        // without the provider's rules its tokens name nobody (Keycloak's
        // `org_ids` is our own name, so only its admin role goes unread)
        for provider in ["cognito", "entra"] {
            assert_eq!(orgs_seen(&server, &provider_token(&key, provider, &["org-a"], false)).await, Err(401));
            assert_eq!(orgs_seen(&server, &provider_token(&key, provider, &[], true)).await, Err(401));
        }
        assert_eq!(orgs_seen(&server, &provider_token(&key, "keycloak", &[], true)).await, Err(401));
        assert_eq!(
            orgs_seen(&server, &provider_token(&key, "keycloak", &["org-b"], true)).await,
            Ok(vec!["org-b".to_string()]),
            "a realm role is no admin role of ours"
        );
    }
    let rules: [(&str, [&str; 6]); 3] = [
        (
            "cognito",
            ["--org-claims", "custom:org_id", "--admin-claim", "cognito:groups", "--admin-claim-value", "bufdir-admin"],
        ),
        (
            "entra",
            ["--org-claims", "extn.bufdir_org_ids", "--admin-claim", "roles", "--admin-claim-value", "Bufdir.Admin"],
        ),
        (
            "keycloak",
            ["--org-claims", "org_ids", "--admin-claim", "realm_access.roles", "--admin-claim-value", "bufdir-admin"],
        ),
    ];
    for (provider, flags) in rules {
        let server = Server::start_with(dir.path(), &flags);
        let seen = |orgs: &[&str], admin: bool| {
            let token = provider_token(&key, provider, orgs, admin);
            let server = &server;
            async move { orgs_seen(server, &token).await }
        };
        assert_eq!(seen(&["org-a"], false).await, Ok(vec!["org-a".into()]), "{provider}");
        assert_eq!(seen(&["org-b", "org-c"], false).await, Ok(vec!["org-b".into(), "org-c".into()]), "{provider}");
        assert_eq!(seen(&[], true).await, Ok(vec!["org-a".into(), "org-b".into(), "org-c".into()]), "{provider}");
        assert_eq!(seen(&[], false).await, Err(401), "{provider}");
        // another organisation's export is not there for it
        let token = provider_token(&key, provider, &["org-a"], false);
        let (_, _, list) = server.call(Method::GET, API, Some(&token), None).await;
        let admin = provider_token(&key, provider, &[], true);
        let (_, _, all) = server.call(Method::GET, &format!("{API}?limit=100"), Some(&admin), None).await;
        for export in all["data"].as_array().unwrap().iter().filter(|e| e["org_id"] != "org-a") {
            let (status, _, _) = server
                .call(Method::GET, &format!("{API}/{}", export["export_id"].as_str().unwrap()), Some(&token), None)
                .await;
            assert_eq!(status, 404, "{provider}");
        }
        assert_eq!(list["pagination"]["total"], 1, "{provider}");
        // our own token shape means nothing under a provider's rules
        let ours = sign(Algorithm::HS256, &key, &with(good_claims(), json!({"org_ids": null, "roles": ["admin"]})));
        assert_eq!(orgs_seen(&server, &ours).await, Err(401), "{provider}");
        server.kill();
    }
}
