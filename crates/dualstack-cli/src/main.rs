//! The `dualstack` command-line tool. All work happens in [`cli::run`]; this file only
//! turns its outcome into an exit code (ripgrep's layout).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
