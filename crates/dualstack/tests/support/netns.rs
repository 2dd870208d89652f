//! Run a test inside a fresh network namespace (needs root; skips cleanly otherwise).
//!
//! The namespace is created with `unshare(CLONE_NEWNET)` on a new thread only, so the
//! test process and every other test keep the host network. Child processes spawned from
//! that thread (`ip`, `nft`, `sysctl`, the `dualstack` binary) and threads it creates
//! inherit the namespace. Inside: `lo` is up, [`V6`] (`2001:db8::10/128 nodad`) and
//! [`V4`] (`198.51.100.10/32`) are on `lo`, plus whatever the [`Netns`] builder adds.
//!
//! ```ignore
//! mod support;
//! use support::netns::{Netns, V4};
//!
//! #[test]
//! fn black_holed_ipv6() {
//!     let Some(()) = Netns::new()
//!         .drop_to("2001:db8::66") // nftables: packets to it vanish, connect times out
//!         .run("black_holed_ipv6", || async {
//!             let l = tokio::net::TcpListener::bind((V4, 0)).await.unwrap();
//!             // ... connect, assert ...
//!         })
//!     else {
//!         return; // printed "skipped: ..." already
//!     };
//! }
//! ```
//!
//! Note: `/proc/net/*` is `/proc/self/net`, i.e. the namespace of the process's *main*
//! thread; code running inside the closure must read `/proc/thread-self/net/*` to see
//! the namespace's own routes and addresses. `/proc/sys/net/*` follows the calling
//! thread and is fine.
#![allow(dead_code)]

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::OnceLock;

use nix::sched::{unshare, CloneFlags};

/// The IPv4 test address on `lo` inside every namespace (TEST-NET-2, RFC 5737).
pub const V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// The IPv6 test address on `lo` inside every namespace (documentation prefix, RFC 3849).
pub const V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);

/// Whether we run as root (effective uid 0).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Whether a test can make a network namespace: root, `unshare(CLONE_NEWNET)` works and
/// `ip` is installed. Checked once per test process.
pub fn netns_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        is_root()
            && std::thread::spawn(|| {
                unshare(CloneFlags::CLONE_NEWNET).is_ok() && sh("ip link set lo up").is_ok()
            })
            .join()
            .unwrap_or(false)
    })
}

/// Whether nftables works inside a namespace (for silent drops). Checked once.
pub fn nft_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        netns_available()
            && std::thread::spawn(|| {
                unshare(CloneFlags::CLONE_NEWNET).is_ok() && sh("nft add table inet probe").is_ok()
            })
            .join()
            .unwrap_or(false)
    })
}

/// Prints the standard skip note (visible with `--nocapture`, and in CI logs on failure).
pub fn skip(test: &str, why: &str) {
    eprintln!("skipped: {test}: {why}");
}

/// Runs `sh -c cmd` from the current thread (so inside the namespace when called from a
/// [`Netns::run`] closure) and returns its stdout.
///
/// # Errors
/// A message with the command, its exit status and stderr.
pub fn sh(cmd: &str) -> Result<String, String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A network namespace to build and run a test in.
#[derive(Debug, Clone)]
pub struct Netns {
    addrs: Vec<String>,
    drops: Vec<String>,
    commands: Vec<String>,
}

impl Default for Netns {
    fn default() -> Self {
        Netns::new()
    }
}

impl Netns {
    /// A namespace with `lo` up and [`V4`], [`V6`] on it.
    pub fn new() -> Self {
        Netns {
            addrs: vec![format!("{V6}/128"), format!("{V4}/32")],
            drops: Vec::new(),
            commands: Vec::new(),
        }
    }

    /// Adds another address (`"2001:db8::11/128"`, `"198.51.100.11/32"`) to `lo`.
    pub fn addr(mut self, cidr: &str) -> Self {
        self.addrs.push(cidr.to_owned());
        self
    }

    /// Adds `ip` to `lo` and makes nftables drop every packet to it, so a connect to it
    /// hangs until its timeout (a silent black hole). Needs nftables; without it
    /// [`Netns::run`] skips the test.
    pub fn drop_to(mut self, ip: &str) -> Self {
        let ip: std::net::IpAddr = ip.parse().expect("drop_to takes an IP literal");
        let len = if ip.is_ipv6() { 128 } else { 32 };
        self.addrs.push(format!("{ip}/{len}"));
        self.drops.push(ip.to_string());
        self
    }

    /// Runs a shell command inside the namespace after the addresses are set up, e.g.
    /// `ip -6 route add unreachable 2001:db8::77/128` or
    /// `sysctl -qw net.ipv6.conf.all.disable_ipv6=1`.
    pub fn setup(mut self, cmd: &str) -> Self {
        self.commands.push(cmd.to_owned());
        self
    }

    /// Creates the namespace on a new thread, sets it up, and runs `f` there on a
    /// current-thread tokio runtime (time and I/O enabled).
    ///
    /// Returns `None` after printing `skipped: <test>: ...` when not root or when
    /// namespaces or (for [`Netns::drop_to`]) nftables are unavailable. A panic in `f`
    /// (a failed assertion) propagates to the calling test. A setup command that fails
    /// panics with its error.
    pub fn run<F, Fut, T>(self, test: &str, f: F) -> Option<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        if !is_root() {
            skip(test, "needs root for a network namespace");
            return None;
        }
        if !netns_available() {
            skip(test, "unshare(CLONE_NEWNET) or `ip` does not work here");
            return None;
        }
        if !self.drops.is_empty() && !nft_available() {
            skip(test, "needs nftables (nft) for silent drops");
            return None;
        }
        let handle = std::thread::Builder::new()
            .name(format!("netns-{test}"))
            .spawn(move || {
                unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
                self.configure()
                    .unwrap_or_else(|e| panic!("netns setup: {e}"));
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime")
                    .block_on(f())
            })
            .expect("spawn netns thread");
        match handle.join() {
            Ok(v) => Some(v),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    fn configure(&self) -> Result<(), String> {
        sh("ip link set lo up")?;
        for a in &self.addrs {
            let nodad = if a.contains(':') { " nodad" } else { "" };
            sh(&format!("ip addr add {a} dev lo{nodad}"))?;
        }
        // Wait (bounded) until each address has its local route: a CI run saw one
        // ENETUNREACH connecting to the namespace's own address right after setup, on a
        // machine at load 11. A UDP connect looks the route up without sending anything.
        for a in &self.addrs {
            let ip: std::net::IpAddr = a
                .split('/')
                .next()
                .unwrap_or(a)
                .parse()
                .map_err(|e| format!("{a}: {e}"))?;
            // A link-local address needs a scope id to connect to; nothing to wait for.
            if matches!(ip, std::net::IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80) {
                continue;
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            loop {
                let bind: std::net::SocketAddr = if ip.is_ipv6() {
                    "[::]:0".parse().unwrap()
                } else {
                    "0.0.0.0:0".parse().unwrap()
                };
                let routed = std::net::UdpSocket::bind(bind)
                    .and_then(|s| s.connect((ip, 9)))
                    .is_ok();
                if routed {
                    break;
                }
                if std::time::Instant::now() >= deadline {
                    return Err(format!("{ip} has no route 2 s after setup"));
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        if !self.drops.is_empty() {
            sh("nft add table inet t")?;
            sh("nft add chain inet t in '{ type filter hook input priority 0; }'")?;
            for ip in &self.drops {
                let fam = if ip.contains(':') { "ip6" } else { "ip" };
                sh(&format!("nft add rule inet t in {fam} daddr {ip} drop"))?;
            }
        }
        for c in &self.commands {
            sh(c)?;
        }
        Ok(())
    }
}
