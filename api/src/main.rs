//! The `keel` binary: [`api::cli::main`] behind the process's global allocator.

use std::process::ExitCode;

// A GraphQL response allocates per field; mimalloc serves those many small, short-lived
// allocations across threads markedly faster than the system allocator (bench/RESULTS.md).
// Its `override` feature also replaces `malloc`/`free` for C code in the process: the bundled
// SQLite allocates for every column value it hands out, and glibc's malloc was a seventh of
// the order page's instructions.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    api::cli::main()
}
