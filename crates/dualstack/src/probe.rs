//! A report of this host's dual-stack state, and what it means for servers and clients.
//!
//! [`probe`] looks, it does not send anything off the host: socket support per family,
//! `net.ipv6.bindv6only`, `disable_ipv6`, whether a dual socket (AF_INET6 with
//! `IPV6_V6ONLY` off) accepts an IPv4 client as a mapped address (tried on loopback),
//! default routes per family, local addresses by scope, whether 127.0.0.1 and ::1 work,
//! and the resolver configuration (`/etc/resolv.conf`, `localhost` in `/etc/hosts`).
//! [`Report::conclusions`] turns the facts into plain sentences.
//!
//! Linux reads `/proc`; elsewhere those facts read as unknown (`None`). Everything is
//! read for the calling thread's network namespace.
//!
//! ```no_run
//! let report = dualstack::probe::probe(&dualstack::probe::ProbeOptions::default());
//! for c in &report.conclusions {
//!     println!("{:?}: {}", c.audience, c.text);
//! }
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::addr::{self, Class, Family};
use crate::sys::netinfo;

/// What to look at and where.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// How long a loopback connect may take before it counts as failed (default 1 s).
    pub loopback_timeout: Duration,
    /// The resolver configuration file (default `/etc/resolv.conf`).
    pub resolv_conf: PathBuf,
    /// The hosts file (default `/etc/hosts`).
    pub hosts: PathBuf,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            loopback_timeout: Duration::from_secs(1),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            hosts: PathBuf::from("/etc/hosts"),
        }
    }
}

/// The whole report. Every field is a fact read or tried on this host; `None` means it
/// could not be read here (another OS, no IPv6 module, no /proc).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Whether a TCP socket of each family can be created (`socket(2)`).
    pub sockets: FamilySupport,
    /// `net.ipv6.bindv6only`: the default of `IPV6_V6ONLY` for new AF_INET6 sockets.
    /// `false` (Linux default): an AF_INET6 socket bound to `[::]` takes IPv4 too.
    pub bindv6only: Option<bool>,
    /// `net.ipv6.conf.{all,default,lo}.disable_ipv6`.
    pub disable_ipv6: DisableIpv6,
    /// Whether a dual socket accepts an IPv4 client, tried on loopback.
    pub dual_socket: DualSocket,
    /// Whether 127.0.0.1 and ::1 accept a TCP connection from themselves.
    pub loopback: Loopback,
    /// Default routes per family (`/proc/net/route`, `/proc/net/ipv6_route`).
    pub default_routes: DefaultRoutes,
    /// Every local address with its scope and classification.
    pub addresses: Vec<LocalAddress>,
    /// Name resolution configuration.
    pub resolver: ResolverInfo,
    /// What the facts mean, in plain words.
    pub conclusions: Vec<Conclusion>,
}

/// Whether each family's sockets can be created.
#[derive(Debug, Clone, Serialize)]
pub struct FamilySupport {
    /// AF_INET.
    pub ipv4: Check,
    /// AF_INET6 (fails with "Address family not supported" when IPv6 is off at boot).
    pub ipv6: Check,
}

/// The outcome of one thing tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// It worked.
    pub ok: bool,
    /// Why not, as the OS said it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Check {
    fn from<T>(r: &io::Result<T>) -> Check {
        match r {
            Ok(_) => Check {
                ok: true,
                error: None,
            },
            Err(e) => Check::failed(e.to_string()),
        }
    }
    fn failed(msg: impl Into<String>) -> Check {
        Check {
            ok: false,
            error: Some(msg.into()),
        }
    }
}

/// `net.ipv6.conf.*.disable_ipv6` (`true`: IPv6 is off there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DisableIpv6 {
    /// `all`: on for every interface.
    pub all: Option<bool>,
    /// `default`: for interfaces created from now on.
    pub default: Option<bool>,
    /// `lo`: the loopback interface (then `::1` does not exist).
    pub lo: Option<bool>,
}

/// A dual socket tried on loopback: AF_INET6 with `IPV6_V6ONLY` off, bound to `[::]` on
/// a free port, and an IPv4 client connecting to 127.0.0.1 on that port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DualSocket {
    /// `IPV6_V6ONLY` of a fresh AF_INET6 socket (follows `bindv6only`).
    pub v6only_default: Option<bool>,
    /// The IPv4 client was accepted.
    pub accepts_ipv4: bool,
    /// The server saw the client as an IPv4-mapped address (`::ffff:127.0.0.1`).
    pub ipv4_client_seen_as_mapped: bool,
    /// The client's address as the server saw it, unmapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_client: Option<IpAddr>,
    /// What failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Loopback connects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Loopback {
    /// 127.0.0.1 → 127.0.0.1.
    pub ipv4: Check,
    /// ::1 → ::1.
    pub ipv6: Check,
}

/// Default routes per family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DefaultRoutes {
    /// IPv4 default routes (`None`: the table could not be read).
    pub ipv4: Option<Vec<Route>>,
    /// IPv6 default routes, without the kernel's unreachable placeholder on `lo`.
    pub ipv6: Option<Vec<Route>>,
}

/// One default route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// Outgoing interface.
    pub interface: String,
    /// Next hop (`None`: on-link, e.g. a point-to-point tunnel).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Route metric (lower wins).
    pub metric: u32,
}

/// The scope of an address: who can reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// This host only (loopback).
    Host,
    /// The local link only (fe80::/10, 169.254.0.0/16).
    Link,
    /// A private network: RFC 1918, unique local (fc00::/7), shared (100.64.0.0/10),
    /// documentation and other addresses that do not cross the Internet.
    Private,
    /// Reachable across the Internet.
    Global,
}

/// One address configured on an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalAddress {
    /// Interface name.
    pub interface: String,
    /// The address.
    pub address: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// IPv4 or IPv6.
    pub family: Family,
    /// Who can reach it.
    pub scope: Scope,
    /// [`addr::classify`] classes (`private`, `unique-local`, `documentation`, ...).
    pub classes: Vec<Class>,
    /// IPv6 state flags that matter (`tentative`, `dadfailed`, `deprecated`, `temporary`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<&'static str>,
}

/// Name resolution configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolverInfo {
    /// The resolv.conf read, and whether it could be.
    pub resolv_conf: PathBuf,
    /// Whether it could be read.
    pub resolv_conf_read: bool,
    /// `nameserver` lines, in order (the C library uses at most 3).
    pub nameservers: Vec<IpAddr>,
    /// `search` / `domain` lines.
    pub search: Vec<String>,
    /// `options` words (`inet6`, `ndots:2`, `single-request`, ...).
    pub options: Vec<String>,
    /// The hosts file read.
    pub hosts: PathBuf,
    /// The addresses `localhost` has there, in file order.
    pub localhost: Vec<IpAddr>,
    /// `localhost` has an IPv4 address there.
    pub localhost_ipv4: bool,
    /// `localhost` has an IPv6 address there.
    pub localhost_ipv6: bool,
}

/// Whom a conclusion is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    /// Programs that listen.
    Server,
    /// Programs that connect.
    Client,
    /// Both.
    Host,
}

/// One sentence about what the facts mean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conclusion {
    /// Whom it concerns.
    pub audience: Audience,
    /// The sentence.
    pub text: String,
}

/// Look at this host. Blocking: it reads files and makes loopback connections (each
/// bounded by [`ProbeOptions::loopback_timeout`]); call it from a blocking context
/// (`tokio::task::spawn_blocking` in async code). Never fails: what cannot be read or
/// tried is reported as such.
pub fn probe(opts: &ProbeOptions) -> Report {
    let sockets = FamilySupport {
        ipv4: Check::from(&Socket::new(
            Domain::IPV4,
            Type::STREAM,
            Some(Protocol::TCP),
        )),
        ipv6: Check::from(&Socket::new(
            Domain::IPV6,
            Type::STREAM,
            Some(Protocol::TCP),
        )),
    };
    let disable_ipv6 = DisableIpv6 {
        all: netinfo::sysctl_bool("net/ipv6/conf/all/disable_ipv6"),
        default: netinfo::sysctl_bool("net/ipv6/conf/default/disable_ipv6"),
        lo: netinfo::sysctl_bool("net/ipv6/conf/lo/disable_ipv6"),
    };
    let loopback = Loopback {
        ipv4: loopback_check(Ipv4Addr::LOCALHOST.into(), opts.loopback_timeout),
        ipv6: loopback_check(Ipv6Addr::LOCALHOST.into(), opts.loopback_timeout),
    };
    let routes = |name, parse: fn(&str) -> Vec<netinfo::DefaultRoute>| {
        netinfo::read_proc_net(name).map(|t| {
            parse(&t)
                .into_iter()
                .map(|r| Route {
                    interface: r.interface,
                    gateway: r.gateway,
                    metric: r.metric,
                })
                .collect()
        })
    };
    let mut report = Report {
        sockets,
        bindv6only: netinfo::sysctl_bool("net/ipv6/bindv6only"),
        disable_ipv6,
        dual_socket: dual_socket_check(opts.loopback_timeout),
        loopback,
        default_routes: DefaultRoutes {
            ipv4: routes("route", netinfo::parse_route_v4),
            ipv6: routes("ipv6_route", netinfo::parse_route_v6),
        },
        addresses: local_addresses(),
        resolver: resolver_info(opts),
        conclusions: Vec::new(),
    };
    report.conclusions = conclusions(&report);
    report
}

fn loopback_check(ip: IpAddr, timeout: Duration) -> Check {
    let listener = match TcpListener::bind((ip, 0)) {
        Ok(l) => l,
        Err(e) => return Check::failed(format!("cannot listen on {ip}: {e}")),
    };
    match connect_and_accept(
        &listener,
        SocketAddr::new(ip, listener_port(&listener)),
        timeout,
    ) {
        Ok(_) => Check {
            ok: true,
            error: None,
        },
        Err(e) => Check::failed(format!("cannot connect to {ip}: {e}")),
    }
}

fn listener_port(l: &TcpListener) -> u16 {
    l.local_addr().map_or(0, |a| a.port())
}

/// Connect to `to` and accept that connection on `listener`; returns the peer address
/// the listener saw (as the kernel gave it: mapped for IPv4 on a dual socket).
fn connect_and_accept(
    listener: &TcpListener,
    to: SocketAddr,
    timeout: Duration,
) -> io::Result<SocketAddr> {
    let client = TcpStream::connect_timeout(&to, timeout)?;
    let local = client.local_addr()?;
    listener.set_nonblocking(true)?;
    let deadline = crate::deadline::Later::later(Instant::now(), timeout);
    // The handshake is complete, so the connection is already in the accept queue;
    // bounded polling only guards against it vanishing (reset) in between.
    loop {
        match listener.accept() {
            Ok((_, peer)) if addr::unmap_socket(peer) == addr::unmap_socket(local) => {
                return Ok(peer)
            }
            Ok(_) => {} // someone else's connection to our fresh port: ignore it
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connected, but the listener never saw the connection",
                    ));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(e),
        }
    }
}

fn dual_socket_check(timeout: Duration) -> DualSocket {
    let mut out = DualSocket {
        v6only_default: None,
        accepts_ipv4: false,
        ipv4_client_seen_as_mapped: false,
        ipv4_client: None,
        error: None,
    };
    let result = (|| -> io::Result<SocketAddr> {
        let s = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| ctx(e, "cannot create an IPv6 socket"))?;
        out.v6only_default = s.only_v6().ok();
        s.set_only_v6(false)
            .map_err(|e| ctx(e, "cannot turn IPV6_V6ONLY off"))?;
        let any = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0);
        s.bind(&SockAddr::from(any))
            .map_err(|e| ctx(e, "cannot bind [::]"))?;
        s.listen(8)?;
        let listener: TcpListener = s.into();
        let port = listener_port(&listener);
        connect_and_accept(
            &listener,
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
            timeout,
        )
        .map_err(|e| ctx(e, "an IPv4 client could not connect to it"))
    })();
    match result {
        Ok(peer) => {
            out.accepts_ipv4 = true;
            out.ipv4_client_seen_as_mapped =
                matches!(peer.ip(), IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some());
            out.ipv4_client = Some(addr::unmap(peer.ip()));
        }
        Err(e) => out.error = Some(e.to_string()),
    }
    out
}

fn ctx(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn scope_of(ip: IpAddr, classes: &[Class], global: bool) -> Scope {
    if classes.contains(&Class::Loopback) || ip.is_unspecified() {
        Scope::Host
    } else if classes.contains(&Class::LinkLocal) {
        Scope::Link
    } else if global {
        Scope::Global
    } else {
        Scope::Private
    }
}

fn local_addresses() -> Vec<LocalAddress> {
    let mut out = Vec::new();
    let mut push = |interface: String, ip: IpAddr, prefix_len: u8, flags| {
        let c = addr::classify(ip);
        out.push(LocalAddress {
            interface,
            address: ip,
            prefix_len,
            family: Family::of(ip),
            scope: scope_of(ip, &c.classes, c.globally_reachable),
            classes: c.classes,
            flags,
        });
    };
    for (ifname, ip, prefix) in netinfo::ipv4_addresses() {
        push(ifname, ip.into(), prefix, Vec::new());
    }
    if let Some(text) = netinfo::read_proc_net("if_inet6") {
        for a in netinfo::parse_if_inet6(&text) {
            push(a.interface, a.address.into(), a.prefix_len, a.flags);
        }
    }
    out
}

fn resolver_info(opts: &ProbeOptions) -> ResolverInfo {
    let resolv = std::fs::read_to_string(&opts.resolv_conf);
    let mut info = ResolverInfo {
        resolv_conf: opts.resolv_conf.clone(),
        resolv_conf_read: resolv.is_ok(),
        nameservers: Vec::new(),
        search: Vec::new(),
        options: Vec::new(),
        hosts: opts.hosts.clone(),
        localhost: Vec::new(),
        localhost_ipv4: false,
        localhost_ipv6: false,
    };
    if let Ok(text) = resolv {
        let (ns, search, options) = parse_resolv_conf(&text);
        info.nameservers = ns;
        info.search = search;
        info.options = options;
    }
    if let Ok(text) = std::fs::read_to_string(&opts.hosts) {
        info.localhost = crate::connect::hosts_lookup(&text, "localhost").unwrap_or_default();
    }
    info.localhost_ipv4 = info.localhost.iter().any(IpAddr::is_ipv4);
    info.localhost_ipv6 = info.localhost.iter().any(IpAddr::is_ipv6);
    info
}

/// `nameserver`, `search`/`domain` and `options` lines of resolv.conf (`#`/`;` comments).
/// A later `search` or `domain` line replaces an earlier one, as in the C library.
pub fn parse_resolv_conf(text: &str) -> (Vec<IpAddr>, Vec<String>, Vec<String>) {
    let (mut ns, mut search, mut options) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_ascii_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ip) = words.next().and_then(|w| addr::parse(w).ok()) {
                    ns.push(addr::unmap(ip.ip));
                }
            }
            Some("search") | Some("domain") => search = words.map(str::to_owned).collect(),
            Some("options") => options.extend(words.map(str::to_owned)),
            _ => {}
        }
    }
    (ns, search, options)
}

/// What the facts in `r` mean, in plain words. (Also in [`Report::conclusions`].)
pub fn conclusions(r: &Report) -> Vec<Conclusion> {
    let mut out = Vec::new();
    let mut say = |audience, text: String| out.push(Conclusion { audience, text });
    let v6_off = r.disable_ipv6.all == Some(true);
    let v6_sockets = r.sockets.ipv6.ok;
    let has = |fam: Family, scope: Scope| {
        r.addresses
            .iter()
            .any(|a| a.family == fam && a.scope == scope && !a.flags.contains(&"dadfailed"))
    };
    let routes = |rs: &Option<Vec<Route>>| rs.as_ref().map(|v| !v.is_empty());
    let v4_route = routes(&r.default_routes.ipv4);
    let v6_route = routes(&r.default_routes.ipv6);

    // --- the host ---
    if !v6_sockets {
        say(
            Audience::Host,
            "IPv6 sockets cannot be created (the kernel has no IPv6): everything here is IPv4-only.".into(),
        );
    } else if v6_off {
        say(
            Audience::Host,
            "IPv6 is disabled on every interface (net.ipv6.conf.all.disable_ipv6 = 1): no IPv6 addresses, not even ::1; IPv6 sockets still open but cannot reach or be reached by anything.".into(),
        );
    } else if r.disable_ipv6.lo == Some(true) {
        say(
            Audience::Host,
            "IPv6 is disabled on lo: ::1 does not exist.".into(),
        );
    }
    if !r.sockets.ipv4.ok {
        say(
            Audience::Host,
            "IPv4 sockets cannot be created: everything here is IPv6-only.".into(),
        );
    }

    // --- servers ---
    let dual = &r.dual_socket;
    match (r.bindv6only, dual.accepts_ipv4) {
        (_, true) if dual.v6only_default == Some(false) => say(
            Audience::Server,
            "A server listening on [::] also gets IPv4 clients (bindv6only = 0); they arrive as IPv4-mapped addresses (::ffff:a.b.c.d), so unmap them before logging or matching ACLs. Binding 0.0.0.0 on the same port as well fails with EADDRINUSE unless the IPv6 socket sets IPV6_V6ONLY=1.".into(),
        ),
        (_, true) => say(
            Audience::Server,
            "A server listening on [::] gets only IPv6 clients by default (bindv6only = 1): also listen on 0.0.0.0, or set IPV6_V6ONLY=0 explicitly, to serve IPv4. A socket that sets IPV6_V6ONLY=0 does get IPv4 clients, as mapped addresses.".into(),
        ),
        (_, false) if v6_sockets => say(
            Audience::Server,
            format!(
                "A dual socket does not work here ({}): listen on 0.0.0.0 and [::] separately, with IPV6_V6ONLY=1 on the IPv6 one.",
                dual.error.as_deref().unwrap_or("unknown error")
            ),
        ),
        _ => say(Audience::Server, "Servers can listen on IPv4 (0.0.0.0) only.".into()),
    }
    if v6_sockets && !v6_off {
        if has(Family::V6, Scope::Global) {
            say(Audience::Server, "This host has a global IPv6 address: IPv6 clients from the Internet can reach it, if no firewall says otherwise.".into());
        } else {
            say(Audience::Server, "No global IPv6 address: only clients on this host or link (or a private IPv6 network) can reach it over IPv6.".into());
        }
    }
    if !has(Family::V4, Scope::Global) && has(Family::V4, Scope::Private) {
        say(Audience::Server, "No global IPv4 address (private or documentation addresses only): IPv4 clients from the Internet reach this host only through NAT port forwarding, if at all.".into());
    }

    // --- clients ---
    match (v4_route, v6_route) {
        (Some(true), Some(true)) => say(
            Audience::Client,
            "Both families have a default route: clients should use Happy Eyeballs (RFC 8305); a plain client that tries IPv6 first would hang for its whole connect timeout if the IPv6 path is black-holed.".into(),
        ),
        (Some(true), _) => say(
            Audience::Client,
            "No IPv6 default route: connects to IPv6 destinations outside this host fail at once (network unreachable) and clients fall back to IPv4 without delay; a name that has only AAAA records cannot be reached.".into(),
        ),
        (_, Some(true)) => say(
            Audience::Client,
            "No IPv4 default route: IPv4 destinations outside this host are unreachable; IPv4 literals work only through NAT64 (the dualstack connector tries it, RFC 7050).".into(),
        ),
        (Some(false), Some(false)) | (Some(false), None) | (None, Some(false)) => say(
            Audience::Client,
            "No default route at all: only destinations on this host and on directly connected networks are reachable.".into(),
        ),
        (None, None) => {}
    }
    if v6_route == Some(true) && !has(Family::V6, Scope::Global) && !has(Family::V6, Scope::Private)
    {
        say(Audience::Client, "There is an IPv6 default route but no usable IPv6 source address: IPv6 connects will fail.".into());
    }
    match (r.loopback.ipv4.ok, r.loopback.ipv6.ok) {
        (true, true) => say(Audience::Client, "Loopback works over both families (127.0.0.1 and ::1).".into()),
        (true, false) => say(Audience::Client, "::1 does not work: local services must listen on 127.0.0.1, and clients that try ::1 first must fall back.".into()),
        (false, true) => say(Audience::Client, "127.0.0.1 does not work: local IPv4 clients cannot reach local services.".into()),
        (false, false) => say(Audience::Client, "Neither 127.0.0.1 nor ::1 works: loopback is down.".into()),
    }
    let res = &r.resolver;
    match (res.localhost_ipv4, res.localhost_ipv6) {
        (true, true) => say(Audience::Client, format!("\"localhost\" maps to both families in {}: a client may use either, so local servers should listen on both 127.0.0.1 and ::1.", res.hosts.display())),
        (true, false) => say(Audience::Client, format!("\"localhost\" maps to IPv4 only in {}: clients connect to 127.0.0.1, so a server listening only on ::1 is unreachable as localhost.", res.hosts.display())),
        (false, true) => say(Audience::Client, format!("\"localhost\" maps to IPv6 only in {}: clients connect to ::1, so a server listening only on 127.0.0.1 is unreachable as localhost.", res.hosts.display())),
        (false, false) => say(Audience::Client, format!("\"localhost\" is not in {}: the resolver decides (glibc and hickory answer both 127.0.0.1 and ::1).", res.hosts.display())),
    }
    if res.localhost_ipv6 && !r.loopback.ipv6.ok {
        say(
            Audience::Client,
            "\"localhost\" lists ::1, but ::1 does not work: clients that try it first lose time."
                .into(),
        );
    }
    if !res.resolv_conf_read {
        say(Audience::Client, format!("{} cannot be read: the C library then asks a name server on this host (127.0.0.1).", res.resolv_conf.display()));
    } else if res.nameservers.is_empty() {
        say(
            Audience::Client,
            "No name servers are configured: DNS lookups go to 127.0.0.1 (the C library default)."
                .into(),
        );
    } else {
        let v4 = res.nameservers.iter().filter(|a| a.is_ipv4()).count();
        let v6 = res.nameservers.len() - v4;
        let local = res.nameservers.iter().all(|a| a.is_loopback());
        if local {
            say(Audience::Client, "The name server is a local stub resolver on loopback: DNS itself works over whatever families it uses upstream.".into());
        } else if v6 == 0 {
            say(Audience::Client, "All name servers are IPv4: name resolution stops working when IPv4 does, even if IPv6 still works.".into());
        } else if v4 == 0 {
            say(Audience::Client, "All name servers are IPv6: name resolution stops working when IPv6 does, even if IPv4 still works.".into());
        } else {
            say(
                Audience::Client,
                "Name servers are reachable over both families.".into(),
            );
        }
        if res.nameservers.len() > 3 {
            say(
                Audience::Client,
                "More than 3 name servers are listed: the C library uses only the first 3.".into(),
            );
        }
    }
    out
}
