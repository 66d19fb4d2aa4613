//! A webhook receiver on a free loopback port, run by the test itself:
//! it keeps every request it gets and answers as told (accept, fail the
//! first n, always fail, hang, redirect), the way a real integrator's
//! endpoint would behave on a good or a bad day.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    Accept,
    /// Answers 500 to the first n requests, then 200.
    FailFirst(usize),
    Fail,
    /// Never answers (for longer than any timeout).
    Hang,
    /// 302 to `/elsewhere`, which would accept.
    Redirect,
}

#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub signature: String,
    pub event_id: String,
    pub body: String,
    pub at: Instant,
    /// The status the receiver answered with.
    pub answered: u16,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Clone)]
struct Shared {
    behaviour: Behaviour,
    seen: Arc<Mutex<Vec<Received>>>,
}

pub struct Receiver {
    pub url: String,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Receiver {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = Shared { behaviour, seen: seen.clone() };
        let app = Router::new().route("/hook", post(hook)).route("/elsewhere", post(hook)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url: format!("http://{addr}/hook"), seen }
    }

    pub fn received(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests answered 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.answered < 300).collect()
    }

    /// Waits until `done` holds for what arrived, or fails the test.
    pub async fn wait_until(&self, limit: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let seen = self.received();
            if done(&seen) {
                return seen;
            }
            assert!(start.elapsed() < limit, "the receiver did not get what was expected in {limit:?}: {seen:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn hook(State(state): State<Shared>, uri: axum::http::Uri, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let earlier = state.seen.lock().unwrap().len();
    let answer = match state.behaviour {
        Behaviour::Accept => StatusCode::OK,
        Behaviour::FailFirst(n) if earlier < n => StatusCode::INTERNAL_SERVER_ERROR,
        Behaviour::FailFirst(_) => StatusCode::OK,
        Behaviour::Fail => StatusCode::INTERNAL_SERVER_ERROR,
        Behaviour::Hang => StatusCode::OK,
        Behaviour::Redirect if uri.path() == "/hook" => StatusCode::FOUND,
        Behaviour::Redirect => StatusCode::OK,
    };
    state.seen.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        signature: header("bufdir-signature"),
        event_id: header("bufdir-event-id"),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
        answered: answer.as_u16(),
    });
    match state.behaviour {
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            answer.into_response()
        }
        Behaviour::Redirect if answer == StatusCode::FOUND => {
            (answer, [("Location", "/elsewhere")], "moved").into_response()
        }
        Behaviour::Fail | Behaviour::FailFirst(_) if answer.is_server_error() => {
            (answer, "receiver is down for maintenance").into_response()
        }
        _ => (answer, "ok").into_response(),
    }
}
