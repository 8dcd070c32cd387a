#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every example policy in `examples/` compiles with the real engine, and the
//! complete example at the top of `docs/policy.md` is `examples/full.toml`.

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn examples() -> Vec<PathBuf> {
    let dir = repo_root().join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

/// Lines without trailing whitespace, and without trailing empty lines.
fn normalized(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n").trim_end().to_owned()
}

/// The body of the first ```toml fenced block of a Markdown text.
fn first_toml_block(markdown: &str) -> Option<String> {
    let mut lines = markdown.lines();
    lines.find(|l| l.trim_end() == "```toml")?;
    let mut block = Vec::new();
    for line in lines {
        if line.trim_end() == "```" {
            return Some(block.join("\n"));
        }
        block.push(line);
    }
    None
}

#[test]
fn every_example_compiles() {
    let files = examples();
    assert!(
        files.len() >= 3,
        "expected at least 3 examples in examples/, found {files:?}"
    );
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        if let Err(e) = graygate_policy::compile_toml(&text, 1) {
            failures.push(format!("{}:\n{e}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "examples that do not compile:\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn the_reference_opens_with_full_toml() {
    let doc_path = repo_root().join("docs/policy.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    let block = first_toml_block(&doc).expect("docs/policy.md has a ```toml block");
    if let Err(e) = graygate_policy::compile_toml(&block, 1) {
        panic!("the first example of docs/policy.md does not compile:\n{e}");
    }
    let full = std::fs::read_to_string(repo_root().join("examples/full.toml")).unwrap();
    let (block, full) = (normalized(&block), normalized(&full));
    if block != full {
        let (n, doc_line, file_line) = block
            .lines()
            .map(Some)
            .chain(std::iter::repeat(None))
            .zip(full.lines().map(Some).chain(std::iter::repeat(None)))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| (i + 1, a.unwrap_or("<end>"), b.unwrap_or("<end>")))
            .unwrap();
        panic!(
            "the first ```toml block of docs/policy.md differs from examples/full.toml; keep them identical.\n\
             first difference at line {n} of the block:\n  docs/policy.md:     {doc_line}\n  examples/full.toml: {file_line}"
        );
    }
}

/// The table of decisions under "A complete example" in `docs/policy.md`.
#[test]
fn the_complete_example_decides_as_documented() {
    use graygate_policy::{Overrides, RequestAttrs};

    let text = std::fs::read_to_string(repo_root().join("examples/full.toml")).unwrap();
    let policy = graygate_policy::compile_toml(&text, 7).unwrap();
    let decide = |req: RequestAttrs| {
        policy
            .decide(&req, Overrides::default())
            .map(|d| (d.route, d.group, d.rule, d.reason.as_str(), d.bucket))
    };
    let web = || RequestAttrs::get("http://www.example.com/cart");
    let api = || RequestAttrs::get("http://api.example.com/api/orders");

    assert_eq!(
        decide(web().header("X-Gray", "1")),
        Some(("web", "canary", "gray-header", "header", None))
    );
    assert_eq!(
        decide(web().cookie("gray", "canary")),
        Some(("web", "canary", "gray-cookie", "cookie", None))
    );
    assert_eq!(
        decide(web().ip("10.1.2.3".parse().unwrap())),
        Some(("web", "canary", "office", "ip", None))
    );
    assert_eq!(
        decide(web().header("X-User-ID", "42").lookup_answer("gray:42", Some("1"))),
        Some(("web", "canary", "gray-users", "lookup", None))
    );
    let stable_42 = Some(("web", "stable", "ramp", "hash", Some(6865)));
    assert_eq!(
        decide(web().header("X-User-ID", "42").lookup_answer("gray:42", None)),
        stable_42
    );
    assert_eq!(decide(web().header("X-User-ID", "42")), stable_42, "store unreachable");
    assert_eq!(
        decide(web().cookie("uid", "user-7")),
        Some(("web", "canary", "ramp", "hash", Some(901)))
    );
    assert_eq!(decide(web()), Some(("web", "stable", "default", "default", None)));

    assert_eq!(
        decide(RequestAttrs::get(
            "http://api.example.com/api/orders?thirdPolicystatus=1"
        )),
        Some(("api", "canary", "policy-new", "rule", None))
    );
    assert_eq!(
        decide(
            api()
                .method("POST")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(b"thirdPolicystatus=2")
        ),
        Some(("api", "legacy", "policy-old", "rule", None))
    );
    assert_eq!(
        decide(
            api()
                .method("POST")
                .header("Content-Type", "application/json")
                .body(br#"{"thirdPolicystatus": 1}"#)
        ),
        Some(("api", "canary", "policy-new", "rule", None))
    );
    for old in ["5.1.9", "5.2.0-rc1"] {
        assert_eq!(
            decide(api().header("X-App-Version", old)),
            Some(("api", "legacy", "old-app", "header", None)),
            "{old}"
        );
    }
    assert_eq!(
        decide(api().header("X-App-Version", "5.2").header("X-User-ID", "1001")),
        Some(("api", "canary", "beta-app", "rule", None))
    );
    assert_eq!(
        decide(api().header("X-User-ID", "1001")),
        Some(("api", "stable", "default", "default", None))
    );
    assert_eq!(decide(RequestAttrs::get("http://api.example.com/health")), None);
}
