//! The console behind API Gateway, on the API's own domain (so the page,
//! the API and the sign-in's redirect share one origin and need no CORS):
//! one function serves `/` and `/console/{file}` without the JWT
//! authorizer, as static files compiled into it. A Lambda rather than S3
//! and CloudFront: the files are a few tens of KB, live in the same
//! binary the tests drive, and deploy with the stack in one step.

use axum::Router;

use crate::config::ConfigError;
use crate::http::console::{OidcToken, SignIn, console_router};
use crate::http::finish;

pub const CONSOLE_OIDC_ISSUER: &str = "CONSOLE_OIDC_ISSUER";
pub const CONSOLE_OIDC_CLIENT_ID: &str = "CONSOLE_OIDC_CLIENT_ID";
pub const CONSOLE_OIDC_SCOPE: &str = "CONSOLE_OIDC_SCOPE";
/// `access_token` to send the provider's access token instead of its ID token.
pub const CONSOLE_OIDC_TOKEN: &str = "CONSOLE_OIDC_TOKEN";

/// Sign-in through the identity provider the environment names; pasting
/// a token when it names none.
pub fn sign_in_from_env() -> Result<SignIn, ConfigError> {
    let get = |name| std::env::var(name).ok();
    let token = match get(CONSOLE_OIDC_TOKEN).as_deref().map(str::trim) {
        None | Some("") | Some("id_token") => OidcToken::IdToken,
        Some("access_token") => OidcToken::AccessToken,
        Some(other) => {
            return Err(ConfigError::Invalid(CONSOLE_OIDC_TOKEN, format!("{other:?}: id_token or access_token")));
        }
    };
    let oidc = SignIn::oidc(
        get(CONSOLE_OIDC_ISSUER).as_deref(),
        get(CONSOLE_OIDC_CLIENT_ID).as_deref(),
        get(CONSOLE_OIDC_SCOPE).as_deref(),
        token,
    )
    .map_err(|e| ConfigError::Invalid(CONSOLE_OIDC_ISSUER, e))?;
    Ok(oidc.unwrap_or(SignIn::Token))
}

/// What the console function serves.
pub fn console_function(sign_in: SignIn) -> Router {
    finish(console_router(sign_in, None))
}
