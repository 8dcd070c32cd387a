//! The `graygate` command: see `graygate --help`.

fn main() -> std::process::ExitCode {
    graygate::cli::main()
}
