//! The `graygate` command: see `graygate --help`.

/// mimalloc instead of glibc's malloc: the request path allocates small,
/// short-lived buffers, and glibc spends about 10 % of the gateway's user
/// time in `malloc`/`free`/`malloc_consolidate` (perf, `bench/run`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    graygate::cli::main()
}
