//! Who the client is (R4): the socket peer, unless the peer is a trusted
//! proxy, in which case the forwarding headers it set are believed.
//!
//! `X-Forwarded-For` is read from the right: each proxy appends the address
//! it received the request from, so the rightmost entry that is not itself a
//! trusted proxy is the first hop nobody we trust vouches for — the client.
//! Entries to its left were written by the client and are ignored. Without
//! `X-Forwarded-For`, `X-Real-IP` is used. A peer outside the trusted set can
//! therefore never choose its address, and so never its version.

use graygate_policy::cidr::CidrSet;
use http::HeaderMap;
use std::net::IpAddr;

/// The resolved client address and whether the peer is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp {
    /// The client's address.
    pub ip: IpAddr,
    /// The socket peer is in `trusted_proxies`: its forwarding headers and
    /// gray tag are believed.
    pub trusted_peer: bool,
}

/// Resolves the client address of a request received from `peer`.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &CidrSet) -> ClientIp {
    let peer = canonical(peer);
    if trusted.is_empty() || !trusted.contains(peer) {
        return ClientIp {
            ip: peer,
            trusted_peer: false,
        };
    }
    let ip = from_forwarded_for(headers, trusted)
        .or_else(|| {
            let v = headers.get("x-real-ip")?.to_str().ok()?;
            parse_ip(v)
        })
        .unwrap_or(peer);
    ClientIp { ip, trusted_peer: true }
}

/// The rightmost untrusted address of all `X-Forwarded-For` headers; the
/// leftmost when every entry is trusted. `None` when there is no valid entry.
fn from_forwarded_for(headers: &HeaderMap, trusted: &CidrSet) -> Option<IpAddr> {
    let mut leftmost = None;
    // Several X-Forwarded-For headers form one list, in order.
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let value = value.to_str().ok()?;
        for entry in value.rsplit(',') {
            // An unparsable entry breaks the chain of trust: stop there.
            let ip = parse_ip(entry)?;
            if !trusted.contains(ip) {
                return Some(ip);
            }
            leftmost = Some(ip);
        }
    }
    leftmost
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `::1`.
fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    None
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`, from a dual-stack listener) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use graygate_policy::cidr::Cidr;

    fn trusted(list: &[&str]) -> CidrSet {
        let mut s = CidrSet::default();
        for c in list {
            s.insert(Cidr::parse(c).unwrap());
        }
        s
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let h = headers(&[("x-forwarded-for", "10.9.9.9"), ("x-real-ip", "10.9.9.9")]);
        let c = resolve(ip("203.0.113.7"), &h, &trusted(&["10.0.0.0/8"]));
        assert_eq!(c.ip, ip("203.0.113.7"));
        assert!(!c.trusted_peer);
    }

    #[test]
    fn the_rightmost_untrusted_forwarded_entry_is_the_client() {
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.2, 10.0.0.5")]);
        let c = resolve(ip("10.0.0.1"), &h, &trusted(&["10.0.0.0/8"]));
        assert_eq!(c.ip, ip("198.51.100.2"));
        assert!(c.trusted_peer);
    }

    #[test]
    fn several_forwarded_headers_are_one_list() {
        let h = headers(&[("x-forwarded-for", "198.51.100.2"), ("x-forwarded-for", "10.0.0.5")]);
        let c = resolve(ip("10.0.0.1"), &h, &trusted(&["10.0.0.0/8"]));
        assert_eq!(c.ip, ip("198.51.100.2"));
    }

    #[test]
    fn real_ip_is_used_without_forwarded_for() {
        let h = headers(&[("x-real-ip", "198.51.100.3")]);
        assert_eq!(
            resolve(ip("10.0.0.1"), &h, &trusted(&["10.0.0.0/8"])).ip,
            ip("198.51.100.3")
        );
    }

    #[test]
    fn a_garbage_entry_stops_the_walk_and_the_peer_stays_the_client() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4, garbage")]);
        assert_eq!(
            resolve(ip("10.0.0.1"), &h, &trusted(&["10.0.0.0/8"])).ip,
            ip("10.0.0.1")
        );
    }

    #[test]
    fn ipv4_mapped_peers_are_seen_as_ipv4() {
        let c = resolve(ip("::ffff:10.0.0.1"), &HeaderMap::new(), &trusted(&["10.0.0.0/8"]));
        assert_eq!(c.ip, ip("10.0.0.1"));
        assert!(c.trusted_peer);
    }
}
