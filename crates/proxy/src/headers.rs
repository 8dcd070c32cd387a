//! Header rewriting between the two legs: hop-by-hop headers removed (RFC 9110
//! §7.6.1), forwarding headers set, upgrades recognised.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

const HOPS: usize = 7;

/// Headers that describe one connection, never forwarded.
const HOP_BY_HOP: [HeaderName; HOPS] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The `Upgrade` header of a request that asks for one (`Connection: upgrade`).
pub fn upgrade_request(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| tokens(v).any(|t| t.eq_ignore_ascii_case("upgrade")));
    if asks {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

fn tokens(v: &HeaderValue) -> impl Iterator<Item = &str> {
    v.to_str()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Removes hop-by-hop headers, including any named in `Connection`. With
/// `upgrade`, the request or 101 response keeps `Connection: upgrade` and its
/// `Upgrade` value so that the protocol switch reaches the other side.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: Option<HeaderValue>) {
    // One pass over the names finds the hop-by-hop ones present (usually
    // none, or `Connection` alone): removing every candidate would hash all
    // seven names into the map for each message, twice per request.
    let mut present = [false; HOPS];
    for name in headers.keys() {
        // Their lengths (2, 7, 10, 16, 17) rule out most names at once.
        if !matches!(name.as_str().len(), 2 | 7 | 10 | 16 | 17) {
            continue;
        }
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == name) {
            present[i] = true;
        }
    }
    if present.iter().any(|p| *p) {
        remove_hop_by_hop(headers, present);
    }
    if let Some(up) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, up);
    }
}

/// Removes the `present` hop-by-hop headers and those `Connection` names.
fn remove_hop_by_hop(headers: &mut HeaderMap, present: [bool; HOPS]) {
    // Extra names listed in Connection (rare): only then allocate.
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(tokens)
        .filter(|t| {
            !["close", "keep-alive", "upgrade"]
                .iter()
                .any(|k| t.eq_ignore_ascii_case(k))
        })
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for (name, _) in HOP_BY_HOP.into_iter().zip(present).filter(|(_, p)| *p) {
        headers.remove(name);
    }
}

/// The text of an IP address as a header value, formatted on the stack
/// (twice per request: `X-Forwarded-For` and `X-Real-IP`).
pub fn ip_value(ip: std::net::IpAddr) -> HeaderValue {
    use std::io::Write;
    let mut buf = [0u8; 46];
    let len = match ip {
        std::net::IpAddr::V4(v4) => {
            let mut n = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[n] = b'.';
                    n += 1;
                }
                n += write_u8(&mut buf[n..], octet);
            }
            n
        }
        std::net::IpAddr::V6(v6) => {
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            let _ = write!(cursor, "{v6}");
            usize::try_from(cursor.position()).unwrap_or(0)
        }
    };
    // An IP address is always a valid header value.
    HeaderValue::from_bytes(buf.get(..len).unwrap_or_default()).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// Writes `v` in decimal at the start of `out` (room for 3 digits); its length.
fn write_u8(out: &mut [u8], v: u8) -> usize {
    let digits = [v / 100, v / 10 % 10, v % 10];
    let skip = if v >= 100 {
        0
    } else if v >= 10 {
        1
    } else {
        2
    };
    let mut n = 0;
    for (slot, d) in out.iter_mut().zip(&digits[skip..]) {
        *slot = b'0' + d;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_named_in_connection_are_removed() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, x-private".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("x-private", "1".parse().unwrap());
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        h.insert("te", "trailers".parse().unwrap());
        h.insert("x-keep", "1".parse().unwrap());
        strip_hop_by_hop(&mut h, None);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-keep"));
    }

    #[test]
    fn ip_values_are_the_usual_text() {
        for ip in [
            "0.0.0.0",
            "10.9.100.255",
            "127.0.0.1",
            "1.22.133.4",
            "::1",
            "2001:db8::7",
            "::ffff:10.0.0.1",
        ] {
            let addr: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(ip_value(addr), addr.to_string().as_str(), "{ip}");
        }
    }

    #[test]
    fn a_message_without_hop_by_hop_headers_is_left_alone() {
        let mut h = HeaderMap::new();
        h.insert("x-keep", "1".parse().unwrap());
        h.insert("content-length", "3".parse().unwrap());
        strip_hop_by_hop(&mut h, None);
        assert_eq!(h.len(), 2);
        h.insert("connection", "close".parse().unwrap());
        strip_hop_by_hop(&mut h, None);
        assert_eq!(h.len(), 2, "{h:?}");
    }

    #[test]
    fn an_upgrade_keeps_its_connection_and_upgrade_headers() {
        let mut h = HeaderMap::new();
        h.insert("connection", "Upgrade".parse().unwrap());
        h.insert("upgrade", "websocket".parse().unwrap());
        let up = upgrade_request(&h);
        assert_eq!(up.as_ref().unwrap(), "websocket");
        strip_hop_by_hop(&mut h, up);
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
    }
}
