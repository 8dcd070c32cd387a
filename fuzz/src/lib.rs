//! The bodies of graygate's fuzz targets, one function per target.
//!
//! The libFuzzer binaries in `fuzz_targets/` are one-line wrappers around
//! these functions, and `crates/policy/tests/fuzz_corpus.rs` includes this very
//! file to replay every corpus and regression input on stable Rust in the
//! normal `cargo test` — so what CI re-checks is exactly what was fuzzed.
//! Each function must return normally on any input; a panic (including an
//! arithmetic overflow in a debug-assertions build) is a finding.
//!
//! Besides "never panics", the targets check properties that hold for every
//! input: a decision is deterministic and names one of its route's groups; a
//! policy accepted from TOML is accepted from the JSON the store writes and
//! decides the same; extraction agrees with a plain reference reading.

#![forbid(unsafe_code)]

mod check;
pub mod input;
mod synth;

use graygate_policy::attrs::{cookie_value, form_value, host_without_port, json_value};
use graygate_policy::{Body, CompiledPolicy, Overrides, RequestAttrs, compile_json, compile_toml};
use std::sync::LazyLock;

/// A target's body: returns normally on every input.
pub type Target = fn(&[u8]);

/// Every target, by name: the directory names under `fuzz/corpus/`.
pub const TARGETS: [(&str, Target); 4] = [
    ("policy_toml", policy_toml),
    ("policy_json", policy_json),
    ("attrs", attrs),
    ("decide", decide),
];

/// `examples/full.toml`, the documented example policy.
pub static FULL: LazyLock<CompiledPolicy> = LazyLock::new(|| fixed(include_str!("../../examples/full.toml")));

/// `fuzz/src/extract.toml`: every operator on extracted values.
pub static EXTRACT: LazyLock<CompiledPolicy> = LazyLock::new(|| fixed(include_str!("extract.toml")));

fn fixed(src: &str) -> CompiledPolicy {
    compile_toml(src, 1).unwrap_or_else(|e| panic!("a fixed fuzz policy does not compile:\n{e}"))
}

/// Arbitrary text as a TOML policy: compiling never panics; an error names
/// real lines; a compiled policy decides requests made from its own rules
/// with every invariant of [`check::decision`], and its JSON form (what the
/// store saves) compiles and decides the same.
pub fn policy_toml(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else { return };
    match compile_toml(src, 1) {
        Ok(p) => {
            check::policy(&p);
            check::json_round_trip(&p);
        }
        Err(e) => {
            let lines = src.lines().count() + 1;
            check::error(&e, Some(lines));
        }
    }
}

/// Arbitrary bytes as a JSON policy (the admin API's and the store's input):
/// as [`policy_toml`], and serializing a compiled policy again is a fixpoint.
pub fn policy_json(data: &[u8]) {
    match compile_json(data, 1) {
        Ok(p) => {
            check::policy(&p);
            check::json_round_trip(&p);
        }
        Err(e) => check::error(&e, None),
    }
}

/// Arbitrary bytes split at `0xFF` into the pieces of a request (see
/// [`input::Pieces`]); each extraction function reads them and must agree with
/// a plain reference reading; then the pieces are decided on by the fixed
/// policies, so that extracted values meet the engine.
pub fn attrs(data: &[u8]) {
    let p = input::Pieces::split(data);
    let (name, cookie, form, json, pointer, ctype, url, extra) = (
        p.text(0),
        p.text(1),
        p.bytes(2),
        p.bytes(3),
        p.text(4),
        p.text(5),
        p.text(6),
        p.text(7),
    );

    let got = cookie_value(&cookie, &name);
    assert_eq!(
        got,
        check::cookie_reference(&cookie, &name),
        "cookie {name:?} in {cookie:?}"
    );
    if let Some(v) = got {
        assert!(check::is_within(v, &cookie), "a cookie value is a slice of the header");
    }
    assert_eq!(
        form_value(form, &name),
        check::form_reference(form, &name),
        "field {name:?} in {:?}",
        String::from_utf8_lossy(form)
    );
    check::percent_decoding(form);
    check::percent_round_trip(&name);

    let body = Body::parse(Some(&ctype), json);
    let _ = body.form(&name);
    let _ = body.json(&pointer);
    let form_body = Body::parse(Some("application/x-www-form-urlencoded"), form);
    assert_eq!(form_body.form(&name), form_value(form, &name));
    let json_body = Body::parse(Some("application/json; charset=utf-8"), json);
    if let Body::Json(v) = &json_body {
        for ptr in [pointer.as_str(), "", "/", "/thirdPolicystatus", "/j", "/a~1b/~0/0"] {
            let _ = json_value(v, ptr);
        }
    }

    let host = host_without_port(&url);
    assert!(check::is_within(host, &url), "a host is a slice of the authority");
    let base = RequestAttrs::get(&url);
    assert!(!base.path.is_empty(), "a path is never empty");

    // The pieces as one request, once as written and once on each route of
    // the fixed policies that reads cookies, query strings and bodies.
    let dress = |r: RequestAttrs| {
        let mut r = r
            .header("cookie", &cookie)
            .header("content-type", &ctype)
            .header("x-app-version", &extra)
            .header("x-user-id", &extra)
            .lookup_answer(&format!("gray:{extra}"), Some(&extra));
        r.body = if json_body != Body::None {
            json_body.clone()
        } else {
            Body::parse(Some(&ctype), json)
        };
        if r.query.is_none() {
            r.query = Some(String::from_utf8_lossy(form).into_owned());
        }
        r
    };
    let on = |host: &str, path: &str| {
        let mut r = RequestAttrs::get(&url);
        r.host = Some(host.to_owned());
        r.path = path.to_owned();
        r
    };
    let requests = [
        dress(base.clone()),
        dress(on("api.example.com", "/api/x")),
        dress(on("www.example.com", "/")),
        dress(on("", "/b")),
        dress(on("a.x.example.com", &base.path)),
    ];
    let mut form_request = on("api.example.com", "/api/");
    form_request.body = form_body.clone();
    for req in requests.iter().chain([&form_request]) {
        for policy in [&*FULL, &*EXTRACT] {
            check::decision(policy, req, Overrides::default());
        }
    }
}

/// A structured request (see [`input::request`]) decided by one of the fixed
/// policies, with overrides: every invariant of [`check::decision`].
pub fn decide(data: &[u8]) {
    let mut input = input::Input::new(data);
    let policy = if input.byte().is_multiple_of(2) {
        &*FULL
    } else {
        &*EXTRACT
    };
    let req = input::request(&mut input);
    let tag = input.pick(&["stable", "canary", "legacy", "a", "b", "d", ""]);
    let sticky = input.pick(&["stable", "canary", "a", "c", "nope"]);
    let overrides = Overrides {
        tag: tag.as_deref(),
        sticky: sticky.as_deref(),
    };
    check::decision(policy, &req, overrides);
    check::decision(policy, &req, Overrides::default());
}
