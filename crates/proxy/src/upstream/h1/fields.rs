//! An upstream response's own header fields passed on as the bytes it sent.
//!
//! Most responses need nothing from their fields but the framing, and every
//! field but the hop-by-hop ones goes to the client unchanged. Building a
//! `HeaderMap` for them (a name parsed and hashed, a value checked and
//! sliced, per field) and walking it again to write the client's head was
//! about a sixth of graygate's user-space instructions per request. Instead
//! the head keeps the runs of lines to forward, and the client's head is
//! written from them (pingora forwards header bytes the same way). Whatever
//! must look into the fields (a field graygate would replace, a 101) turns
//! them into a map first ([`RawFields::extend_map`]).

use crate::wire::field_name;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue};

/// At most this many runs of kept lines; a head whose hop-by-hop fields cut
/// its lines into more goes the `HeaderMap` way.
const MAX_RUNS: usize = 4;

/// The header lines of a response head to forward, verbatim, each ending in
/// CRLF.
#[derive(Debug, Clone)]
pub struct RawFields {
    head: Bytes,
    runs: [(u16, u16); MAX_RUNS],
    count: u8,
    /// A `Content-Length` is among them.
    pub(crate) length: bool,
    /// A `Date` is among them.
    pub(crate) date: bool,
}

impl RawFields {
    /// The runs of kept lines of `head` (a complete head, its final CRLF
    /// included), given each field line's start (the name's offset) and
    /// whether it is left out. `None` when the lines are not all CRLF-ended
    /// (httparse accepts a bare LF; such a head is re-encoded from a map
    /// instead of being forwarded as it came) or too scattered.
    pub(super) fn plan(head: &[u8], lines: &[(u16, bool)]) -> Option<([(u16, u16); MAX_RUNS], u8)> {
        let len = u16::try_from(head.len()).ok()?;
        if !head.ends_with(b"\r\n\r\n") {
            return None;
        }
        let mut runs = [(0u16, 0u16); MAX_RUNS];
        let mut count = 0usize;
        let mut open: Option<u16> = None;
        for (i, &(start, left_out)) in lines.iter().enumerate() {
            if start < 2 || head.get(usize::from(start) - 2..usize::from(start)) != Some(b"\r\n") {
                return None;
            }
            let end = lines.get(i + 1).map_or(len - 2, |&(next, _)| next);
            match (left_out, open) {
                (false, None) => open = Some(start),
                (true, Some(from)) => {
                    *runs.get_mut(count)? = (from, start);
                    count += 1;
                    open = None;
                }
                _ => {}
            }
            if i + 1 == lines.len()
                && let Some(from) = open
            {
                *runs.get_mut(count)? = (from, end);
                count += 1;
            }
        }
        Some((runs, count as u8))
    }

    /// The kept lines of `head` along `runs` (from [`RawFields::plan`]).
    pub(super) fn new(head: Bytes, (runs, count): ([(u16, u16); MAX_RUNS], u8), length: bool, date: bool) -> RawFields {
        RawFields {
            head,
            runs,
            count,
            length,
            date,
        }
    }

    /// The runs of lines to write, in order.
    pub(crate) fn runs(&self) -> impl Iterator<Item = &[u8]> {
        self.runs
            .iter()
            .take(usize::from(self.count))
            .filter_map(|&(a, b)| self.head.get(usize::from(a)..usize::from(b)))
    }

    /// Each kept field as (name, value), the value without its surrounding
    /// whitespace, as offsets into the head.
    fn fields(&self) -> impl Iterator<Item = ((usize, usize), (usize, usize))> + '_ {
        self.runs.iter().take(usize::from(self.count)).flat_map(move |&(a, b)| {
            let (a, b) = (usize::from(a), usize::from(b));
            let run = self.head.get(a..b).unwrap_or_default();
            let mut at = a;
            run.split(|&c| c == b'\n')
                .filter(|l| !l.is_empty())
                .filter_map(move |line| {
                    let start = at;
                    at += line.len() + 1;
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    let colon = line.iter().position(|&c| c == b':')?;
                    let value = line.get(colon + 1..)?;
                    let lead = value.iter().take_while(|c| matches!(c, b' ' | b'\t')).count();
                    let trail = value.iter().rev().take_while(|c| matches!(c, b' ' | b'\t')).count();
                    let v0 = start + colon + 1 + lead;
                    Some((
                        (start, start + colon),
                        (v0, (v0 + value.len() - lead).saturating_sub(trail).max(v0)),
                    ))
                })
        })
    }

    /// Whether a field of this name (case-insensitive) is among them.
    pub fn has(&self, name: &str) -> bool {
        self.fields().any(|((n0, n1), _)| {
            self.head
                .get(n0..n1)
                .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
        })
    }

    /// Appends the fields to `map`, values sliced from the head (not copied).
    pub fn extend_map(&self, map: &mut HeaderMap) {
        for ((n0, n1), (v0, v1)) in self.fields() {
            let name = self.head.get(n0..n1).and_then(|n| field_name(n).ok());
            let value = self
                .head
                .get(v0..v1)
                .and_then(|_| HeaderValue::from_maybe_shared(self.head.slice(v0..v1)).ok());
            if let (Some(name), Some(value)) = (name, value) {
                map.append(name, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of a head and whether each is left out (hop-by-hop: here,
    /// the names starting with "Connection" or "Keep").
    fn raw(text: &'static str) -> Option<RawFields> {
        let body = text.find("\r\n").map_or(0, |i| i + 2);
        let mut lines = Vec::new();
        let mut at = body;
        for line in text[body..text.len() - 2].split_inclusive('\n') {
            lines.push((at as u16, line.starts_with("Connection") || line.starts_with("Keep")));
            at += line.len();
        }
        let plan = RawFields::plan(text.as_bytes(), &lines)?;
        Some(RawFields::new(Bytes::from_static(text.as_bytes()), plan, false, false))
    }

    fn runs(f: &RawFields) -> Vec<String> {
        f.runs().map(|r| String::from_utf8_lossy(r).into_owned()).collect()
    }

    #[test]
    fn kept_lines_are_runs_between_the_left_out_ones() {
        let f = raw(
            "HTTP/1.1 200 OK\r\nServer: x\r\nDate: d\r\nConnection: keep-alive\r\nX-A: 1\r\nKeep-Alive: t=5\r\n\r\n",
        )
        .unwrap();
        assert_eq!(runs(&f), ["Server: x\r\nDate: d\r\n", "X-A: 1\r\n"]);
        let f = raw("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n").unwrap();
        assert!(runs(&f).is_empty());
        let f = raw("HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        assert!(runs(&f).is_empty());
    }

    #[test]
    fn a_bare_lf_or_too_many_runs_is_not_forwarded_raw() {
        assert!(raw("HTTP/1.1 200 OK\r\nServer: x\nDate: d\r\n\r\n").is_none());
        assert!(raw("HTTP/1.1 200 OK\r\nServer: x\r\nDate: d\n\r\n").is_none());
        let scattered = "HTTP/1.1 200 OK\r\nA: 1\r\nConnection: x\r\nB: 1\r\nKeep-A: x\r\nC: 1\r\nKeep-B: x\r\nD: 1\r\nKeep-C: x\r\nE: 1\r\n\r\n";
        assert!(raw(scattered).is_none());
    }

    #[test]
    fn fields_are_found_and_turned_into_a_map() {
        let f = raw("HTTP/1.1 200 OK\r\nServer:  x \r\nX-Graygate-Version: 7\r\nConnection: close\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n")
            .unwrap();
        assert!(f.has("x-graygate-version"));
        assert!(f.has("SERVER"));
        assert!(!f.has("connection"));
        assert!(!f.has("date"));
        let mut map = HeaderMap::new();
        f.extend_map(&mut map);
        assert_eq!(map["server"], "x");
        assert_eq!(map["x-graygate-version"], "7");
        assert_eq!(map.get_all("set-cookie").iter().collect::<Vec<_>>(), ["a=1", "b=2"]);
        assert_eq!(map.len(), 4);
    }
}
