//! Name resolution for the connector: a [`Resolve`] trait that delivers the AAAA and A
//! answers *separately, as each arrives* (RFC 8305 §3), and three implementations:
//!
//! - [`HickoryResolver`] (default, feature `hickory`): hickory-resolver configured from
//!   `/etc/resolv.conf`, sending the AAAA and the A query concurrently as two lookups;
//! - [`SystemResolver`]: the C library's `getaddrinfo` on a blocking thread (both families
//!   come back together, as with every getaddrinfo-based client);
//! - `ScriptedResolver` (feature `test-util`): per-family answers and delays, for tests.
//!
//! Names listed in the hosts file (`/etc/hosts`) are answered from it without DNS, for
//! both families at once, the way glibc's `files` source does: `localhost` listed only as
//! `127.0.0.1` gets no IPv6 address.

use std::fmt;
use std::net::IpAddr;
#[cfg(feature = "hickory")]
use std::net::SocketAddr;
#[cfg(feature = "hickory")]
use std::path::PathBuf;
#[cfg(feature = "hickory")]
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
#[cfg(feature = "hickory")]
use futures_util::stream::FuturesUnordered;
use futures_util::stream::{self, BoxStream, StreamExt};
#[cfg(feature = "hickory")]
use futures_util::FutureExt;

use crate::addr::{unmap, Family};

/// One family's answer: the addresses in DNS order, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `V6` for the AAAA query, `V4` for the A query.
    pub family: Family,
    /// The addresses (only of `family`), or the failure.
    pub result: Result<Vec<IpAddr>, ResolveError>,
}

/// Why a query gave no address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The name does not exist (NXDOMAIN).
    #[error("no such host (NXDOMAIN)")]
    NoSuchHost,
    /// The name exists but has no record of this type (NODATA).
    #[error("no records of this type")]
    NoRecords,
    /// The name is not a valid DNS name.
    #[error("invalid host name: {0}")]
    InvalidName(String),
    /// Any other failure (server unreachable, timeout, SERVFAIL...).
    #[error("lookup failed: {0}")]
    Failed(String),
}

/// The answers of one resolution, as a stream: one [`Answer`] per family asked for, each
/// yielded as soon as it is known.
pub type Answers = BoxStream<'static, Answer>;

/// A resolver the connector can use. Implementations must answer every family in
/// `families` exactly once (the stream may end early; missing families count as failed).
pub trait Resolve: Send + Sync + fmt::Debug {
    /// Start resolving `host` for `families` (given in the order the queries should be
    /// sent: AAAA first, RFC 8305 §3) and return the answers as they arrive.
    fn resolve(&self, host: &str, families: &[Family]) -> Answers;

    /// Ask for the HTTPS records of `host` for `port` (RFC 9460 §9.1 naming), following
    /// AliasMode. The default answers at once that this resolver cannot.
    fn https(&self, host: &str, port: u16) -> BoxFuture<'static, super::svcb::HttpsAnswer> {
        let chain = vec![super::svcb::query_name(host, port)];
        Box::pin(std::future::ready(super::svcb::HttpsAnswer {
            chain,
            services: Vec::new(),
            error: Some("this resolver does not ask for HTTPS records".into()),
            elapsed: Duration::ZERO,
        }))
    }
}

/// Parse hosts-file text (`/etc/hosts` syntax: `ADDR NAME [ALIAS...]`, `#` comments).
/// Lines that do not parse are skipped, like the C library does.
pub(crate) fn parse_hosts(text: &str) -> Vec<(IpAddr, Vec<String>)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_ascii_whitespace();
        let Some(addr) = words.next() else { continue };
        // A zone (`fe80::1%eth0`) is allowed in hosts files; the connector cannot carry it
        // through a name lookup, so the entry is kept without it.
        let Ok(ip) = addr.split('%').next().unwrap_or(addr).parse::<IpAddr>() else {
            continue;
        };
        let names: Vec<String> = words.map(|w| w.to_ascii_lowercase()).collect();
        if !names.is_empty() {
            out.push((unmap(ip), names));
        }
    }
    out
}

/// The addresses `host` has in hosts-file `text`, in file order; `None` when not listed.
pub(crate) fn hosts_lookup(text: &str, host: &str) -> Option<Vec<IpAddr>> {
    let want = host.trim_end_matches('.').to_ascii_lowercase();
    let mut found = Vec::new();
    for (ip, names) in parse_hosts(text) {
        if names.iter().any(|n| n.trim_end_matches('.') == want) && !found.contains(&ip) {
            found.push(ip);
        }
    }
    (!found.is_empty()).then_some(found)
}

fn split_families(addrs: &[IpAddr], families: &[Family]) -> Vec<Answer> {
    families
        .iter()
        .map(|&family| {
            let v: Vec<IpAddr> = addrs
                .iter()
                .copied()
                .filter(|a| Family::of(*a) == family)
                .collect();
            Answer {
                family,
                result: if v.is_empty() {
                    Err(ResolveError::NoRecords)
                } else {
                    Ok(v)
                },
            }
        })
        .collect()
}

/// Answer from the hosts file at `path`, when it lists `host`.
#[cfg(feature = "hickory")]
fn from_hosts_file(path: &std::path::Path, host: &str, families: &[Family]) -> Option<Answers> {
    let text = std::fs::read_to_string(path).ok()?;
    let addrs = hosts_lookup(&text, host)?;
    Some(stream::iter(split_families(&addrs, families)).boxed())
}

#[cfg(feature = "hickory")]
type Hickory = hickory_resolver::TokioResolver;

#[cfg(feature = "hickory")]
/// The default resolver: hickory-resolver, AAAA and A sent concurrently as two separate
/// lookups, each answer delivered as soon as it arrives.
///
/// Built lazily on first use, inside the caller's Tokio runtime (hickory spawns its
/// background work there); keep one per runtime. Its DNS cache is shared by clones.
#[derive(Clone)]
pub struct HickoryResolver {
    servers: Option<Vec<SocketAddr>>,
    hosts: Option<PathBuf>,
    inner: Arc<OnceLock<Result<Hickory, String>>>,
}

#[cfg(feature = "hickory")]
impl fmt::Debug for HickoryResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HickoryResolver")
            .field("servers", &self.servers)
            .field("hosts", &self.hosts)
            .finish()
    }
}

#[cfg(feature = "hickory")]
impl HickoryResolver {
    /// Configured from the system: name servers, search list and options from
    /// `/etc/resolv.conf`, names in `/etc/hosts` answered from it.
    pub fn system() -> HickoryResolver {
        HickoryResolver {
            servers: None,
            hosts: Some(PathBuf::from("/etc/hosts")),
            inner: Arc::new(OnceLock::new()),
        }
    }

    /// Ask exactly these name servers (UDP, falling back to TCP), on the ports given,
    /// with no search domains and no hosts file. For fake DNS servers in tests.
    pub fn with_name_servers(servers: &[SocketAddr]) -> HickoryResolver {
        HickoryResolver {
            servers: Some(servers.to_vec()),
            hosts: None,
            inner: Arc::new(OnceLock::new()),
        }
    }

    /// Use an already configured hickory resolver (no hosts file unless set with
    /// [`hosts_file`](Self::hosts_file)).
    pub fn from_resolver(resolver: hickory_resolver::TokioResolver) -> HickoryResolver {
        let inner = OnceLock::new();
        let _ = inner.set(Ok(resolver));
        HickoryResolver {
            servers: None,
            hosts: None,
            inner: Arc::new(inner),
        }
    }

    /// Use this hosts file (`None`: none) before DNS.
    pub fn hosts_file(mut self, path: Option<PathBuf>) -> HickoryResolver {
        self.hosts = path;
        self
    }

    fn build(&self) -> Result<Hickory, String> {
        if let Some(servers) = &self.servers {
            return hickory_for_servers(servers);
        }
        let mut builder = Hickory::builder_tokio()
            .map_err(|e| format!("cannot read the system resolver configuration: {e}"))?;
        // We read the hosts file ourselves (both families at once, glibc-style).
        builder.options_mut().use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
        builder
            .build()
            .map_err(|e| format!("cannot build the DNS resolver: {e}"))
    }

    fn resolver(&self) -> Result<Hickory, String> {
        self.inner.get_or_init(|| self.build()).clone()
    }
}

#[cfg(feature = "hickory")]
/// How long one query to an explicitly named server may take, and it is asked once: a
/// caller that names its servers (a test's fake server, `--dns-server`) wants an answer
/// or a failure quickly, and has its own overall timeout above this.
const NAME_SERVER_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

#[cfg(feature = "hickory")]
/// A hickory resolver that asks exactly these name servers (UDP, then TCP on truncation),
/// on the ports given, with no search domains and no hosts file: the one place that
/// builds one from a server list (the connector's and [`crate::reverse`]'s).
pub(crate) fn hickory_for_servers(servers: &[SocketAddr]) -> Result<Hickory, String> {
    use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;
    if servers.is_empty() {
        return Err("no name server given".into());
    }
    let ns = servers
        .iter()
        .map(|s| {
            let mut c = NameServerConfig::udp_and_tcp(unmap(s.ip()));
            for conn in &mut c.connections {
                conn.port = s.port();
            }
            c
        })
        .collect();
    let mut builder = hickory_resolver::Resolver::builder_with_config(
        ResolverConfig::from_name_servers(ns),
        TokioRuntimeProvider::default(),
    );
    let opts = builder.options_mut();
    opts.use_hosts_file = ResolveHosts::Never;
    opts.timeout = NAME_SERVER_QUERY_TIMEOUT;
    opts.attempts = 1;
    builder
        .build()
        .map_err(|e| format!("cannot build the DNS resolver: {e}"))
}

#[cfg(feature = "hickory")]
fn hickory_error(e: &hickory_resolver::net::NetError) -> ResolveError {
    if e.is_nx_domain() {
        ResolveError::NoSuchHost
    } else if e.is_no_records_found() {
        ResolveError::NoRecords
    } else {
        ResolveError::Failed(e.to_string())
    }
}

#[cfg(feature = "hickory")]
impl Resolve for HickoryResolver {
    fn https(&self, host: &str, port: u16) -> BoxFuture<'static, super::svcb::HttpsAnswer> {
        let resolver = self.resolver();
        let (host, chain) = (host.to_owned(), vec![super::svcb::query_name(host, port)]);
        Box::pin(async move {
            match resolver {
                Ok(r) => super::svcb::lookup_https(&r, &host, port).await,
                Err(e) => super::svcb::HttpsAnswer {
                    chain,
                    services: Vec::new(),
                    error: Some(e),
                    elapsed: Duration::ZERO,
                },
            }
        })
    }

    fn resolve(&self, host: &str, families: &[Family]) -> Answers {
        if let Some(path) = &self.hosts {
            if let Some(answers) = from_hosts_file(path, host, families) {
                return answers;
            }
        }
        let resolver = match self.resolver() {
            Ok(r) => r,
            Err(e) => {
                let answers: Vec<Answer> = families
                    .iter()
                    .map(|&family| Answer {
                        family,
                        result: Err(ResolveError::Failed(e.clone())),
                    })
                    .collect();
                return stream::iter(answers).boxed();
            }
        };
        let lookups = FuturesUnordered::new();
        for &family in families {
            let r = resolver.clone();
            let name = host.to_owned();
            lookups.push(
                async move {
                    let res = match family {
                        Family::V6 => r.ipv6_lookup(name.as_str()).await,
                        Family::V4 => r.ipv4_lookup(name.as_str()).await,
                    };
                    let result = match res {
                        Ok(lookup) => {
                            let addrs: Vec<IpAddr> = lookup
                                .answers()
                                .iter()
                                .filter_map(|rec| rec.data.ip_addr())
                                .map(unmap)
                                .filter(|ip| Family::of(*ip) == family)
                                .collect();
                            if addrs.is_empty() {
                                Err(ResolveError::NoRecords)
                            } else {
                                Ok(addrs)
                            }
                        }
                        Err(e) => Err(hickory_error(&e)),
                    };
                    Answer { family, result }
                }
                .boxed(),
            );
        }
        lookups.boxed()
    }
}

/// The C library's `getaddrinfo` (honours `/etc/nsswitch.conf`, `/etc/gai.conf`), run on
/// Tokio's blocking pool. Both families' answers arrive together, when the slower of the
/// two queries is done: this is the behaviour Happy Eyeballs improves on.
#[derive(Debug, Clone, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str, families: &[Family]) -> Answers {
        let host = host.to_owned();
        let families = families.to_vec();
        stream::once(async move {
            match tokio::net::lookup_host((host.as_str(), 0)).await {
                Ok(addrs) => {
                    let mut ips: Vec<IpAddr> = Vec::new();
                    for a in addrs {
                        let ip = unmap(a.ip());
                        if !ips.contains(&ip) {
                            ips.push(ip);
                        }
                    }
                    split_families(&ips, &families)
                }
                Err(e) => families
                    .iter()
                    .map(|&family| Answer {
                        family,
                        result: Err(ResolveError::Failed(e.to_string())),
                    })
                    .collect(),
            }
        })
        .flat_map(stream::iter)
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_parsing() {
        let text = "127.0.0.1 localhost\n# comment\n::1 ip6-localhost ip6-loopback\n\
                    192.0.2.1 Web.Example web # trailing\nbogus line\n2001:db8::1 web.example\n";
        assert_eq!(
            hosts_lookup(text, "localhost"),
            Some(vec!["127.0.0.1".parse().unwrap()])
        );
        assert_eq!(
            hosts_lookup(text, "WEB.example."),
            Some(vec![
                "192.0.2.1".parse().unwrap(),
                "2001:db8::1".parse().unwrap()
            ])
        );
        assert_eq!(hosts_lookup(text, "nothere"), None);
    }

    #[test]
    fn split_by_family_keeps_order_and_reports_empty() {
        let a: Vec<IpAddr> = vec!["192.0.2.2".parse().unwrap(), "192.0.2.1".parse().unwrap()];
        let ans = split_families(&a, &[Family::V6, Family::V4]);
        assert_eq!(ans[0].result, Err(ResolveError::NoRecords));
        assert_eq!(ans[1].result, Ok(a));
    }
}
