//! How the targets read their bytes.
//!
//! `attrs` splits its input at `0xFF` (never valid UTF-8, so text pieces keep
//! every other byte); `decide` reads a structured request with a small reader
//! of its own rather than the `arbitrary` crate, so that a saved corpus means
//! the same request in every future build — and the stable replay test needs
//! no extra dependency.

use graygate_policy::{Body, RequestAttrs};
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The `0xFF`-separated pieces of an `attrs` input: 0 a name (cookie, field,
/// query parameter), 1 a `Cookie` header, 2 form data (query string or form
/// body), 3 a JSON body, 4 a JSON pointer, 5 a content type, 6 a URL, 7 a
/// header value (app version, user id, lookup answer). Missing pieces are empty.
#[derive(Debug)]
pub struct Pieces<'a>(Vec<&'a [u8]>);

impl<'a> Pieces<'a> {
    /// Splits `data`.
    pub fn split(data: &'a [u8]) -> Self {
        Pieces(data.split(|&b| b == 0xFF).collect())
    }

    /// Piece `i` as bytes.
    pub fn bytes(&self, i: usize) -> &'a [u8] {
        self.0.get(i).copied().unwrap_or_default()
    }

    /// Piece `i` as text (invalid UTF-8 replaced).
    pub fn text(&self, i: usize) -> String {
        String::from_utf8_lossy(self.bytes(i)).into_owned()
    }
}

/// A reader of structured input; reads past the end as zeros.
#[derive(Debug)]
pub struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    /// Reads `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input(data)
    }

    /// The next byte, 0 at the end.
    pub fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    /// A length byte, then that many bytes (fewer at the end).
    pub fn bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.byte()).min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    /// [`Input::bytes`] as text (invalid UTF-8 replaced).
    pub fn text(&mut self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }

    /// One of `options`, or free text, or nothing.
    pub fn pick(&mut self, options: &[&str]) -> Option<String> {
        let i = usize::from(self.byte());
        match i.checked_sub(2) {
            None if i == 0 => None,
            None => Some(self.text()),
            Some(k) => Some(options.get(k % options.len().max(1)).copied().unwrap_or("").to_owned()),
        }
    }

    /// Like [`Input::pick`], as bytes.
    fn pick_bytes(&mut self, options: &[&'static [u8]]) -> Cow<'a, [u8]> {
        let i = usize::from(self.byte());
        match i.checked_sub(2) {
            None if i == 0 => Cow::Borrowed(&[]),
            None => Cow::Borrowed(self.bytes()),
            Some(k) => Cow::Borrowed(options.get(k % options.len().max(1)).copied().unwrap_or_default()),
        }
    }
}

const HEADERS: [&str; 9] = [
    "x-user-id",
    "cookie",
    "x-gray",
    "x-app-version",
    "content-type",
    "host",
    "x-h",
    "X-User-ID",
    "x-forwarded-for",
];
const VALUES: [&str; 14] = [
    "1",
    "42",
    "1001",
    "alice@example.com",
    "5.2.0",
    "5.1.9",
    "5.2.0-rc1",
    "v5.2.1 (build 7)",
    "application/json",
    "application/x-www-form-urlencoded",
    "gray=canary; uid=user-7",
    "uid=\"ü\"; c=2; h=x; m",
    "api.example.com:8443",
    "",
];
const QUERIES: [&[u8]; 6] = [
    b"thirdPolicystatus=1",
    b"thirdPolicystatus=2&uid=42",
    b"q=ab%C3%A9&h=%00&m",
    b"uid=a+b&q=%C3%A9a",
    b"%71=a%ff",
    b"&&=&",
];
const BODIES: [&[u8]; 7] = [
    br#"{"thirdPolicystatus": 1}"#,
    br#"{"thirdPolicystatus": "2", "j": "x", "n": 3.5e0}"#,
    br#"{"a/b": {"~": [true]}, "u": "a b", "v": "1.2.3", "m": null}"#,
    b"thirdPolicystatus=2&f=12.5&n=11&v=5.2.0&ip=10.1.2.3",
    b"ip=%3A%3Affff%3A10.0.0.1&a+b=x%2B&%C3%BC=y",
    b"-0.0",
    b"[1e400]",
];

/// A request: method, host, path, headers, query, body, client IP and the
/// answers of per-user key lookups, each picked from values the fixed
/// policies test or read as free text.
pub fn request(input: &mut Input<'_>) -> RequestAttrs {
    let mut r = RequestAttrs::get("/");
    if let Some(m) = input.pick(&["GET", "POST", "put", "DELETE"]) {
        r = r.method(&m);
    }
    r.host = input.pick(&["www.example.com", "api.example.com", "a.x.example.com", "example.com"]);
    if let Some(p) = input.pick(&["/", "/api/", "/api/orders", "/b", "/b/x", "/v1/x", "/cart", "/api"]) {
        r.path = p;
    }
    for _ in 0..input.byte() % 8 {
        let name = input.pick(&HEADERS).unwrap_or_default();
        let value = input.pick(&VALUES).unwrap_or_default();
        r = r.header(&name, &value);
    }
    if input.byte() % 2 == 1 {
        let q = input.pick_bytes(&QUERIES);
        r.query = Some(String::from_utf8_lossy(&q).into_owned());
    }
    let body = input.pick_bytes(&BODIES);
    r.body = match input.byte() % 4 {
        0 => Body::None,
        1 => Body::parse(Some("application/json"), &body),
        2 => Body::parse(Some("application/x-www-form-urlencoded"), &body),
        _ => r.clone().body(&body).body,
    };
    r.client_ip = match input.byte() % 6 {
        0 => None,
        1 => Some(IpAddr::V4(Ipv4Addr::from(array::<4>(input)))),
        2 => Some(IpAddr::V6(Ipv6Addr::from(array::<16>(input)))),
        3 => Some(IpAddr::V6(Ipv4Addr::from(array::<4>(input)).to_ipv6_mapped())),
        4 => Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, input.byte()))),
        _ => Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    };
    for _ in 0..input.byte() % 3 {
        let key = input
            .pick(&["gray:42", "gray:1001", "gray:user-7", "gray:u"])
            .unwrap_or_default();
        let answer = input.pick(&["1", "0", "", "yes"]);
        r = r.lookup_answer(&key, answer.as_deref());
    }
    r
}

fn array<const N: usize>(input: &mut Input<'_>) -> [u8; N] {
    let mut a = [0u8; N];
    for b in &mut a {
        *b = input.byte();
    }
    a
}
