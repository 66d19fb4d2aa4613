//! The grant officers' console: plain HTML, CSS and JavaScript modules
//! embedded in the binary (no build step, nothing fetched from elsewhere
//! at run time), served at `/`. It talks to the API like any client, with
//! the bearer token of whoever signed in; this module only serves the files
//! and says how to sign in.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

const INDEX: &str = include_str!("index.html");
const APP: &str = include_str!("app.js");
const TEXT: &str = include_str!("text.js");
const STYLE: &str = include_str!("style.css");

/// Only this origin's scripts and styles; the API and its uploads may be
/// elsewhere over HTTPS (S3's presigned links, an identity provider).
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
    connect-src 'self' https:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// How people sign in, as the console's `config.json` tells it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "sign_in", rename_all = "snake_case")]
pub enum SignIn {
    /// A button that signs in as the demo organisation (`serve --demo`),
    /// and pasting a token.
    Demo,
    /// Pasting a token from the identity provider.
    Token,
}

/// Makes a token for the demo organisation (`serve --demo` only).
pub type DemoTokens = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Serialize)]
struct DemoSession {
    token: String,
}

fn file(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Served from the binary: a new release brings new files, so revalidate.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// The console's routes: `/`, `/console/*` files, its `config.json`, and
/// with `demo` the demo sign-in.
pub fn console_router(sign_in: SignIn, demo: Option<DemoTokens>) -> Router {
    let config = Json(sign_in);
    let mut router = Router::new()
        .route("/", get(|| async { file(INDEX, "text/html; charset=utf-8") }))
        .route("/console/app.js", get(|| async { file(APP, "text/javascript; charset=utf-8") }))
        .route("/console/text.js", get(|| async { file(TEXT, "text/javascript; charset=utf-8") }))
        .route("/console/style.css", get(|| async { file(STYLE, "text/css; charset=utf-8") }))
        .route("/console/config.json", get(move || async move { config }));
    if let Some(tokens) = demo {
        router =
            router.route("/console/demo-session", post(move || async move { Json(DemoSession { token: tokens() }) }));
    }
    router
}
