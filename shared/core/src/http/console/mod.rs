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

/// Only this origin's scripts and styles; uploads may go elsewhere over
/// HTTPS (S3's presigned links), and the identity provider is asked for
/// tokens at its own origin.
fn policy(sign_in: &SignIn) -> String {
    let provider = match sign_in {
        SignIn::Oidc { issuer, .. } => origin_of(issuer).map(|o| format!(" {o}")).unwrap_or_default(),
        _ => String::new(),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         connect-src 'self' https:{provider}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
}

/// `scheme://host[:port]` of a URL, for the policy.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().filter(|h| !h.is_empty())?;
    let plain = |c: char| c.is_ascii_alphanumeric() || ".-:[]".contains(c);
    (matches!(scheme, "http" | "https") && host.chars().all(plain)).then(|| format!("{scheme}://{host}"))
}

/// How people sign in, as the console's `config.json` tells it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "sign_in", rename_all = "snake_case")]
pub enum SignIn {
    /// A button that signs in as the demo organisation (`serve --demo`),
    /// and pasting a token.
    Demo,
    /// Pasting a token from the identity provider.
    Token,
    /// The organisation's identity provider: OpenID Connect's authorization
    /// code flow with PKCE, as a public client (no secret in a browser).
    /// Its ID token (`token: id_token`, what Cognito puts `custom:org_id`
    /// in) or access token is then the bearer token.
    Oidc { issuer: String, client_id: String, scope: String, token: OidcToken },
}

/// Which of the provider's tokens the console sends to the API.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OidcToken {
    #[default]
    IdToken,
    AccessToken,
}

impl SignIn {
    /// OpenID Connect sign-in when `issuer` and `client_id` are given
    /// (`scope` defaults to `openid email profile`); `None` when neither
    /// is, an error when only one is or the issuer is no http(s) URL.
    pub fn oidc(
        issuer: Option<&str>,
        client_id: Option<&str>,
        scope: Option<&str>,
        token: OidcToken,
    ) -> Result<Option<SignIn>, String> {
        let present = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        match (present(issuer), present(client_id)) {
            (None, None) => Ok(None),
            (Some(issuer), Some(client_id)) => {
                if origin_of(&issuer).is_none() {
                    return Err(format!("the OpenID Connect issuer {issuer:?} is not an http(s) URL"));
                }
                let scope = present(scope).unwrap_or_else(|| "openid email profile".to_string());
                Ok(Some(SignIn::Oidc { issuer: issuer.trim_end_matches('/').to_string(), client_id, scope, token }))
            }
            _ => Err("OpenID Connect sign-in needs both the issuer and the client id".to_string()),
        }
    }
}

/// Makes a token for the demo organisation (`serve --demo` only).
pub type DemoTokens = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Serialize)]
struct DemoSession {
    token: String,
}

fn file(body: &'static str, content_type: &'static str, policy: &str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Served from the binary: a new release brings new files, so revalidate.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// The console's routes: `/`, `/console/*` files, its `config.json`, and
/// with `demo` the demo sign-in.
pub fn console_router(sign_in: SignIn, demo: Option<DemoTokens>) -> Router {
    let policy: Arc<str> = policy(&sign_in).into();
    let serve = |body: &'static str, kind: &'static str| {
        let policy = policy.clone();
        get(move || async move { file(body, kind, &policy) })
    };
    let config = Json(sign_in);
    let mut router = Router::new()
        .route("/", serve(INDEX, "text/html; charset=utf-8"))
        .route("/console/app.js", serve(APP, "text/javascript; charset=utf-8"))
        .route("/console/text.js", serve(TEXT, "text/javascript; charset=utf-8"))
        .route("/console/style.css", serve(STYLE, "text/css; charset=utf-8"))
        .route("/console/config.json", get(move || async move { config }));
    if let Some(tokens) = demo {
        router =
            router.route("/console/demo-session", post(move || async move { Json(DemoSession { token: tokens() }) }));
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oidc_needs_both_an_issuer_url_and_a_client() {
        let t = OidcToken::IdToken;
        assert_eq!(SignIn::oidc(None, Some(" "), None, t), Ok(None));
        let made = SignIn::oidc(Some("https://idp.example.org/realms/x/"), Some("console"), None, t).unwrap().unwrap();
        let SignIn::Oidc { issuer, scope, .. } = &made else { panic!("{made:?}") };
        assert_eq!((issuer.as_str(), scope.as_str()), ("https://idp.example.org/realms/x", "openid email profile"));
        assert!(policy(&made).contains("connect-src 'self' https: https://idp.example.org;"), "{}", policy(&made));
        assert!(SignIn::oidc(Some("https://idp.example.org"), None, None, t).is_err());
        assert!(SignIn::oidc(Some("ftp://idp.example.org"), Some("c"), None, t).is_err());
        assert!(SignIn::oidc(Some("https://idp.example.org; script-src *"), Some("c"), None, t).is_err());
        let local = SignIn::oidc(Some("http://127.0.0.1:8123"), Some("c"), None, t).unwrap().unwrap();
        assert!(policy(&local).contains("https: http://127.0.0.1:8123;"));
    }
}
