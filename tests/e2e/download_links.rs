//! Signed download links against the running server: a link reaches its
//! one file until it expires; altering any part of it, pointing it at
//! another file, or climbing out of the file store is refused with 403.

use crate::support::*;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::Value;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The query parts of a signed link.
struct Link {
    key: String,
    expires: i64,
    name: String,
    sig: String,
}

impl Link {
    fn parse(url: &str) -> Link {
        let (path, query) = url.split_once("/files/").unwrap().1.split_once('?').unwrap();
        let param = |n: &str| query.split('&').find_map(|p| p.strip_prefix(&format!("{n}="))).unwrap().to_string();
        Link {
            key: path.to_string(),
            expires: param("expires").parse().unwrap(),
            name: param("name"),
            sig: param("sig"),
        }
    }

    fn path(&self) -> String {
        format!("/files/{}?expires={}&name={}&sig={}", self.key, self.expires, self.name, self.sig)
    }
}

/// Signs a link the way the file store does, with the data directory's key.
fn forge(data: &std::path::Path, key: &str, expires: i64, name: &str) -> String {
    let secret = shared::adapters::embedded::DataDir::open(data).unwrap().secret("download-urls").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
    mac.update(format!("{key}\n{expires}\n{name}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Sends the path byte for byte: HTTP clients would resolve `..` first.
async fn raw_get(base: &str, path: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, text)
}

async fn completed_link(server: &Server, token: &str, org: &str, format: &str) -> (String, Value) {
    let id = server.create(token, export_body(org, "2025-01-01", "2025-12-31", format)).await;
    let job = server.wait_status(token, &id, "completed").await;
    (job["file_url"].as_str().unwrap().to_string(), job)
}

#[tokio::test]
async fn altered_foreign_expired_and_traversing_links_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 30, 2025, 1);
    seed(dir.path(), "org-b", 30, 2025, 2);
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-a", "org-b"]);
    let (mine_url, _) = completed_link(&server, &token, "org-a", "json").await;
    let (second_url, _) = completed_link(&server, &token, "org-a", "json").await;
    let (theirs_url, _) = completed_link(&server, &token, "org-b", "json").await;
    let mine = Link::parse(&mine_url);
    let second = Link::parse(&second_url);
    let theirs = Link::parse(&theirs_url);

    let (status, _) = raw_get(&server.base, &mine.path()).await;
    assert_eq!(status, 200, "the untouched link works");

    let altered = |f: &dyn Fn(&mut Link)| {
        let mut l =
            Link { key: mine.key.clone(), expires: mine.expires, name: mine.name.clone(), sig: mine.sig.clone() };
        f(&mut l);
        l.path()
    };
    let mut cases: Vec<(&str, String)> = vec![
        ("another organisation's file", altered(&|l| l.key = theirs.key.clone())),
        ("another export's file", altered(&|l| l.key = second.key.clone())),
        ("expiry moved later", altered(&|l| l.expires += 3600)),
        ("expiry moved earlier", altered(&|l| l.expires -= 1)),
        ("another download name", altered(&|l| l.name = "report.exe".into())),
        // The last hex digit swapped for one it is not: replacing it with a
        // fixed digit would leave the link unchanged one time in sixteen.
        (
            "signature changed",
            altered(&|l| {
                let last = if l.sig.ends_with('0') { '1' } else { '0' };
                l.sig = format!("{}{last}", &l.sig[..l.sig.len() - 1]);
            }),
        ),
        ("signature cut short", altered(&|l| l.sig.truncate(32))),
        ("signature not hex", altered(&|l| l.sig = "zz".repeat(32))),
        ("signature empty", altered(&|l| l.sig.clear())),
        ("expiry not a number", mine.path().replace(&format!("expires={}", mine.expires), "expires=soon")),
        ("no signature", mine.path().split("&sig=").next().unwrap().to_string()),
        ("no query", format!("/files/{}", mine.key)),
    ];
    // Correctly signed, but already expired: a forger with the key shows
    // the expiry itself is checked, not only the signature.
    let past = chrono::Utc::now().timestamp() - 1;
    let expired_sig = forge(dir.path(), &mine.key, past, &mine.name);
    let expired = format!("/files/{}?expires={past}&name={}&sig={expired_sig}", mine.key, mine.name);
    cases.push(("expired", expired));
    // Climbing out of the file store, to the data directory's secret.
    let escapes = [
        "../secret.key".to_string(),
        format!("{}/../../../secret.key", mine.key.rsplit_once('/').unwrap().0),
        "%2e%2e/secret.key".to_string(),
        "%2E%2E%2Fsecret.key".to_string(),
        "org-a%2F..%2F..%2Fsecret.key".to_string(),
        "..%5csecret.key".to_string(),
        "%252e%252e/secret.key".to_string(),
        "/etc/passwd".to_string(),
    ];
    for key in &escapes {
        // Signed for the very key it names, so only the key check can refuse it.
        let sig = forge(dir.path(), key, mine.expires, "secret.key");
        cases.push(("path traversal", format!("/files/{key}?expires={}&name=secret.key&sig={sig}", mine.expires)));
    }

    let secret = std::fs::read_to_string(dir.path().join("secret.key")).unwrap();
    for (name, path) in &cases {
        assert_ne!(*path, mine.path(), "{name}: the case changed nothing, so it tests nothing");
        let (status, text) = raw_get(&server.base, path).await;
        assert!(!text.contains(secret.trim()), "{name}: {path} leaked the secret");
        assert!(text.contains("application/problem+json"), "{name}: {path}: {text}");
        assert_eq!(status, 403, "{name}: {path}: {text}");
        assert!(text.contains("download_link_invalid"), "{name}: {text}");
    }
    // The real links still work after all that.
    for url in [&mine_url, &second_url, &theirs_url] {
        assert_eq!(reqwest::get(url).await.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn a_link_of_a_deleted_export_stops_working() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), "org-a", 30, 2025, 1);
    let server = Server::start(dir.path());
    let token = token(dir.path(), &["org-a"]);
    let (url, job) = completed_link(&server, &token, "org-a", "csv").await;
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    let id = job["export_id"].as_str().unwrap();
    let (status, _, _) = server.call(Method::DELETE, &format!("{API}/{id}"), Some(&token), None).await;
    assert_eq!(status, 200);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 403);
}
