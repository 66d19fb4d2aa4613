//! Cross-origin requests from web apps on an organisation's own domain.
//! Only the origins an operator names may call; with none named the server
//! sends no CORS headers and browsers keep every other origin out. On AWS
//! API Gateway answers preflights itself from the template's
//! `CorsAllowedOrigins`; this is the local server's equivalent, with the
//! same headers and methods.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::REQUEST_ID_HEADER;

/// Request headers a browser app may send besides the simple ones.
pub const CORS_ALLOW_HEADERS: [&str; 3] = ["authorization", "content-type", "idempotency-key"];
/// Response headers a browser app may read besides the simple ones.
pub const CORS_EXPOSE_HEADERS: [&str; 5] =
    ["location", "retry-after", REQUEST_ID_HEADER, "idempotent-replayed", "content-disposition"];
pub const CORS_METHODS: [Method; 5] = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
/// How long a browser may reuse a preflight's answer.
pub const CORS_MAX_AGE: Duration = Duration::from_secs(600);

/// `https://app.example.org` (scheme, host, optional port; a trailing `/`
/// is dropped), lowercased, or `*` for any origin. Anything with a path,
/// query or user part is refused: browsers never send one, so it could
/// only be a mistake that silently allows nothing.
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let origin = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    if origin == "*" {
        return Ok(origin);
    }
    let bad = || format!("{raw:?} is not an origin like https://app.example.org (scheme, host and optional port)");
    let (scheme, rest) = origin.split_once("://").ok_or_else(bad)?;
    if scheme != "https" && scheme != "http" {
        return Err(bad());
    }
    // `[::1]:3000` or `host:3000` or `host`
    let (host, port, ipv6) = match rest.strip_prefix('[') {
        Some(inner) => {
            let (addr, after) = inner.split_once(']').ok_or_else(bad)?;
            (addr, after.strip_prefix(':'), true)
        }
        None => match rest.split_once(':') {
            Some((h, p)) => (h, Some(p), false),
            None => (rest, None, false),
        },
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err())
    {
        return Err(bad());
    }
    // browsers leave the scheme's own port out of Origin, so this could never match
    if (scheme, port) == ("https", Some("443")) || (scheme, port) == ("http", Some("80")) {
        return Err(format!(
            "{raw:?} names the scheme's default port, which browsers leave out: write {scheme}://{host}"
        ));
    }
    let host_ok = if ipv6 {
        !host.is_empty() && host.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
    } else {
        !host.is_empty()
            && !host.starts_with(['.', '-'])
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    };
    if !host_ok || (ipv6 && !rest.ends_with(']') && port.is_none()) {
        return Err(bad());
    }
    Ok(origin)
}

/// The layer for these origins (already parsed), or none when there are none.
pub fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    let names = |names: &[&str]| {
        names.iter().map(|n| HeaderName::from_bytes(n.as_bytes()).expect("a header name")).collect::<Vec<_>>()
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods(CORS_METHODS.to_vec())
            .allow_headers(names(&CORS_ALLOW_HEADERS))
            .expose_headers(names(&CORS_EXPOSE_HEADERS))
            .max_age(CORS_MAX_AGE)
            .vary([header::ORIGIN]),
    )
}

#[cfg(test)]
mod tests {
    use super::parse_origin;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for (raw, want) in [
            ("https://app.example.org", "https://app.example.org"),
            ("https://App.Example.org/", "https://app.example.org"),
            ("http://localhost:5173", "http://localhost:5173"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:3000", "http://[::1]:3000"),
            ("*", "*"),
        ] {
            assert_eq!(parse_origin(raw).as_deref(), Ok(want), "{raw}");
        }
        for raw in [
            "",
            "app.example.org",
            "ftp://app.example.org",
            "https://app.example.org/path",
            "https://app.example.org?x=1",
            "https://user@app.example.org",
            "https://app.example.org:99999",
            "https://app.example.org:",
            "https://",
            "https://.example.org",
            "https://exa mple.org",
            "https://app.example.org:443",
            "http://localhost:80",
        ] {
            assert!(parse_origin(raw).is_err(), "{raw:?} accepted");
        }
    }
}
