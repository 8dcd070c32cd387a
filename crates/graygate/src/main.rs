//! The `graygate` command: see `graygate --help`.

/// mimalloc instead of glibc's malloc: the request path allocates small,
/// short-lived buffers, and glibc spends about 10 % of the gateway's user
/// time in `malloc`/`free`/`malloc_consolidate` (perf, `bench/run`).
/// mimalloc's default (v3) line: its v2 line (the crate's `v2` feature)
/// spends fewer instructions in the allocator — 500 a request against 860,
/// as the crate allocates every `Layout` through `mi_malloc_aligned` and v3
/// takes a slower aligned path for buffers above 1 KiB — but held 58 MiB
/// resident against 37 under the headline load and served no more requests
/// per CPU-second in interleaved runs (`bench/run`, 2026-12).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    graygate::cli::main()
}
