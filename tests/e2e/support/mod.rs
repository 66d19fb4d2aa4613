//! Test harness: the real `bufdir-exports` binary serving on a free port
//! with its own data directory, driven by a real HTTP client.
//!
//! `BUFDIR_E2E_BACKEND=aws` runs the same suites on `serve --backend aws
//! --runner local` against a moto server this process starts: every
//! test gets its own tables, bucket and queue, named after its data
//! directory, and the harness looks into S3 and DynamoDB where it would
//! otherwise look into the data directory.

mod backend;
pub mod receiver;

pub use backend::{
    Backend, audit_entries, backend, cancel_cleanup_limit, corrupt_one_activity, expire_file, in_flight, link_expiry,
    long_export_rows, put_attachment, receipt_prefix, server_signs_links, traces_of,
};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_bufdir-exports");
pub const API: &str = "/api/v1/bufdir-exports";
pub const IMPORTS: &str = "/api/v1/activity-imports";
pub const ACTIVITIES: &str = "/api/v1/activities";

/// Runs the command-line tool and returns stdout; panics on failure.
pub fn cli(data: &Path, args: &[&str]) -> String {
    let out =
        Command::new(BIN).args(args).arg("--data-dir").arg(data).envs(backend::env(data)).output().expect("run cli");
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub fn token(data: &Path, orgs: &[&str]) -> String {
    let mut args = vec!["token"];
    for o in orgs {
        args.extend(["--org", o]);
    }
    cli(data, &args).trim().to_string()
}

pub fn admin_token(data: &Path) -> String {
    cli(data, &["token", "--admin"]).trim().to_string()
}

pub fn seed(data: &Path, org: &str, count: u64, year: i32, seed: u64) {
    cli(
        data,
        &[
            "activities",
            "seed",
            "--org",
            org,
            "--count",
            &count.to_string(),
            "--year",
            &year.to_string(),
            "--seed",
            &seed.to_string(),
        ],
    );
}

pub struct Server {
    child: Child,
    pub base: String,
    pub data: PathBuf,
    pub http: reqwest::Client,
}

impl Server {
    pub fn start(data: &Path) -> Server {
        Self::start_with(data, &[])
    }

    pub fn start_with(data: &Path, extra: &[&str]) -> Server {
        Self::spawn(Command::new(BIN), data, extra, Stdio::inherit())
    }

    /// As [`start_with`](Self::start_with), with the server's log written to `log`.
    pub fn start_logging_to(data: &Path, extra: &[&str], log: &Path) -> Server {
        Self::spawn(Command::new(BIN), data, extra, std::fs::File::create(log).unwrap().into())
    }

    /// As [`start_with`](Self::start_with), in a process that may hold at
    /// most `files` open files (soft and hard limit).
    pub fn start_with_open_file_limit(data: &Path, files: u32, extra: &[&str], log: &Path) -> Server {
        let mut limited = Command::new("prlimit");
        limited.arg(format!("--nofile={files}:{files}")).arg(BIN);
        Self::spawn(limited, data, extra, std::fs::File::create(log).unwrap().into())
    }

    fn spawn(mut command: Command, data: &Path, extra: &[&str], stderr: Stdio) -> Server {
        let mut child = command
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(extra)
            .envs(backend::env(data))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start server");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines.next().expect("server exited before listening").unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, base, data: data.to_path_buf(), http: reqwest::Client::new() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server the hard way, as a crash or power cut would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let json =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, headers, json)
    }

    /// POST create with an `Idempotency-Key` header.
    pub async fn create_keyed(&self, token: &str, key: &str, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
        let resp = self
            .http
            .post(self.url(API))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let json = resp.json().await.unwrap_or(Value::Null);
        (status, headers, json)
    }

    /// Every export the token sees: (total, ids of the first page of 100).
    pub async fn list_all(&self, token: &str) -> (u64, Vec<Value>) {
        let (status, _, json) = self.call(reqwest::Method::GET, &format!("{API}?limit=100"), Some(token), None).await;
        assert_eq!(status, 200, "{json}");
        (json["pagination"]["total"].as_u64().unwrap(), json["data"].as_array().unwrap().clone())
    }

    pub async fn create(&self, token: &str, body: Value) -> String {
        let (status, _, json) = self.call(reqwest::Method::POST, API, Some(token), Some(body)).await;
        assert_eq!(status, 202, "{json}");
        json["export_id"].as_str().unwrap().to_string()
    }

    pub async fn get(&self, token: &str, id: &str) -> Value {
        let (status, _, json) = self.call(reqwest::Method::GET, &format!("{API}/{id}"), Some(token), None).await;
        assert_eq!(status, 200, "{json}");
        json
    }

    /// Polls until `done` holds for the export, or fails after `limit`.
    pub async fn wait_for(&self, token: &str, id: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let job = self.get(token, id).await;
            if done(&job) {
                return job;
            }
            assert!(started.elapsed() < limit, "export {id} did not get there in {limit:?}: {job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_status(&self, token: &str, id: &str, status: &str) -> Value {
        self.wait_for(token, id, Duration::from_secs(600), |j| j["status"] == status).await
    }

    /// Every stored file of an export, looked up in storage itself.
    pub async fn files_of(&self, org: &str, id: &str) -> Vec<PathBuf> {
        backend::files_of(&self.data, org, id).await
    }

    /// What the Bufdir receiver got for an export's first attempt: the
    /// names of the files and the submission record.
    pub async fn received_submission(&self, id: &str) -> (Vec<String>, Value) {
        backend::received_submission(&self.data, &format!("{id}-a1")).await
    }

    /// What the outbox keeps of attempt 1's submission.
    pub async fn outbox_copy(&self, id: &str) -> Vec<String> {
        backend::outbox_copy(&self.data, &format!("{id}-a1")).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn export_body(org: &str, from: &str, to: &str, format: &str) -> Value {
    serde_json::json!({
        "org_id": org, "format": format, "period_from": from, "period_to": to,
        "activity_types": [], "include_attachments": false, "submit_to_bufdir_api": false
    })
}

/// Totals of seeded activities in a period, summed here from the
/// generator's records, independently of the report code under test.
#[derive(Debug, Default, PartialEq)]
pub struct Totals {
    pub activities: u64,
    pub minutes: u64,
    pub participations: u64,
    pub new_participants: u64,
    pub volunteers: u64,
    pub volunteer_hours: f64,
}

pub fn seeded_totals(org: &str, count: u64, year: i32, seed: u64, from: &str, to: &str) -> Totals {
    let (from, to) = (from.parse().unwrap(), to.parse().unwrap());
    let mut t = Totals::default();
    for a in shared::demo::generate(org, count, year..=year, seed).filter(|a| a.date >= from && a.date <= to) {
        t.activities += 1;
        t.minutes += a.duration_minutes as u64;
        t.participations += a.participants.total as u64;
        t.new_participants += a.participants.new as u64;
        t.volunteers += a.volunteers.count as u64;
        t.volunteer_hours += a.volunteers.hours;
    }
    t
}

/// Reads a sheet of an xlsx file with calamine, as rows of cells.
pub fn sheet(path: &Path, name: &str) -> Vec<Vec<calamine::Data>> {
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook(path).expect("open xlsx");
    let range = wb.worksheet_range(name).unwrap_or_else(|e| panic!("sheet {name}: {e}"));
    range.rows().map(|r| r.to_vec()).collect()
}

pub fn sheet_names(path: &Path) -> Vec<String> {
    use calamine::Reader;
    let wb: calamine::Xlsx<_> = calamine::open_workbook(path).expect("open xlsx");
    wb.sheet_names().to_vec()
}

pub fn num(cell: &calamine::Data) -> f64 {
    match cell {
        calamine::Data::Int(i) => *i as f64,
        calamine::Data::Float(f) => *f,
        other => panic!("expected a number, got {other:?}"),
    }
}

impl Server {
    /// POST an import; panics unless it is made (201).
    pub async fn create_import(&self, token: &str, body: Value) -> Value {
        let (status, headers, json) = self.call(reqwest::Method::POST, IMPORTS, Some(token), Some(body)).await;
        assert_eq!(status, 201, "{json}");
        let id = json["import_id"].as_str().unwrap();
        assert_eq!(headers["location"], format!("{IMPORTS}/{id}").as_str());
        json
    }

    /// Sends the file the way the import's upload link says (a PUT to this
    /// server, or S3's presigned POST form); returns the status.
    pub async fn upload(&self, import: &Value, bytes: Vec<u8>) -> (u16, String) {
        let upload = &import["upload"];
        let url = upload["url"].as_str().expect("an upload link");
        let request = match upload["method"].as_str() {
            Some("PUT") => self.http.put(url).body(bytes),
            Some("POST") => {
                let mut form = reqwest::multipart::Form::new();
                for field in upload["fields"].as_array().unwrap() {
                    form = form.text(
                        field["name"].as_str().unwrap().to_string(),
                        field["value"].as_str().unwrap().to_string(),
                    );
                }
                form = form.part("file", reqwest::multipart::Part::bytes(bytes).file_name("upload"));
                self.http.post(url).multipart(form)
            }
            other => panic!("unknown upload method {other:?}"),
        };
        let resp = request.send().await.expect("upload");
        (resp.status().as_u16(), resp.text().await.unwrap_or_default())
    }

    pub async fn get_import(&self, token: &str, id: &str) -> Value {
        let (status, _, json) = self.call(reqwest::Method::GET, &format!("{IMPORTS}/{id}"), Some(token), None).await;
        assert_eq!(status, 200, "{json}");
        json
    }

    /// Polls until the import is completed, failed or expired.
    pub async fn wait_import(&self, token: &str, id: &str) -> Value {
        let started = Instant::now();
        loop {
            let job = self.get_import(token, id).await;
            if matches!(job["status"].as_str(), Some("completed" | "failed" | "expired")) {
                return job;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "import {id} did not finish: {job}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Makes an import, uploads `bytes` and waits for the end.
    pub async fn import(&self, token: &str, body: Value, bytes: Vec<u8>) -> Value {
        let import = self.create_import(token, body).await;
        let (status, text) = self.upload(&import, bytes).await;
        assert!((200..300).contains(&status), "upload answered {status}: {text}");
        self.wait_import(token, import["import_id"].as_str().unwrap()).await
    }

    /// Every activity of the organisation in the period, through the API's pages.
    pub async fn activities(&self, token: &str, org: &str, from: &str, to: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("{ACTIVITIES}?org_id={org}&from={from}&to={to}&limit=7");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (status, _, json) = self.call(reqwest::Method::GET, &path, Some(token), None).await;
            assert_eq!(status, 200, "{json}");
            out.extend(json["data"].as_array().unwrap().iter().map(|j| j["activity"].clone()));
            match json["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }
}

/// A valid group session of `org` on `date` (three participants, one
/// volunteer) with these attachments, as the API takes it.
pub fn group_session(org: &str, id: &str, date: &str, attachments: Value) -> Value {
    json!({
        "activity_id": id, "org_id": org, "activity_type": "group_session", "title": "Samtalegruppe",
        "date": date, "duration_minutes": 90, "mode": "in_person", "kommunenummer": "0301", "in_norway": true,
        "participants": {"total": 3, "new": 1,
            "by_gender": {"female": 2, "male": 1, "other": 0, "unknown": 0},
            "by_age": {"0-5": 0, "6-12": 0, "13-17": 0, "18-24": 1, "25-66": 2, "67+": 0, "unknown": 0}},
        "volunteers": {"count": 1, "hours": 2.0}, "led_by_peer": true, "attachments": attachments
    })
}

/// The bytes of the entry `name` of a downloaded ZIP.
pub fn entry(archive: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> Vec<u8> {
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_name(name).unwrap_or_else(|e| panic!("{name}: {e}")), &mut body)
        .unwrap();
    body
}
