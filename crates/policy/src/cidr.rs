//! A set of CIDR ranges with lookup in O(prefix length), independent of how
//! many ranges it holds (thousands of office or partner ranges are common).
//!
//! A binary trie per address family, stored as an arena of nodes; a lookup
//! walks at most 32 (IPv4) or 128 (IPv6) bits and stops at the first node that
//! ends a range. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are looked up
//! as IPv4, so a dual-stack listener sees the ranges an operator wrote.

use std::net::IpAddr;

/// A parsed CIDR range: `10.0.0.0/8`, `2001:db8::/32`, or a bare address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    /// Parses `addr/len` or a bare address (a /32 or /128). Host bits set below
    /// the prefix are an error, as they usually mean a typo.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| format!("invalid CIDR {s:?}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(l) if l <= max => l,
                _ => return Err(format!("invalid CIDR {s:?}: prefix length must be 0..={max}")),
            },
        };
        let bits = to_bits(addr);
        // A full-length prefix (/128, or a bare IPv6 address) has no host bits;
        // `u128::MAX >> 128` would overflow.
        let host_mask = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        if bits & host_mask != 0 {
            return Err(format!("invalid CIDR {s:?}: host bits set below /{len}"));
        }
        Ok(Cidr { addr, len })
    }
}

/// Left-aligned bits: an IPv4 address occupies the top 32 bits.
fn to_bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Node {
    child: [u32; 2],
    terminal: bool,
}

#[derive(Debug, Clone)]
struct Trie {
    nodes: Vec<Node>,
}

impl Trie {
    fn new() -> Self {
        Trie {
            nodes: vec![Node {
                child: [NONE; 2],
                terminal: false,
            }],
        }
    }

    fn insert(&mut self, bits: u128, len: u8) {
        let mut at = 0usize;
        for i in 0..len {
            if self.nodes[at].terminal {
                return; // a shorter range already covers this one
            }
            let b = ((bits >> (127 - i)) & 1) as usize;
            let next = self.nodes[at].child[b];
            at = if next == NONE {
                let id = self.nodes.len();
                self.nodes.push(Node {
                    child: [NONE; 2],
                    terminal: false,
                });
                self.nodes[at].child[b] = id as u32;
                id
            } else {
                next as usize
            };
        }
        self.nodes[at].terminal = true;
    }

    fn contains(&self, bits: u128, width: u8) -> bool {
        let mut at = 0usize;
        for i in 0..=width {
            let Some(node) = self.nodes.get(at) else { return false };
            if node.terminal {
                return true;
            }
            if i == width {
                return false;
            }
            let b = ((bits >> (127 - i)) & 1) as usize;
            match node.child[b] {
                NONE => return false,
                next => at = next as usize,
            }
        }
        false
    }
}

/// A set of CIDR ranges.
#[derive(Debug, Clone)]
pub struct CidrSet {
    v4: Trie,
    v6: Trie,
    len: usize,
}

impl Default for CidrSet {
    fn default() -> Self {
        CidrSet {
            v4: Trie::new(),
            v6: Trie::new(),
            len: 0,
        }
    }
}

impl CidrSet {
    /// Adds a range.
    pub fn insert(&mut self, c: Cidr) {
        let bits = to_bits(c.addr);
        match c.addr {
            IpAddr::V4(_) => self.v4.insert(bits, c.len),
            IpAddr::V6(_) => self.v6.insert(bits, c.len),
        }
        self.len += 1;
    }

    /// Number of ranges inserted.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no range was inserted.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `ip` is inside any range.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.v4.contains(to_bits(IpAddr::V4(v4)), 32),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.v4.contains(to_bits(IpAddr::V4(v4)), 32),
                None => self.v6.contains(to_bits(IpAddr::V6(v6)), 128),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ranges: &[&str]) -> CidrSet {
        let mut s = CidrSet::default();
        for r in ranges {
            s.insert(Cidr::parse(r).unwrap());
        }
        s
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn membership_follows_prefix_length() {
        let s = set(&["10.0.0.0/8", "192.168.1.0/24", "203.0.113.7", "2001:db8::/32"]);
        assert!(s.contains(ip("10.255.1.2")));
        assert!(!s.contains(ip("11.0.0.1")));
        assert!(s.contains(ip("192.168.1.200")));
        assert!(!s.contains(ip("192.168.2.1")));
        assert!(s.contains(ip("203.0.113.7")));
        assert!(!s.contains(ip("203.0.113.8")));
        assert!(s.contains(ip("2001:db8:1::5")));
        assert!(!s.contains(ip("2001:db9::1")));
    }

    #[test]
    fn ipv4_mapped_ipv6_is_looked_up_as_ipv4() {
        assert!(set(&["10.0.0.0/8"]).contains(ip("::ffff:10.1.2.3")));
    }

    #[test]
    fn zero_prefix_matches_the_whole_family() {
        let s = set(&["0.0.0.0/0"]);
        assert!(s.contains(ip("8.8.8.8")));
        assert!(!s.contains(ip("::1")));
    }

    /// Found by the `policy_toml` fuzz target: `::/128` overflowed a shift
    /// (a panic in debug builds; in release every bare IPv6 address but `::`
    /// was rejected as having host bits set).
    #[test]
    fn full_length_ipv6_ranges_and_bare_addresses_are_single_hosts() {
        let s = set(&["::1", "2001:db8::7/128", "::/128"]);
        assert!(s.contains(ip("::1")));
        assert!(s.contains(ip("2001:db8::7")));
        assert!(s.contains(ip("::")));
        assert!(!s.contains(ip("::2")));
        assert!(!s.contains(ip("2001:db8::8")));
        assert!(Cidr::parse("::1/127").unwrap_err().contains("host bits"));
        assert!(Cidr::parse("::1/129").unwrap_err().contains("prefix length"));
    }

    #[test]
    fn bad_ranges_are_rejected_with_the_reason() {
        assert!(
            Cidr::parse("10.0.0/8")
                .unwrap_err()
                .contains("invalid CIDR \"10.0.0/8\"")
        );
        assert!(Cidr::parse("10.0.0.0/33").unwrap_err().contains("prefix length"));
        assert!(Cidr::parse("10.0.0.1/8").unwrap_err().contains("host bits"));
    }

    #[test]
    fn thousands_of_ranges_agree_with_a_linear_scan() {
        let ranges: Vec<String> = (0..2000u32)
            .map(|i| format!("{}.{}.{}.0/24", 10 + i % 50, (i * 7) % 256, (i * 13) % 256))
            .collect();
        let parsed: Vec<Cidr> = ranges.iter().map(|r| Cidr::parse(r).unwrap()).collect();
        let mut s = CidrSet::default();
        for c in &parsed {
            s.insert(*c);
        }
        for i in 0..20_000u32 {
            let probe = std::net::Ipv4Addr::from(0x0A00_0000u32.wrapping_add(i.wrapping_mul(2_654_435_761)));
            let linear = parsed.iter().any(|c| {
                let IpAddr::V4(net) = c.addr else { unreachable!() };
                u32::from(probe) >> (32 - c.len) == u32::from(net) >> (32 - c.len)
            });
            assert_eq!(s.contains(IpAddr::V4(probe)), linear, "{probe}");
        }
    }
}
