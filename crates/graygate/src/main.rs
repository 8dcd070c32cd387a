//! The `graygate` command: see `graygate --help`.

/// mimalloc instead of glibc's malloc: the request path allocates small,
/// short-lived buffers, and glibc spends about 10 % of the gateway's user
/// time in `malloc`/`free`/`malloc_consolidate` (perf, `bench/run`).
/// mimalloc's v2 line (the crate's `v2` feature), not v3: the crate
/// allocates every `Layout` through `mi_malloc_aligned`, which v3 sends down
/// its generic over-allocating path for the buffers above 1 KiB that each
/// request takes (read buffers, header maps): 860 instructions a request in
/// the allocator with v3, 500 with v2 (callgrind, the headline policy).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    graygate::cli::main()
}
