//! Where a webhook may point. A delivery is a request our servers make
//! to an address an outside caller chose, so without a guard anyone
//! could make them reach the metadata service, the database, or anything
//! else inside the network. The rule: https to a public address only,
//! unless the operator allowed the host (`serve --webhook-allow-host`,
//! `WEBHOOK_ALLOW_HOSTS`), which may then be private and plain http.
//! The address is checked again after DNS resolution at every delivery.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const MAX_URL_LEN: usize = 2048;

/// The hosts an operator allowed besides public https ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebhookTargets {
    allowed: Vec<String>,
}

impl WebhookTargets {
    pub fn new<S: AsRef<str>>(hosts: impl IntoIterator<Item = S>) -> Self {
        WebhookTargets {
            allowed: hosts.into_iter().map(|h| normalise_host(h.as_ref())).filter(|h| !h.is_empty()).collect(),
        }
    }

    /// From a comma-separated list (`WEBHOOK_ALLOW_HOSTS`).
    pub fn from_list(list: &str) -> Self {
        Self::new(list.split(','))
    }

    pub fn allows(&self, host: &str) -> bool {
        let host = normalise_host(host);
        self.allowed.contains(&host)
    }
}

/// Lower case, without the brackets of an IPv6 literal or a trailing dot.
fn normalise_host(host: &str) -> String {
    host.trim().trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase()
}

/// Checks a webhook URL before it is stored; returns it as stored. DNS is
/// not asked here (the answer may change); the sender checks each address
/// it connects to.
pub fn check_url(raw: &str, targets: &WebhookTargets) -> Result<String, String> {
    let raw = raw.trim();
    if raw.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("is not an absolute URL: {e}"))?;
    let host = url.host_str().ok_or("must name a host")?.to_string();
    let allowed = targets.allows(&host);
    match url.scheme() {
        "https" => {}
        "http" if allowed => {}
        "http" => return Err("must use https".into()),
        other => return Err(format!("must use https, not {other}")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment (#...)".into());
    }
    if !allowed {
        if let Some(ip) = literal_ip(&host) {
            if !is_public(ip) {
                return Err("must not point to a private, loopback or link-local address".into());
            }
        } else if is_local_name(&host) {
            return Err("must not point to a local host name".into());
        }
    }
    Ok(url.to_string())
}

fn literal_ip(host: &str) -> Option<IpAddr> {
    normalise_host(host).parse().ok()
}

/// Names that never mean a public host.
fn is_local_name(host: &str) -> bool {
    let host = normalise_host(host);
    host == "localhost"
        || [".localhost", ".local", ".internal", ".localdomain", ".home.arpa"].iter().any(|s| host.ends_with(s))
        || !host.contains('.')
}

/// Whether a webhook may be delivered to this address without the
/// operator's leave: not private, loopback, link-local, shared (CGNAT),
/// multicast, documentation, benchmarking or otherwise reserved, also
/// when an IPv6 address carries an IPv4 one.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    match s {
        // NAT64 (64:ff9b::/96) and the IPv4-compatible form carry an IPv4 address.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo]
            if !ip.is_loopback() && !ip.is_unspecified() =>
        {
            is_public_v4(embedded_v4(hi, lo))
        }
        // 6to4 (2002::/16) carries one in its second and third groups.
        [0x2002, hi, lo, ..] => is_public_v4(embedded_v4(hi, lo)),
        _ => {
            !(ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x2001 && s[1] == 0)) // Teredo
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "2001:db8::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_are_refused_unless_https_and_public() {
        let none = WebhookTargets::default();
        assert_eq!(check_url("https://hooks.example.org/x?y=1", &none).unwrap(), "https://hooks.example.org/x?y=1");
        for bad in [
            "http://hooks.example.org/",
            "ftp://hooks.example.org/",
            "https://user:pw@hooks.example.org/",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://169.254.169.254/latest",
            "https://localhost/",
            "https://db.internal/",
            "https://intranet/",
            "https://hooks.example.org/#x",
            "hooks.example.org",
            "",
        ] {
            assert!(check_url(bad, &none).is_err(), "{bad}");
        }
        let long = format!("https://example.org/{}", "a".repeat(MAX_URL_LEN));
        assert!(check_url(&long, &none).is_err());
    }

    #[test]
    fn an_allowed_host_may_be_loopback_and_plain_http() {
        let targets = WebhookTargets::new(["127.0.0.1", "LocalHost", "[::1]"]);
        assert!(check_url("http://127.0.0.1:8080/hook", &targets).is_ok());
        assert!(check_url("http://localhost:1/x", &targets).is_ok());
        assert!(check_url("http://[::1]:9/x", &targets).is_ok());
        assert!(check_url("http://10.0.0.1/x", &targets).is_err());
        assert!(WebhookTargets::from_list("a.example, b.example").allows("B.EXAMPLE."));
    }
}
