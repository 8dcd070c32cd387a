//! Lenient version comparison for rules such as `app-version >= 5.2.0`.
//!
//! Mobile clients send `5.2`, `5.2.0`, `v5.2.1`, `5.2.1-beta.3` or
//! `5.2.1 (build 77)`. A version is read as up to four dot-separated numbers
//! (missing ones are 0, so `5.2` equals `5.2.0`), an optional leading `v`, and
//! an optional pre-release after `-`, which ranks below the release
//! (`5.2.0-beta` < `5.2.0`), compared as text. Anything after a space or `+`
//! is ignored. A value that does not start with a number is not a version and
//! the condition does not match. Comparison allocates nothing.

use std::cmp::Ordering;

/// A parsed version; borrowed from the text it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version<'a> {
    parts: [u64; 4],
    pre: &'a str,
}

impl<'a> Version<'a> {
    /// Reads a version, or `None` when `s` does not start with a number.
    pub fn parse(s: &'a str) -> Option<Version<'a>> {
        let s = s.trim_ascii();
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        let b = s.as_bytes();
        let mut parts = [0u64; 4];
        let mut i = 0;
        for (n, part) in parts.iter_mut().enumerate() {
            let start = i;
            while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
                *part = part.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
                i += 1;
            }
            if i == start {
                return None;
            }
            match b.get(i) {
                Some(b'.') if n < 3 => i += 1,
                Some(b'.') => return None,
                _ => break,
            }
        }
        let pre = match b.get(i) {
            None | Some(b' ' | b'+' | b'(') => "",
            Some(b'-') => {
                let rest = &s[i + 1..];
                let end = rest
                    .bytes()
                    .position(|c| matches!(c, b' ' | b'+' | b'('))
                    .unwrap_or(rest.len());
                &rest[..end]
            }
            Some(_) => return None,
        };
        Some(Version { parts, pre })
    }
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts
            .cmp(&other.parts)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(other.pre),
            })
    }
}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// An owned version for the compiled policy (the right-hand side of a rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedVersion {
    parts: [u64; 4],
    pre: Box<str>,
}

impl OwnedVersion {
    /// Reads a version the way [`Version::parse`] does.
    pub fn parse(s: &str) -> Option<Self> {
        Version::parse(s).map(|v| OwnedVersion {
            parts: v.parts,
            pre: v.pre.into(),
        })
    }

    /// Borrows it for comparison.
    pub fn as_version(&self) -> Version<'_> {
        Version {
            parts: self.parts,
            pre: &self.pre,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version<'_> {
        Version::parse(s).unwrap()
    }

    #[test]
    fn missing_parts_count_as_zero() {
        assert_eq!(v("5.2"), v("5.2.0"));
        assert!(v("5.10.0") > v("5.9.9"), "numeric, not textual");
    }

    #[test]
    fn prerelease_ranks_below_release() {
        assert!(v("5.2.0-beta") < v("5.2.0"));
        assert!(v("5.2.0-alpha") < v("5.2.0-beta"));
        assert!(v("5.2.0-rc.1") > v("5.1.9"));
    }

    #[test]
    fn decorations_are_ignored() {
        assert_eq!(v("v5.2.1"), v("5.2.1"));
        assert_eq!(v("5.2.1 (build 77)"), v("5.2.1"));
        assert_eq!(v("5.2.1+sha.abc"), v("5.2.1"));
    }

    #[test]
    fn non_versions_are_rejected() {
        for s in ["", "beta", "5..2", "5.2.x", "1.2.3.4.5"] {
            assert!(Version::parse(s).is_none(), "{s:?}");
        }
    }
}
