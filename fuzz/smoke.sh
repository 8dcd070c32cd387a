#!/usr/bin/env bash
# CI smoke of the fuzz targets: each target replays its corpus and
# regressions, then fuzzes for FUZZ_SMOKE_SECS seconds (default 15). Exits
# non-zero when any target finds a crash; the input is left in
# fuzz/artifacts/<target>/ (see README.md for turning it into a regression).
#
# libFuzzer needs nightly Rust. Without a nightly toolchain this falls back to
# the stable replay of every corpus and regression input
# (crates/policy/tests/fuzz_corpus.rs), which `cargo test --workspace` runs
# anyway.
set -euo pipefail
cd "$(dirname "$0")"
secs="${FUZZ_SMOKE_SECS:-15}"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz smoke: no nightly toolchain; replaying the corpora on stable instead" >&2
  cd .. && exec cargo test -p graygate-policy --test fuzz_corpus
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

# An unoptimised build with debug assertions (an arithmetic overflow is a
# crash) and no sanitizer (the code under test is safe Rust): it builds in
# under two minutes where an optimised ASan build takes several, and still
# replays the corpus and runs a few thousand new inputs per target.
flags=(--dev --debug-assertions --sanitizer none)
cargo +nightly fuzz build "${flags[@]}"

failed=()
for target in $(cargo +nightly fuzz list); do
  case "$target" in
    policy_*) dict=dict/policy.dict ;;
    *) dict=dict/attrs.dict ;;
  esac
  # New inputs go to a scratch directory; the committed corpus is only read.
  scratch="$(mktemp -d)"
  dirs=("$scratch" "corpus/$target")
  [ -d "regressions/$target" ] && dirs+=("regressions/$target")
  echo "fuzz smoke: $target for ${secs}s" >&2
  if ! cargo +nightly fuzz run "${flags[@]}" "$target" "${dirs[@]}" -- \
      -max_total_time="$secs" -dict="$dict" -print_final_stats=1 2>"$scratch.log"; then
    grep -E -A2 "panicked at|ERROR: libFuzzer|Test unit written|SUMMARY" "$scratch.log" >&2 || tail -n 40 "$scratch.log" >&2
    failed+=("$target")
  else
    grep -E '^stat::(number_of_executed_units|new_units_added)' "$scratch.log" | sed "s/^/  $target /" >&2
  fi
  rm -rf "$scratch" "$scratch.log"
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz smoke: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz smoke: all targets ok" >&2
