//! Where a webhook URL leads now: its host resolved, every address
//! checked against the target rules (`domain::webhook_target`). The
//! sender connects only to the addresses returned here, so a DNS answer
//! that changes between the check and the connection cannot lead it
//! inside the network.

use std::net::SocketAddr;
use std::time::Duration;

use crate::domain::{WebhookTargets, is_public};

const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The URL may not be delivered to (its scheme, or an address it resolves to).
    #[error("{0}")]
    Refused(String),
    /// The host did not resolve; worth trying again later.
    #[error("{0}")]
    Unresolved(String),
}

/// The host and the addresses to connect to. An allowed host may resolve
/// anywhere; any other must be https and resolve only to public addresses
/// (one private answer refuses the lot).
pub async fn resolve_target(url: &str, targets: &WebhookTargets) -> Result<(String, Vec<SocketAddr>), TargetError> {
    let parsed = url::Url::parse(url).map_err(|e| TargetError::Refused(format!("not a URL: {e}")))?;
    let host = parsed.host_str().ok_or_else(|| TargetError::Refused("the URL names no host".into()))?.to_string();
    let allowed = targets.allows(&host);
    if parsed.scheme() != "https" && !(allowed && parsed.scheme() == "http") {
        return Err(TargetError::Refused("must use https".into()));
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let bare = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let lookup = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((bare.clone(), port))).await;
    let addrs: Vec<SocketAddr> = match lookup {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(e)) => return Err(TargetError::Unresolved(format!("{host} does not resolve: {e}"))),
        Err(_) => return Err(TargetError::Unresolved(format!("{host} did not resolve in time"))),
    };
    if addrs.is_empty() {
        return Err(TargetError::Unresolved(format!("{host} has no address")));
    }
    if !allowed && addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(TargetError::Refused(format!("{host} resolves to a private, loopback or link-local address")));
    }
    Ok((bare, addrs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_allowed() {
        let none = WebhookTargets::default();
        let refused = resolve_target("https://localhost:9/x", &none).await.unwrap_err();
        assert!(matches!(refused, TargetError::Refused(m) if m.contains("private")));
        assert!(matches!(resolve_target("http://127.0.0.1:9/", &none).await, Err(TargetError::Refused(_))));
        let allowed = WebhookTargets::new(["localhost"]);
        let (host, addrs) = resolve_target("http://localhost:9/x", &allowed).await.unwrap();
        assert_eq!(host, "localhost");
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 9));
        let unknown = resolve_target("https://no-such-host.invalid/", &none).await.unwrap_err();
        assert!(matches!(unknown, TargetError::Unresolved(_)));
    }
}
