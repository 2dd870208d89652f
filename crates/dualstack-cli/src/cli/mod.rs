//! Command-line front end: argument parsing (clap derive), output and exit codes.
//!
//! This is the only part of the program that prints or decides exit codes. The library
//! knows nothing of it. Conventions every subcommand follows:
//!
//! - exit code 0 success, 1 the operation failed, 2 usage error or bad input;
//! - errors print as `dualstack: <message>` on stderr;
//! - a closed stdout (`BrokenPipe`) ends the program quietly with exit code 0;
//! - every subcommand has `--json` and an example in its `--help`.

mod addr;
mod args;
mod completions;
mod connect;
mod hint;
mod man;
mod metrics;
mod probe;
mod quic;
mod reverse;
mod serve;
mod smtp;

use std::fmt;
use std::io;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// IPv4 + IPv6 done right: Happy Eyeballs connects, dual-stack servers, address tools.
#[derive(Debug, Parser)]
#[command(name = "dualstack", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 success, 1 the operation failed, 2 usage error or bad input."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Addr(addr::Args),
    /// Reverse DNS with a hard timeout: address to name, optionally forward-confirmed.
    Reverse(reverse::Args),
    /// Dual-stack whoami server: line (TCP 2323), HTTP (TCP 8080), UDP (2323).
    Serve(serve::Args),
    /// Talk SMTP to a server and check every reply (EHLO, STARTTLS, QUIT).
    Smtp(smtp::Args),
    /// Connect with Happy Eyeballs (RFC 8305) and relay stdin ↔ socket, like netcat.
    Connect(connect::Args),
    /// Look up a host like `connect` would: A/AAAA with response times and the try order.
    Resolve(connect::ResolveArgs),
    /// This host's dual-stack state and what it means for servers and clients.
    Probe(probe::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Print the manual page (roff) of dualstack or one subcommand.
    Man(man::Args),
}

/// Process exit codes, documented in README.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked.
    Success = 0,
    /// The operation failed (connection refused, timeout, SMTP error, ...).
    Failure = 1,
    /// Usage error or bad input.
    Usage = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// An error that ends the program: a message and the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    exit: Exit,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl CliError {
    /// The operation failed (exit code 1).
    pub fn failure(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        CliError {
            exit: Exit::Failure,
            source: e.into(),
        }
    }
    /// Bad input or usage (exit code 2).
    pub fn usage(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        CliError {
            exit: Exit::Usage,
            source: e.into(),
        }
    }
    fn is_broken_pipe(&self) -> bool {
        self.source
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        let mut cause = self.source.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

/// Writing to stdout failed: usually a closed pipe, which `main` turns into a quiet exit 0.
impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        CliError::failure(e)
    }
}

/// What a subcommand returns.
pub type CliResult = Result<Exit, CliError>;

/// Print `dualstack: <message>` on stderr. For per-item errors where the run goes on.
pub fn warn(msg: impl fmt::Display) {
    eprintln!("dualstack: {msg}");
}

/// A Tokio runtime for the subcommands that do I/O.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    runtime_with_workers(None)
}

/// A Tokio runtime with `workers` threads: one current thread when 1, else a
/// work-stealing pool (default: one thread per CPU).
pub fn runtime_with_workers(workers: Option<usize>) -> Result<tokio::runtime::Runtime, CliError> {
    let mut b = match workers {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    b.enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the async runtime: {e}")))
}

/// Send `tracing` output to stderr. `RUST_LOG` overrides `default_filter`.
pub fn init_tracing(default_filter: &str, json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_writer(io::stderr);
    // A second call (tests, nested commands) is harmless: keep the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Addr(args) => addr::run(args),
        Command::Reverse(args) => reverse::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Smtp(args) => smtp::run(args),
        Command::Connect(args) => connect::run(args),
        Command::Resolve(args) => connect::run_resolve(args),
        Command::Probe(args) => probe::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}

/// Parse the command line, run, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version on stdout (exit 0) and usage errors on stderr (2).
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Success.into()
            };
        }
    };
    match run(cli) {
        Ok(exit) => exit.into(),
        Err(e) if e.is_broken_pipe() => Exit::Success.into(),
        Err(e) => {
            warn(&e);
            for h in hint::for_error(e.source.as_ref()) {
                warn(format_args!("hint: {h}"));
            }
            e.exit.into()
        }
    }
}
