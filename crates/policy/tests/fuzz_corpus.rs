//! Every saved fuzz input — the minimised corpora under `fuzz/corpus/<target>/`
//! and the crash reproducers under `fuzz/regressions/<target>/` — passes its
//! target again, on stable Rust, in the normal `cargo test`.
//!
//! The target bodies are `fuzz/src/lib.rs` itself, included here, so this
//! replays exactly what libFuzzer ran (see `fuzz/README.md`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../fuzz/src/lib.rs"]
pub mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Runs every saved input of `target`; returns how many ran.
fn replay(target: &str) -> usize {
    let (_, run) = targets::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no fuzz target {target}"));
    let mut ran = 0;
    let mut failed = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).unwrap();
            ran += 1;
            if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
                failed.push(format!("fuzz/{kind}/{target}/{}", path.file_name().unwrap().display()));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: inputs that fail (panic messages above; reproduce with \
         `cargo +nightly fuzz run {target} FILE` in fuzz/):\n{}",
        failed.join("\n")
    );
    ran
}

#[test]
fn the_policy_toml_corpus_and_regressions_pass() {
    assert!(replay("policy_toml") > 0, "fuzz/corpus/policy_toml is empty");
}

#[test]
fn the_policy_json_corpus_and_regressions_pass() {
    assert!(replay("policy_json") > 0, "fuzz/corpus/policy_json is empty");
}

#[test]
fn the_attrs_corpus_and_regressions_pass() {
    assert!(replay("attrs") > 0, "fuzz/corpus/attrs is empty");
}

#[test]
fn the_decide_corpus_and_regressions_pass() {
    assert!(replay("decide") > 0, "fuzz/corpus/decide is empty");
}
