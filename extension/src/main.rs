//! The `postern` binary: parse the command line, run, map to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    postern::cli::main(std::env::args_os().collect())
}
