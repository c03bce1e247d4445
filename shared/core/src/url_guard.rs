//! Rules for `upload_url`: which URLs and which addresses the server may fetch.
//!
//! The address check runs on every resolved address of every hop, so a name
//! that resolves to a private address, or a redirect to one, is rejected too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A URL that passed the syntax checks.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedUrl(pub url::Url);

/// Accepts http, https and s3 URLs with a host and no user name or password.
pub fn check_url_syntax(text: &str) -> Result<CheckedUrl, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("invalid URL `{}`: {e}", redact_text(text)))?;
    match url.scheme() {
        "http" | "https" | "s3" => {}
        other => return Err(format!("unsupported URL scheme `{other}`; use http, https or s3")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URLs with a user name or password are not accepted; use a presigned URL instead".into());
    }
    Ok(CheckedUrl(url))
}

/// Returns the last path segment, if it is a usable file name.
pub fn file_name_of(url: &CheckedUrl) -> Option<String> {
    let segment = url.0.path_segments()?.next_back()?;
    let decoded = percent_decode(segment);
    (!decoded.is_empty()).then_some(decoded)
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Returns the URL without its query string, which may contain a signature.
pub fn redact(url: &CheckedUrl) -> String {
    let mut copy = url.0.clone();
    if copy.query().is_some() {
        copy.set_query(Some("…"));
    }
    copy.to_string()
}

fn redact_text(text: &str) -> String {
    text.split('?').next().unwrap_or("").chars().take(200).collect()
}

/// Returns the reason an address must not be fetched, or `None` for a public address.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) forms reach the IPv4 address.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let segments = v6.segments();
            if segments[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_unspecified() && !v6.is_loopback() {
                return forbidden_v4(Ipv4Addr::from(((segments[6] as u32) << 16) | segments[7] as u32));
            }
            // NAT64 (64:ff9b::/96) embeds an IPv4 address in the last 32 bits.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return forbidden_v4(Ipv4Addr::from(((segments[6] as u32) << 16) | segments[7] as u32));
            }
            forbidden_v6(v6)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let octets = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(169, 254, 170, 2) {
        Some("cloud metadata")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_unspecified() || octets[0] == 0 {
        Some("unspecified")
    } else if octets[0] == 100 && (64..128).contains(&octets[1]) {
        Some("shared address space (carrier-grade NAT)")
    } else if ip.is_broadcast() || ip.is_multicast() || octets[0] >= 240 {
        Some("broadcast, multicast or reserved")
    } else if octets[0] == 198 && (octets[1] == 18 || octets[1] == 19) {
        Some("benchmarking")
    } else if octets[..3] == [192, 0, 0] {
        Some("IETF protocol assignment")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        Some("cloud metadata")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if first & 0xfe00 == 0xfc00 {
        Some("private (unique local)")
    } else if first & 0xff00 == 0xff00 {
        Some("multicast")
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Some("documentation")
    } else {
        None
    }
}

/// An allowed network from configuration, such as `127.0.0.1/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Result<Network, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.trim().parse().map_err(|_| format!("invalid network `{text}`"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("invalid prefix in `{text}`"))?,
            None => max,
        };
        Ok(Network { address, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - self.prefix) };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Resolves the host of `url`, checks every address, and returns the one to connect to.
/// One rejected address rejects the host, so DNS answers cannot mix in a private address.
pub async fn resolve_checked(url: &url::Url, allowed: &[Network]) -> Result<std::net::SocketAddr, String> {
    let host = url.host_str().ok_or("the URL has no host")?;
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<std::net::SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![std::net::SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
            .collect(),
    };
    for address in &addresses {
        check_address(address.ip(), allowed)?;
    }
    addresses.first().copied().ok_or_else(|| format!("`{host}` has no addresses"))
}

/// Checks one resolved address against the rules and the allow-list.
pub fn check_address(ip: IpAddr, allowed: &[Network]) -> Result<(), String> {
    if allowed.iter().any(|n| n.contains(ip)) {
        return Ok(());
    }
    match forbidden_reason(ip) {
        Some(reason) => Err(format!(
            "the URL resolves to {ip}, a {reason} address, which cloudrun does not fetch \
             (an operator can allow a network with upload_url.allowed_networks)"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("valid address")
    }

    #[test]
    fn private_and_special_v4_rejected() {
        for (address, reason) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "cloud metadata"),
            ("169.254.170.2", "cloud metadata"),
            ("169.254.1.1", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("100.64.0.1", "shared address space (carrier-grade NAT)"),
            ("224.0.0.1", "broadcast, multicast or reserved"),
        ] {
            assert_eq!(forbidden_reason(ip(address)), Some(reason), "{address}");
        }
    }

    #[test]
    fn public_addresses_allowed() {
        for address in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111"] {
            assert_eq!(forbidden_reason(ip(address)), None, "{address}");
        }
    }

    #[test]
    fn v6_special_ranges_rejected() {
        for (address, reason) in [
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("fd00::1", "private (unique local)"),
            ("fd00:ec2::254", "cloud metadata"),
        ] {
            assert_eq!(forbidden_reason(ip(address)), Some(reason), "{address}");
        }
    }

    #[test]
    fn mapped_v4_forms_rejected() {
        assert_eq!(forbidden_reason(ip("::ffff:127.0.0.1")), Some("loopback"));
        assert_eq!(forbidden_reason(ip("::ffff:169.254.169.254")), Some("cloud metadata"));
        assert_eq!(forbidden_reason(ip("::ffff:10.0.0.1")), Some("private"));
        assert_eq!(forbidden_reason(ip("::10.0.0.1")), Some("private"));
        assert_eq!(forbidden_reason(ip("64:ff9b::a9fe:a9fe")), Some("cloud metadata"));
        assert_eq!(forbidden_reason(ip("::ffff:8.8.8.8")), None);
    }

    #[test]
    fn allow_list_overrides() {
        let allowed = [Network::parse("127.0.0.1/32").expect("valid")];
        assert!(check_address(ip("127.0.0.1"), &allowed).is_ok());
        assert!(check_address(ip("127.0.0.2"), &allowed).is_err());
        assert!(check_address(ip("10.0.0.1"), &allowed).is_err());
        let error = check_address(ip("169.254.169.254"), &[]).expect_err("metadata");
        assert!(error.contains("cloud metadata"), "{error}");
    }

    #[test]
    fn url_syntax_rules() {
        assert!(check_url_syntax("https://example.com/wrfbdy_d01").is_ok());
        assert!(check_url_syntax("s3://bucket/key/wrfbdy_d01").is_ok());
        assert!(check_url_syntax("ftp://example.com/x").expect_err("scheme").contains("ftp"));
        assert!(check_url_syntax("file:///etc/passwd").is_err());
        assert!(check_url_syntax("http://user:pw@example.com/x").is_err());
        assert!(check_url_syntax("not a url").is_err());
    }

    #[test]
    fn file_name_and_redaction() {
        let url = check_url_syntax("https://example.com/data/wrfinput_d01?X-Amz-Signature=abc").expect("valid");
        assert_eq!(file_name_of(&url).as_deref(), Some("wrfinput_d01"));
        assert!(!redact(&url).contains("abc"));
        let url = check_url_syntax("https://example.com/").expect("valid");
        assert_eq!(file_name_of(&url), None);
    }
}
