//! AF-independent listening: list every passive address for a port (getaddrinfo
//! `AI_PASSIVE` semantics), bind them all in one of four [`ListenMode`]s, and accept
//! fairly from the resulting set of sockets.
//!
//! What this module fixes, compared with the usual `bind("[::]:80")`:
//!
//! - a host without IPv6 (or IPv4) is not fatal: a missing family (`EAFNOSUPPORT`,
//!   `EADDRNOTAVAIL`) is skipped with a warning; only "nothing bound" is an error;
//! - `EADDRINUSE` says why: a true conflict, or a dual socket (`IPV6_V6ONLY=0`) elsewhere
//!   that holds the IPv4 side of the port; and who holds it, when /proc can tell;
//! - every address reported (accepted peers, local addresses) is unmapped: never
//!   `::ffff:192.0.2.1`;
//! - one failing listening socket does not take the others down, and running out of file
//!   descriptors (`EMFILE`/`ENFILE`) backs off instead of spinning.
//!
//! [`bind`] works for any socket [`Type`]: the UDP service binds its datagram sockets with
//! the same listing and the same error reporting.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::addr::{unmap, unmap_socket, Family};
use crate::sys::owner;

/// How a port-only address ([`ListenAddr::Port`]) becomes sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListenMode {
    /// One socket per family: `0.0.0.0` and `[::]` with `IPV6_V6ONLY=1` (nginx, sshd).
    /// The default: each family fails and is reported on its own.
    #[default]
    Separate,
    /// One AF_INET6 socket `[::]` with `IPV6_V6ONLY=0`: IPv4 clients arrive as mapped
    /// addresses (`::ffff:a.b.c.d`), which this module unmaps. Falls back to `0.0.0.0`
    /// on a host without IPv6.
    Dual,
    /// IPv4 only: `0.0.0.0`.
    Ipv4,
    /// IPv6 only: `[::]` with `IPV6_V6ONLY=1`.
    Ipv6,
}

impl FromStr for ListenMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "separate" => Ok(ListenMode::Separate),
            "dual" => Ok(ListenMode::Dual),
            "ipv4" | "4" => Ok(ListenMode::Ipv4),
            "ipv6" | "6" => Ok(ListenMode::Ipv6),
            _ => Err(format!(
                "invalid listen mode {s:?}: use separate, dual, ipv4 or ipv6"
            )),
        }
    }
}

impl fmt::Display for ListenMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ListenMode::Separate => "separate",
            ListenMode::Dual => "dual",
            ListenMode::Ipv4 => "ipv4",
            ListenMode::Ipv6 => "ipv6",
        })
    }
}

/// What to listen on, as a person writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// Every passive address for this port, per the [`ListenMode`].
    Port(u16),
    /// Exactly this address. `[::ffff:0.0.0.0]:P` means IPv4 any (`0.0.0.0:P`), any other
    /// mapped address its IPv4 address. `[::]:P` is a dual socket in [`ListenMode::Dual`],
    /// IPv6-only otherwise.
    Addr(SocketAddr),
    /// Every address a host name resolves to (system resolver, `/etc/hosts`), e.g.
    /// `localhost:8080`.
    Host(String, u16),
}

/// Why a listen address does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid listen address {input:?}: {reason}")]
pub struct ListenAddrError {
    /// The text that failed to parse.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ListenAddr {
    /// Parse `8080`, `127.0.0.1:8080`, `[::1]:8080`, `[fe80::1%eth0]:8080`,
    /// `localhost:8080`; an address without a port (`127.0.0.1`, `::1`, `[::1]`) gets
    /// `default_port`.
    ///
    /// # Errors
    /// [`ListenAddrError`] naming the input and the problem.
    pub fn parse(input: &str, default_port: u16) -> Result<ListenAddr, ListenAddrError> {
        let err = |reason: String| ListenAddrError {
            input: input.to_owned(),
            reason,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(err("empty".into()));
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse()
                .map(ListenAddr::Port)
                .map_err(|_| err("port out of range (0-65535)".into()));
        }
        match crate::addr::parse(s) {
            Ok(p) => {
                let port = p.port.unwrap_or(default_port);
                let sa = match (p.ip, p.zone) {
                    (IpAddr::V6(v6), Some(zone)) => {
                        let scope = crate::addr::scope_id(&zone)
                            .map_err(|e| err(format!("unknown interface {zone:?}: {e}")))?;
                        SocketAddr::V6(std::net::SocketAddrV6::new(v6, port, 0, scope))
                    }
                    (ip, _) => SocketAddr::new(ip, port),
                };
                Ok(ListenAddr::Addr(sa))
            }
            Err(e) => {
                // Not an IP address: a host name, with an optional port.
                let (host, port) = match s.rsplit_once(':') {
                    Some((h, p)) => (
                        h,
                        p.parse::<u16>()
                            .map_err(|_| err(format!("invalid port {p:?}")))?,
                    ),
                    None => (s, default_port),
                };
                let name_ok = !host.is_empty()
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
                if !name_ok || host.contains(':') {
                    return Err(err(e.reason.to_owned()));
                }
                Ok(ListenAddr::Host(host.to_owned(), port))
            }
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Port(p) => write!(f, "port {p}"),
            ListenAddr::Addr(a) => write!(f, "{a}"),
            ListenAddr::Host(h, p) => write!(f, "{h}:{p}"),
        }
    }
}

/// One socket to create: its address and whether it is IPv6-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// The address to bind (unmapped for IPv4).
    pub addr: SocketAddr,
    /// `IPV6_V6ONLY` for an AF_INET6 socket; `None` for AF_INET.
    pub v6only: Option<bool>,
    /// Index of the [`ListenAddr`] this came from (port 0 is shared within one).
    pub group: usize,
    /// Where to go instead when this family is missing (dual → `0.0.0.0`).
    pub fallback: Option<SocketAddr>,
}

/// List the sockets to create for `addrs` in `mode`, without creating any: the passive
/// addresses of getaddrinfo(3) with `AI_PASSIVE`, IPv6 first.
///
/// # Errors
/// A host name that does not resolve.
pub fn plan(addrs: &[ListenAddr], mode: ListenMode) -> Result<Vec<Planned>, ListenError> {
    let any4 = |p| SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), p);
    let any6 = |p| SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), p);
    let mut out = Vec::new();
    for (group, a) in addrs.iter().enumerate() {
        let p = |addr, v6only, fallback| Planned {
            addr,
            v6only,
            group,
            fallback,
        };
        match a {
            ListenAddr::Port(port) => match mode {
                ListenMode::Separate => {
                    out.push(p(any6(*port), Some(true), None));
                    out.push(p(any4(*port), None, None));
                }
                ListenMode::Dual => out.push(p(any6(*port), Some(false), Some(any4(*port)))),
                ListenMode::Ipv4 => out.push(p(any4(*port), None, None)),
                ListenMode::Ipv6 => out.push(p(any6(*port), Some(true), None)),
            },
            ListenAddr::Addr(sa) => out.push(explicit(*sa, mode, group)),
            ListenAddr::Host(host, port) => {
                let resolved =
                    (host.as_str(), *port)
                        .to_socket_addrs()
                        .map_err(|e| ListenError::Resolve {
                            host: host.clone(),
                            source: e,
                        })?;
                let mut seen = Vec::new();
                for sa in resolved {
                    if !seen.contains(&sa) {
                        seen.push(sa);
                        out.push(explicit(sa, mode, group));
                    }
                }
            }
        }
    }
    Ok(out)
}

fn explicit(sa: SocketAddr, mode: ListenMode, group: usize) -> Planned {
    let unmapped = unmap_socket(sa);
    let (addr, v6only) = match unmapped {
        // `::ffff:0.0.0.0` and every other mapped address: an IPv4 socket.
        SocketAddr::V4(_) => (unmapped, None),
        // Keep the scope id of a link-local address.
        SocketAddr::V6(v6) => (
            SocketAddr::V6(v6),
            Some(!(mode == ListenMode::Dual && v6.ip().is_unspecified())),
        ),
    };
    Planned {
        addr,
        v6only,
        group,
        fallback: None,
    }
}

/// Options for [`bind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindOptions {
    /// How port-only addresses become sockets.
    pub mode: ListenMode,
    /// `SO_REUSEPORT`: let several processes (or sockets) share the port; the kernel
    /// spreads connections between them.
    pub reuse_port: bool,
    /// The `listen(2)` backlog for stream sockets. Default 1024.
    pub backlog: i32,
}

impl Default for BindOptions {
    fn default() -> Self {
        BindOptions {
            mode: ListenMode::Separate,
            reuse_port: false,
            backlog: 1024,
        }
    }
}

/// A bound (and, for TCP, listening) socket, non-blocking, ready for Tokio.
#[derive(Debug)]
pub struct Bound {
    /// The socket.
    pub socket: Socket,
    /// Its local address (unmapped; the actual port when 0 was asked for).
    pub local: SocketAddr,
    /// `IPV6_V6ONLY` for AF_INET6 sockets, `None` for AF_INET.
    pub v6only: Option<bool>,
}

impl Bound {
    /// The family of the socket itself (a dual socket is IPv6).
    pub fn family(&self) -> Family {
        match self.local {
            SocketAddr::V4(_) => Family::V4,
            SocketAddr::V6(_) => Family::V6,
        }
    }

    /// Describe an adopted socket (systemd socket activation): its local address and
    /// `IPV6_V6ONLY`.
    ///
    /// # Errors
    /// The descriptor is not an IP socket.
    pub fn from_socket(socket: Socket) -> io::Result<Bound> {
        let local = socket.local_addr()?.as_socket().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "not an IPv4/IPv6 socket")
        })?;
        let v6only = match local {
            SocketAddr::V6(_) => Some(socket.only_v6()?),
            SocketAddr::V4(_) => None,
        };
        socket.set_nonblocking(true)?;
        Ok(Bound {
            socket,
            local: if v6only == Some(false) {
                local
            } else {
                unmap_socket(local)
            },
            v6only,
        })
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.v6only {
            Some(v) => write!(f, "{} (v6only={})", self.local, u8::from(v)),
            None => write!(f, "{}", self.local),
        }
    }
}

/// An address skipped because the host lacks its family or the address.
#[derive(Debug)]
pub struct Skipped {
    /// The address that could not be bound.
    pub addr: SocketAddr,
    /// Why (`EAFNOSUPPORT`, `EADDRNOTAVAIL`).
    pub error: io::Error,
}

/// The outcome of [`bind`]: the sockets, and what was skipped with a warning.
#[derive(Debug, Default)]
pub struct Bindings {
    /// Every socket bound, in [`plan`] order.
    pub sockets: Vec<Bound>,
    /// Addresses skipped because the family or address is missing on this host.
    pub skipped: Vec<Skipped>,
}

/// Why an `EADDRINUSE` happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InUseReason {
    /// Another socket listens on the same address and port.
    Conflict {
        /// The other socket's address, when /proc shows it.
        holder: Option<SocketAddr>,
    },
    /// We bind IPv4 and a dual socket (`[::]` with `IPV6_V6ONLY=0`, the default when
    /// `net.ipv6.bindv6only=0`) elsewhere holds the IPv4 side of the port.
    DualHoldsV4 {
        /// The dual socket's address (`[::]:port`).
        holder: SocketAddr,
    },
    /// We bind a dual socket, which needs the IPv4 port too, and an IPv4 socket holds it.
    V4HeldAgainstDual {
        /// The IPv4 socket's address.
        holder: SocketAddr,
    },
}

impl fmt::Display for InUseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InUseReason::Conflict { holder: Some(h) } => {
                write!(f, "another socket listens on {}", unmap_socket(*h))
            }
            InUseReason::Conflict { holder: None } => {
                f.write_str("another socket listens on this address and port")
            }
            InUseReason::DualHoldsV4 { holder } => write!(
                f,
                "a dual-stack socket on {holder} (IPV6_V6ONLY=0) holds the IPv4 side of the \
                 port; start that program IPv6-only or use --listen-mode dual here"
            ),
            InUseReason::V4HeldAgainstDual { holder } => write!(
                f,
                "a dual-stack socket needs the IPv4 side of the port too, and {holder} holds \
                 it; use --listen-mode separate"
            ),
        }
    }
}

/// A process that holds a socket, found through /proc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketOwner {
    /// Its process id.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`).
    pub name: String,
}

/// Why listening failed.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The address is in use.
    #[error(
        "cannot listen on {addr}: address already in use: {reason}{}",
        owner_text(owner)
    )]
    AddrInUse {
        /// The address we tried to bind (unmapped).
        addr: SocketAddr,
        /// Why it is taken.
        reason: InUseReason,
        /// Who holds it, when /proc can tell.
        owner: Option<SocketOwner>,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Any other error creating, binding or listening.
    #[error("cannot listen on {addr}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A host name did not resolve.
    #[error("cannot resolve listen address {host:?}")]
    Resolve {
        /// The name.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// Every address was skipped (or none was given).
    #[error("nothing to listen on: {}", skipped_text(skipped))]
    NothingBound {
        /// What was skipped, and why.
        skipped: Vec<Skipped>,
    },
}

fn owner_text(owner: &Option<SocketOwner>) -> String {
    match owner {
        Some(o) => format!(" (held by process {} {:?})", o.pid, o.name),
        None => String::new(),
    }
}

fn skipped_text(skipped: &[Skipped]) -> String {
    if skipped.is_empty() {
        return "no addresses given".into();
    }
    skipped
        .iter()
        .map(|s| format!("{}: {}", s.addr, s.error))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Does this error mean "this host lacks the family or the address"?
fn is_missing_family(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL) | Some(libc::EPROTONOSUPPORT)
    )
}

/// Create, configure and bind one socket (and `listen` if `ty` is [`Type::STREAM`]).
///
/// Sets `SO_REUSEADDR` (stream sockets: restart while old connections are in TIME_WAIT),
/// `SO_REUSEPORT` if asked, `IPV6_V6ONLY` as planned, and non-blocking mode.
///
/// # Errors
/// The OS error of the first step that failed.
pub fn bind_one(p: &Planned, ty: Type, opts: &BindOptions) -> io::Result<Bound> {
    let domain = Domain::for_address(p.addr);
    let proto = if ty == Type::STREAM {
        Protocol::TCP
    } else {
        Protocol::UDP
    };
    let socket = Socket::new(domain, ty, Some(proto))?;
    if ty == Type::STREAM {
        socket.set_reuse_address(true)?;
    }
    if opts.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if let Some(v6only) = p.v6only {
        socket.set_only_v6(v6only)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&p.addr.into())?;
    if ty == Type::STREAM {
        socket.listen(opts.backlog)?;
    }
    let local = socket
        .local_addr()?
        .as_socket()
        .map(|l| {
            if p.v6only == Some(false) {
                l
            } else {
                unmap_socket(l)
            }
        })
        .unwrap_or(p.addr);
    Ok(Bound {
        socket,
        local,
        v6only: p.v6only,
    })
}

/// Bind every address of `addrs` (see [`plan`]) as sockets of type `ty`.
///
/// A missing family or address (`EAFNOSUPPORT`, `EADDRNOTAVAIL`) is skipped with a
/// `tracing` warning and listed in [`Bindings::skipped`]; a dual socket on a host without
/// IPv6 falls back to `0.0.0.0`. Port 0 within one [`ListenAddr`] gets the same
/// ephemeral port on every family.
///
/// # Errors
/// [`ListenError::AddrInUse`] with the reason and owner; [`ListenError::Io`] for other
/// errors; [`ListenError::NothingBound`] when everything was skipped.
pub fn bind(addrs: &[ListenAddr], ty: Type, opts: &BindOptions) -> Result<Bindings, ListenError> {
    let planned = plan(addrs, opts.mode)?;
    // Port 0 shared by several families: a later family may find the port taken; retry
    // a few times with a fresh ephemeral port.
    let mut attempt = 0;
    loop {
        match bind_planned(&planned, ty, opts) {
            Err(ListenError::AddrInUse { .. }) if attempt < 8 && shares_port_zero(&planned) => {
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn shares_port_zero(planned: &[Planned]) -> bool {
    planned.iter().any(|p| {
        p.addr.port() == 0
            && planned
                .iter()
                .filter(|q| q.group == p.group && q.addr.port() == 0)
                .count()
                > 1
    })
}

fn bind_planned(
    planned: &[Planned],
    ty: Type,
    opts: &BindOptions,
) -> Result<Bindings, ListenError> {
    let mut out = Bindings::default();
    let mut group_port: Vec<(usize, u16)> = Vec::new();
    for p in planned {
        let mut p = *p;
        if p.addr.port() == 0 {
            if let Some(&(_, port)) = group_port.iter().find(|(g, _)| *g == p.group) {
                p.addr.set_port(port);
                if let Some(f) = p.fallback.as_mut() {
                    f.set_port(port);
                }
            }
        }
        let bound = match bind_one(&p, ty, opts) {
            Ok(b) => b,
            Err(e) if is_missing_family(&e) => {
                tracing::warn!(addr = %p.addr, error = %e, "skipping an address this host lacks");
                let fallback = p.fallback;
                out.skipped.push(Skipped {
                    addr: p.addr,
                    error: e,
                });
                let Some(fb) = fallback else { continue };
                let fbp = Planned {
                    addr: fb,
                    v6only: None,
                    group: p.group,
                    fallback: None,
                };
                match bind_one(&fbp, ty, opts) {
                    Ok(b) => b,
                    Err(e) if is_missing_family(&e) => {
                        tracing::warn!(addr = %fb, error = %e, "skipping an address this host lacks");
                        out.skipped.push(Skipped { addr: fb, error: e });
                        continue;
                    }
                    Err(e) => return Err(classify(fbp, ty, e)),
                }
            }
            Err(e) => return Err(classify(p, ty, e)),
        };
        if p.addr.port() == 0 && !group_port.iter().any(|(g, _)| *g == p.group) {
            group_port.push((p.group, bound.local.port()));
        }
        out.sockets.push(bound);
    }
    if out.sockets.is_empty() {
        return Err(ListenError::NothingBound {
            skipped: out.skipped,
        });
    }
    Ok(out)
}

/// Turn a bind error into a [`ListenError`], explaining `EADDRINUSE` from /proc.
fn classify(p: Planned, ty: Type, e: io::Error) -> ListenError {
    let addr = unmap_socket(p.addr);
    if e.kind() != io::ErrorKind::AddrInUse {
        return ListenError::Io { addr, source: e };
    }
    let proto = if ty == Type::STREAM {
        owner::Proto::Tcp
    } else {
        owner::Proto::Udp
    };
    let table = owner::listening(proto);
    let (reason, inode) = explain_in_use(p, &table);
    let owner = inode.and_then(owner::owner_of).map(|o| SocketOwner {
        pid: o.pid,
        name: o.name,
    });
    ListenError::AddrInUse {
        addr,
        reason,
        owner,
        source: e,
    }
}

/// Pure part of [`classify`]: which listed socket conflicts with `p`, and how.
fn explain_in_use(p: Planned, table: &[owner::ProcSocket]) -> (InUseReason, Option<u64>) {
    let port = p.addr.port();
    let same_port = |s: &&owner::ProcSocket| s.local.port() == port;
    let overlaps = |a: IpAddr, b: IpAddr| a.is_unspecified() || b.is_unspecified() || a == b;
    let want = unmap(p.addr.ip());
    // Exact family match first: a true conflict.
    if let Some(s) = table
        .iter()
        .filter(same_port)
        .find(|s| s.local.is_ipv4() == want.is_ipv4() && overlaps(s.local.ip(), want))
    {
        return (
            InUseReason::Conflict {
                holder: Some(s.local),
            },
            Some(s.inode),
        );
    }
    match want {
        IpAddr::V4(_) => {
            // No IPv4 socket holds it: a dual `[::]` (or `[::ffff:a.b.c.d]`) socket does.
            if let Some(s) = table.iter().filter(same_port).find(|s| match s.local.ip() {
                IpAddr::V6(v6) => v6.is_unspecified() || v6.to_ipv4_mapped().is_some(),
                IpAddr::V4(_) => false,
            }) {
                return (InUseReason::DualHoldsV4 { holder: s.local }, Some(s.inode));
            }
        }
        IpAddr::V6(v6) if p.v6only == Some(false) && v6.is_unspecified() => {
            if let Some(s) = table.iter().filter(same_port).find(|s| s.local.is_ipv4()) {
                return (
                    InUseReason::V4HeldAgainstDual { holder: s.local },
                    Some(s.inode),
                );
            }
        }
        IpAddr::V6(_) => {}
    }
    (InUseReason::Conflict { holder: None }, None)
}

/// Adopt the sockets systemd passed (socket activation, sd_listen_fds(3)), with their
/// names (`FileDescriptorName=`). Empty when the process was not socket-activated.
/// The `LISTEN_*` variables are removed so the fds are adopted once.
///
/// # Errors
/// Malformed `LISTEN_*` variables, or a passed fd that is not an IP socket.
#[cfg(feature = "server")]
pub fn from_systemd() -> io::Result<Vec<(String, Bound)>> {
    crate::sys::activation::inherited_sockets()?
        .into_iter()
        .map(|(name, s)| Ok((name, Bound::from_socket(s)?)))
        .collect()
}

/// A connection accepted by [`Listeners`], with unmapped addresses.
#[derive(Debug)]
pub struct Accepted {
    /// The connection.
    pub stream: TcpStream,
    /// The client's address (unmapped).
    pub peer: SocketAddr,
    /// The local address it arrived on (unmapped).
    pub local: SocketAddr,
}

/// How long to wait after `EMFILE`/`ENFILE`/`ENOBUFS`/`ENOMEM` before accepting again.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A set of TCP listening sockets accepted from fairly: one accept task per socket feeds
/// a bounded channel (Tokio's channel serves waiting senders in order, so a busy socket
/// cannot starve a quiet one).
///
/// A socket that fails for good is logged and dropped; the others keep serving.
/// [`Listeners::accept`] returns `None` only when every socket has failed or the set was
/// closed. Dropping the set stops accepting.
#[derive(Debug)]
pub struct Listeners {
    rx: mpsc::Receiver<Accepted>,
    tasks: Vec<JoinHandle<()>>,
    locals: Vec<Bound>,
}

impl Listeners {
    /// Start accepting on `sockets` (bound stream sockets). Must be called inside a
    /// Tokio runtime.
    ///
    /// # Errors
    /// A socket that cannot be registered with the runtime.
    pub fn new(sockets: Vec<Bound>) -> io::Result<Listeners> {
        let (tx, rx) = mpsc::channel(64);
        let mut tasks = Vec::with_capacity(sockets.len());
        let mut locals = Vec::with_capacity(sockets.len());
        for b in sockets {
            let dup = b.socket.try_clone()?;
            let listener = TcpListener::from_std(std::net::TcpListener::from(dup))?;
            tasks.push(tokio::spawn(accept_loop(listener, b.local, tx.clone())));
            // Keep a description (and the fd) of each socket for `local_addrs`.
            locals.push(b);
        }
        Ok(Listeners { rx, tasks, locals })
    }

    /// The next accepted connection from any socket; `None` when all have failed or the
    /// set is closed.
    ///
    /// # Cancel safety
    /// Cancel safe: a connection not yet returned stays queued.
    pub async fn accept(&mut self) -> Option<Accepted> {
        self.rx.recv().await
    }

    /// The bound sockets (address and `IPV6_V6ONLY`).
    pub fn sockets(&self) -> &[Bound] {
        &self.locals
    }

    /// Stop accepting: close every listening socket. Connections already accepted but
    /// not yet returned by [`accept`](Self::accept) are closed too.
    pub fn close(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.locals.clear();
        self.rx.close();
        while self.rx.try_recv().is_ok() {}
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Errors that concern one incoming connection only: accept again at once.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::ECONNRESET
                | libc::EINTR
                | libc::EPROTO
                | libc::EPERM
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
                | libc::ETIMEDOUT
        )
    ) || e.kind() == io::ErrorKind::WouldBlock
}

/// Resource exhaustion: back off, the condition passes when connections close.
fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

async fn accept_loop(listener: TcpListener, local: SocketAddr, tx: mpsc::Sender<Accepted>) {
    let mut exhausted = false;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                exhausted = false;
                let local = stream.local_addr().map(unmap_socket).unwrap_or(local);
                let acc = Accepted {
                    stream,
                    peer: unmap_socket(peer),
                    local,
                };
                if tx.send(acc).await.is_err() {
                    return; // the set was closed
                }
            }
            Err(e) if is_per_connection(&e) => {
                tracing::debug!(%local, error = %e, "accept failed for one connection");
            }
            Err(e) if is_resource_exhaustion(&e) => {
                if !exhausted {
                    tracing::warn!(%local, error = %e, backoff = ?ACCEPT_BACKOFF,
                        "out of resources accepting; backing off until connections close");
                    exhausted = true;
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
            Err(e) => {
                tracing::error!(%local, error = %e,
                    "listening socket failed; still serving on the others");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_listen_addrs() {
        assert_eq!(ListenAddr::parse("8080", 1), Ok(ListenAddr::Port(8080)));
        assert_eq!(
            ListenAddr::parse("127.0.0.1", 2323),
            Ok(ListenAddr::Addr(sa("127.0.0.1:2323")))
        );
        assert_eq!(
            ListenAddr::parse("[::1]:80", 1),
            Ok(ListenAddr::Addr(sa("[::1]:80")))
        );
        assert_eq!(
            ListenAddr::parse("::1", 7),
            Ok(ListenAddr::Addr(sa("[::1]:7")))
        );
        assert_eq!(
            ListenAddr::parse("localhost:80", 1),
            Ok(ListenAddr::Host("localhost".into(), 80))
        );
        assert!(ListenAddr::parse("99999", 1).is_err());
        assert!(ListenAddr::parse("", 1).is_err());
        assert!(ListenAddr::parse("bad host:1", 1).is_err());
        assert!(ListenAddr::parse("1.2.3.4:x", 1).is_err());
    }

    #[test]
    fn plans_each_mode() {
        let port = [ListenAddr::Port(80)];
        let addrs = |m| {
            plan(&port, m)
                .unwrap()
                .into_iter()
                .map(|p| (p.addr, p.v6only))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            addrs(ListenMode::Separate),
            vec![(sa("[::]:80"), Some(true)), (sa("0.0.0.0:80"), None)]
        );
        assert_eq!(addrs(ListenMode::Dual), vec![(sa("[::]:80"), Some(false))]);
        assert_eq!(addrs(ListenMode::Ipv4), vec![(sa("0.0.0.0:80"), None)]);
        assert_eq!(addrs(ListenMode::Ipv6), vec![(sa("[::]:80"), Some(true))]);
        let mapped_any = [ListenAddr::Addr(sa("[::ffff:0.0.0.0]:80"))];
        let p = plan(&mapped_any, ListenMode::Dual).unwrap();
        assert_eq!((p[0].addr, p[0].v6only), (sa("0.0.0.0:80"), None));
        let any6 = [ListenAddr::Addr(sa("[::]:80"))];
        assert_eq!(
            plan(&any6, ListenMode::Dual).unwrap()[0].v6only,
            Some(false)
        );
        assert_eq!(
            plan(&any6, ListenMode::Separate).unwrap()[0].v6only,
            Some(true)
        );
    }

    #[test]
    fn explains_in_use() {
        let ps = |s: &str, inode| owner::ProcSocket {
            local: sa(s),
            inode,
        };
        let v4 = Planned {
            addr: sa("0.0.0.0:80"),
            v6only: None,
            group: 0,
            fallback: None,
        };
        // Only a [::]:80 listener: it must be a dual socket holding the IPv4 side.
        let (r, i) = explain_in_use(v4, &[ps("[::]:80", 7), ps("0.0.0.0:81", 8)]);
        assert_eq!(
            r,
            InUseReason::DualHoldsV4 {
                holder: sa("[::]:80")
            }
        );
        assert_eq!(i, Some(7));
        let (r, i) = explain_in_use(v4, &[ps("[::]:80", 7), ps("127.0.0.1:80", 9)]);
        assert_eq!(
            r,
            InUseReason::Conflict {
                holder: Some(sa("127.0.0.1:80"))
            }
        );
        assert_eq!(i, Some(9));
        let dual = Planned {
            addr: sa("[::]:80"),
            v6only: Some(false),
            ..v4
        };
        let (r, _) = explain_in_use(dual, &[ps("127.0.0.1:80", 9)]);
        assert_eq!(
            r,
            InUseReason::V4HeldAgainstDual {
                holder: sa("127.0.0.1:80")
            }
        );
        let (r, i) = explain_in_use(dual, &[]);
        assert_eq!((r, i), (InUseReason::Conflict { holder: None }, None));
    }
}
