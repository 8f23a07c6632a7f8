//! The `keel` binary's code under another name: end-to-end tests start it as a real child
//! process (`CARGO_BIN_EXE_keel-child`) to kill it with SIGKILL and restart it on one database.

fn main() -> std::process::ExitCode {
    api::cli::main()
}
