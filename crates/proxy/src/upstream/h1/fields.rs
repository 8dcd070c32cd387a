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

/// Where the kept lines are in a head: [`RawFields::plan`]'s answer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Runs {
    spans: [(u16, u16); MAX_RUNS],
    count: u8,
}

/// The header lines of a response head to forward, verbatim, each ending in
/// CRLF.
#[derive(Debug, Clone)]
pub struct RawFields {
    head: Bytes,
    runs: Runs,
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
    pub(super) fn plan(head: &[u8], lines: impl IntoIterator<Item = (u16, bool)>) -> Option<Runs> {
        let len = u16::try_from(head.len()).ok()?;
        if !head.ends_with(b"\r\n\r\n") {
            return None;
        }
        let mut runs = Runs {
            spans: [(0, 0); MAX_RUNS],
            count: 0,
        };
        let mut close = |from: u16, to: u16| {
            *runs.spans.get_mut(usize::from(runs.count))? = (from, to);
            runs.count += 1;
            Some(())
        };
        let mut open: Option<u16> = None;
        for (start, left_out) in lines {
            if start < 2 || head.get(usize::from(start) - 2..usize::from(start)) != Some(b"\r\n") {
                return None;
            }
            match (left_out, open) {
                (false, None) => open = Some(start),
                (true, Some(from)) => {
                    close(from, start)?;
                    open = None;
                }
                _ => {}
            }
        }
        // The last run ends before the head's final CRLF.
        if let Some(from) = open {
            close(from, len - 2)?;
        }
        Some(runs)
    }

    /// The kept lines of `head` along `runs` (from [`RawFields::plan`]).
    pub(super) fn new(head: Bytes, runs: Runs, length: bool, date: bool) -> RawFields {
        RawFields {
            head,
            runs,
            length,
            date,
        }
    }

    /// The runs of lines to write, in order.
    pub(crate) fn runs(&self) -> impl Iterator<Item = &[u8]> {
        let Runs { spans, count } = &self.runs;
        spans
            .iter()
            .take(usize::from(*count))
            .filter_map(|&(a, b)| self.head.get(usize::from(a)..usize::from(b)))
    }

    /// Each kept field: its name, and where its value is in the head
    /// (without the whitespace around it).
    fn fields(&self) -> impl Iterator<Item = (&[u8], std::ops::Range<usize>)> {
        let base = self.head.as_ptr() as usize;
        self.runs()
            .flat_map(|run| run.split(|&c| c == b'\n'))
            .filter_map(move |line| {
                let (name, value) = line.split_at(line.iter().position(|&c| c == b':')?);
                let value = value.get(1..)?.trim_ascii();
                let at = value.as_ptr() as usize - base;
                Some((name, at..at + value.len()))
            })
    }

    /// Whether a field of this name (case-insensitive) is among them.
    pub fn has(&self, name: &str) -> bool {
        self.fields().any(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// Appends the fields to `map`, values sliced from the head (not copied).
    pub fn extend_map(&self, map: &mut HeaderMap) {
        for (name, value) in self.fields() {
            let value = HeaderValue::from_maybe_shared(self.head.slice(value));
            if let (Ok(name), Ok(value)) = (field_name(name), value) {
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
        let plan = RawFields::plan(text.as_bytes(), lines)?;
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
