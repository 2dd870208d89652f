//! Reverse DNS (address → name) with a hard timeout that a lookup never outlives.
//!
//! `getnameinfo(3)` can block for over a minute when a name server does not answer
//! (glibc: `attempts` × `timeout` per server). A server that logs client names must not
//! wait that long, so every lookup here ends at its deadline, whatever the resolver does.
//!
//! Two backends:
//! - [`Backend::Hickory`] (default): hickory-resolver sends the PTR query itself; at the
//!   deadline the query future is dropped and nothing keeps running.
//! - [`Backend::System`]: `getnameinfo` with `NI_NAMEREQD` (so `/etc/hosts`, NSS modules
//!   and the system's resolver configuration all apply) on a **bounded** set of blocking
//!   threads. At the deadline the caller stops waiting, but libc cannot be interrupted:
//!   the abandoned thread runs on until `getnameinfo` returns and keeps its slot until
//!   then. At most [`Reverse::system_threads`] such threads exist at once (default
//!   [`DEFAULT_SYSTEM_THREADS`]); when all are busy, new lookups wait for a free slot
//!   within their own deadline and fail with [`ReverseError::Busy`] if none frees.
//!
//! A mapped address (`::ffff:192.0.2.1`) is looked up as the IPv4 address it carries
//! (`1.2.0.192.in-addr.arpa.`), since that is the host that connected.
//!
//! With [`Reverse::verify`], a name is only returned if it is *forward-confirmed*: its A
//! (for IPv4) or AAAA (for IPv6) records contain the address. Anyone who controls the
//! reverse zone of an address can claim any name; forward confirmation checks that the
//! claimed name's owner agrees (the "paranoid" check of TCP Wrappers and sshd's
//! `UseDNS`). PTR query and forward lookups share the one deadline.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "hickory")]
use hickory_resolver::net::{DnsError, NetError};
#[cfg(feature = "hickory")]
use hickory_resolver::proto::op::ResponseCode;
#[cfg(feature = "hickory")]
use hickory_resolver::proto::rr::{RData, RecordType};
#[cfg(feature = "hickory")]
use hickory_resolver::TokioResolver;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::addr;

/// The default hard timeout of one lookup (PTR query plus forward confirmation).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The default bound on blocking threads for [`Backend::System`].
pub const DEFAULT_SYSTEM_THREADS: usize = 16;

/// Which resolver answers the PTR queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// hickory-resolver: our own DNS queries, cancelled cleanly at the deadline. The
    /// default; needs feature `hickory` (without it, [`Reverse::new`] refuses it).
    Hickory,
    /// The system's `getnameinfo(3)` on a bounded pool of abandonable threads.
    System,
}

impl Default for Backend {
    /// [`Backend::Hickory`] with feature `hickory`, else [`Backend::System`].
    fn default() -> Backend {
        if cfg!(feature = "hickory") {
            Backend::Hickory
        } else {
            Backend::System
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Hickory => "hickory",
            Backend::System => "system",
        })
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "hickory" => Ok(Backend::Hickory),
            "system" => Ok(Backend::System),
            _ => Err(format!(
                "unknown resolver {s:?} (expected hickory or system)"
            )),
        }
    }
}

#[cfg(not(feature = "hickory"))]
fn no_hickory() -> SetupError {
    SetupError {
        backend: Backend::Hickory,
        reason: "this build of dualstack has no hickory resolver (feature `hickory`)".into(),
    }
}

/// Why a reverse lookup gave no (confirmed) name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReverseError {
    /// The name does not exist (NXDOMAIN) or has no PTR record.
    #[error("no PTR record for {ip}{}", if *.nxdomain { " (NXDOMAIN)" } else { "" })]
    NotFound {
        /// The address looked up (unmapped).
        ip: IpAddr,
        /// The server said the name does not exist, rather than "exists, no PTR".
        nxdomain: bool,
    },
    /// No answer before the deadline.
    #[error("no answer for {ip} within {timeout:?}")]
    Timeout {
        /// The address looked up (unmapped).
        ip: IpAddr,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The resolver failed: SERVFAIL, REFUSED, unreachable server, malformed answer.
    #[error("reverse lookup of {ip} failed: {reason}")]
    Failed {
        /// The address looked up (unmapped).
        ip: IpAddr,
        /// What went wrong, as the resolver put it.
        reason: String,
    },
    /// `--verify`: the name's A/AAAA records do not contain the address.
    #[error("{name} (the PTR name of {ip}) does not resolve back to {ip}{}", found_list(.found))]
    NotConfirmed {
        /// The address looked up (unmapped).
        ip: IpAddr,
        /// The name the PTR record gave.
        name: String,
        /// The addresses the name resolves to (of the same family as `ip`).
        found: Vec<IpAddr>,
    },
    /// [`Backend::System`]: every blocking thread was busy until the deadline.
    #[error("no free resolver thread for {ip} within {timeout:?} (all {threads} are busy)")]
    Busy {
        /// The address looked up (unmapped).
        ip: IpAddr,
        /// The timeout that expired.
        timeout: Duration,
        /// The thread bound.
        threads: usize,
    },
}

fn found_list(found: &[IpAddr]) -> String {
    if found.is_empty() {
        " (it has no address of that family)".into()
    } else {
        let list: Vec<String> = found.iter().map(|ip| ip.to_string()).collect();
        format!(" (it resolves to {})", list.join(", "))
    }
}

impl ReverseError {
    /// The address this error is about.
    pub fn ip(&self) -> IpAddr {
        match self {
            ReverseError::NotFound { ip, .. }
            | ReverseError::Timeout { ip, .. }
            | ReverseError::Failed { ip, .. }
            | ReverseError::NotConfirmed { ip, .. }
            | ReverseError::Busy { ip, .. } => *ip,
        }
    }

    /// A short machine-readable kind: `nxdomain`, `no-ptr`, `timeout`, `failed`,
    /// `not-confirmed`, `busy`.
    pub fn kind(&self) -> &'static str {
        match self {
            ReverseError::NotFound { nxdomain: true, .. } => "nxdomain",
            ReverseError::NotFound {
                nxdomain: false, ..
            } => "no-ptr",
            ReverseError::Timeout { .. } => "timeout",
            ReverseError::Failed { .. } => "failed",
            ReverseError::NotConfirmed { .. } => "not-confirmed",
            ReverseError::Busy { .. } => "busy",
        }
    }
}

/// Building a resolver failed (unreadable `/etc/resolv.conf`, ...).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the {backend} resolver: {reason}")]
pub struct SetupError {
    backend: Backend,
    reason: String,
}

/// A reverse resolver with a hard per-lookup timeout. Cheap to clone (shared state).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use dualstack::reverse::{Backend, Reverse};
///
/// let reverse = Reverse::new(Backend::Hickory)?
///     .timeout(Duration::from_millis(500))
///     .verify(true);
/// match reverse.lookup("192.0.2.1".parse()?).await {
///     Ok(name) => println!("{name}"),
///     Err(e) => println!("{} ({e})", e.ip()),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Reverse {
    inner: Inner,
    timeout: Duration,
    verify: bool,
}

#[derive(Debug, Clone)]
enum Inner {
    #[cfg(feature = "hickory")]
    Hickory(Box<TokioResolver>),
    System(ThreadPool),
}

impl Reverse {
    /// A resolver of the given kind using the system configuration (`/etc/resolv.conf`
    /// for hickory; NSS for `System`), with [`DEFAULT_TIMEOUT`] and no verification.
    ///
    /// # Errors
    ///
    /// [`SetupError`] if hickory cannot read the system resolver configuration.
    pub fn new(backend: Backend) -> Result<Self, SetupError> {
        let inner = match backend {
            #[cfg(not(feature = "hickory"))]
            Backend::Hickory => return Err(no_hickory()),
            #[cfg(feature = "hickory")]
            Backend::Hickory => {
                let resolver = TokioResolver::builder_tokio()
                    .and_then(|b| b.build())
                    .map_err(|e| SetupError {
                        backend,
                        reason: e.to_string(),
                    })?;
                Inner::Hickory(Box::new(resolver))
            }
            Backend::System => Inner::System(ThreadPool::new(DEFAULT_SYSTEM_THREADS)),
        };
        Ok(Self::with_inner(inner))
    }

    /// A hickory resolver that asks only these name servers (UDP, then TCP on
    /// truncation), like `dig @server`, each query once with a 2 s limit (the same
    /// resolver the connector builds for a server list). `/etc/hosts` is not consulted.
    ///
    /// # Errors
    ///
    /// [`SetupError`] if the list is empty or hickory rejects the configuration.
    pub fn with_name_servers(servers: &[SocketAddr]) -> Result<Self, SetupError> {
        #[cfg(not(feature = "hickory"))]
        {
            let _ = servers;
            Err(no_hickory())
        }
        #[cfg(feature = "hickory")]
        {
            let resolver =
                crate::connect::hickory_for_servers(servers).map_err(|reason| SetupError {
                    backend: Backend::Hickory,
                    reason,
                })?;
            Ok(Self::with_inner(Inner::Hickory(Box::new(resolver))))
        }
    }

    fn with_inner(inner: Inner) -> Self {
        Reverse {
            inner,
            timeout: DEFAULT_TIMEOUT,
            verify: false,
        }
    }

    /// The hard timeout of each lookup, forward confirmation included (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Forward-confirm every name: return it only if its A/AAAA records contain the
    /// address, else [`ReverseError::NotConfirmed`].
    pub fn verify(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }

    /// For [`Backend::System`]: the most blocking threads alive at once, abandoned ones
    /// included (at least 1). No effect on hickory.
    pub fn system_threads(mut self, threads: usize) -> Self {
        #[allow(irrefutable_let_patterns)] // without feature `hickory` only System exists
        if let Inner::System(_) = self.inner {
            self.inner = Inner::System(ThreadPool::new(threads.max(1)));
        }
        self
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self.inner {
            #[cfg(feature = "hickory")]
            Inner::Hickory(_) => Backend::Hickory,
            Inner::System(_) => Backend::System,
        }
    }

    /// The configured timeout.
    pub fn timeout_value(&self) -> Duration {
        self.timeout
    }

    /// The name of `ip` (without a trailing dot), forward-confirmed if [`Reverse::verify`]
    /// is on. A mapped address is looked up as IPv4. Never takes longer than the timeout
    /// (plus scheduling).
    ///
    /// # Errors
    ///
    /// [`ReverseError`]: no name, timeout, resolver failure, or a name that does not
    /// resolve back to the address.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future abandons the lookup (a `System` thread runs on
    /// until libc returns, holding its slot in the bound).
    pub async fn lookup(&self, ip: IpAddr) -> Result<String, ReverseError> {
        let ip = addr::unmap(ip);
        let deadline = crate::deadline::Later::later(Instant::now(), self.timeout);
        let work = async {
            let name = match &self.inner {
                #[cfg(feature = "hickory")]
                Inner::Hickory(r) => hickory_ptr(r, ip).await?,
                Inner::System(pool) => system_ptr(pool, ip, deadline, self.timeout).await?,
            };
            if self.verify {
                let found = match &self.inner {
                    #[cfg(feature = "hickory")]
                    Inner::Hickory(r) => hickory_forward(r, ip, &name).await?,
                    Inner::System(pool) => {
                        system_forward(pool, ip, &name, deadline, self.timeout).await?
                    }
                };
                if !found.contains(&ip) {
                    return Err(ReverseError::NotConfirmed { ip, name, found });
                }
            }
            Ok(name)
        };
        match tokio::time::timeout_at(deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(ReverseError::Timeout {
                ip,
                timeout: self.timeout,
            }),
        }
    }

    /// Look up many addresses at once, all concurrently, each with its own deadline
    /// starting now. Results come back in input order.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Reverse::lookup`].
    pub async fn lookup_all(
        &self,
        ips: impl IntoIterator<Item = IpAddr>,
    ) -> Vec<(IpAddr, Result<String, ReverseError>)> {
        let futures = ips
            .into_iter()
            .map(|ip| async move { (ip, self.lookup(ip).await) });
        futures_util::future::join_all(futures).await
    }
}

fn trim_dot(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_owned()
}

#[cfg(feature = "hickory")]
fn net_error(ip: IpAddr, e: NetError) -> ReverseError {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(no)) => ReverseError::NotFound {
            ip,
            nxdomain: no.response_code == ResponseCode::NXDomain,
        },
        NetError::Dns(DnsError::ResponseCode(ResponseCode::NXDomain)) => {
            ReverseError::NotFound { ip, nxdomain: true }
        }
        NetError::Dns(DnsError::ResponseCode(code)) => ReverseError::Failed {
            ip,
            reason: format!("the name server answered {code}"),
        },
        other => ReverseError::Failed {
            ip,
            reason: other.to_string(),
        },
    }
}

#[cfg(feature = "hickory")]
async fn hickory_ptr(r: &TokioResolver, ip: IpAddr) -> Result<String, ReverseError> {
    let query = addr::reverse_name(ip);
    let lookup = r
        .lookup(query.as_str(), RecordType::PTR)
        .await
        .map_err(|e| net_error(ip, e))?;
    // A CNAME chain (RFC 2317 classless delegation) ends in the PTR we want.
    lookup
        .answers()
        .iter()
        .find_map(|rec| match &rec.data {
            // A PTR to the root (".") names nothing: treat it as no name.
            RData::PTR(ptr) if !ptr.0.is_root() => Some(trim_dot(&ptr.0.to_string())),
            _ => None,
        })
        .ok_or(ReverseError::NotFound {
            ip,
            nxdomain: false,
        })
}

#[cfg(feature = "hickory")]
async fn hickory_forward(
    r: &TokioResolver,
    ip: IpAddr,
    name: &str,
) -> Result<Vec<IpAddr>, ReverseError> {
    let rtype = if ip.is_ipv4() {
        RecordType::A
    } else {
        RecordType::AAAA
    };
    // Fully qualified: the PTR target is absolute; no search-list expansion.
    let fqdn = format!("{name}.");
    match r.lookup(fqdn.as_str(), rtype).await {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter_map(|rec| match &rec.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .collect()),
        // The name has no address of this family: not confirmed, with nothing found.
        Err(NetError::Dns(DnsError::NoRecordsFound(_))) => Ok(Vec::new()),
        Err(e) => Err(match net_error(ip, e) {
            ReverseError::Failed { ip, reason } => ReverseError::Failed {
                ip,
                reason: format!("forward lookup of {name}: {reason}"),
            },
            other => other,
        }),
    }
}

async fn system_ptr(
    pool: &ThreadPool,
    ip: IpAddr,
    deadline: Instant,
    timeout: Duration,
) -> Result<String, ReverseError> {
    use crate::sys::getnameinfo::{lookup_name, NameInfoError};
    match pool
        .run(ip, deadline, timeout, move || lookup_name(ip))
        .await?
    {
        Ok(name) => Ok(trim_dot(&name)),
        Err(NameInfoError::NoName) => Err(ReverseError::NotFound {
            ip,
            nxdomain: false,
        }),
        Err(NameInfoError::Again) => Err(ReverseError::Failed {
            ip,
            reason: "temporary failure in name resolution (EAI_AGAIN)".into(),
        }),
        Err(NameInfoError::Other(reason)) => Err(ReverseError::Failed { ip, reason }),
    }
}

async fn system_forward(
    pool: &ThreadPool,
    ip: IpAddr,
    name: &str,
    deadline: Instant,
    timeout: Duration,
) -> Result<Vec<IpAddr>, ReverseError> {
    use std::net::ToSocketAddrs;
    let host = name.to_owned();
    let res = pool
        .run(ip, deadline, timeout, move || {
            (host.as_str(), 0)
                .to_socket_addrs()
                .map(|it| it.map(|sa| addr::unmap(sa.ip())).collect::<Vec<_>>())
        })
        .await?;
    match res {
        Ok(all) => Ok(all
            .into_iter()
            .filter(|a| a.is_ipv4() == ip.is_ipv4())
            .collect()),
        // getaddrinfo's "no such name" comes through std as an io error; treat every
        // failure as "resolves to nothing": the name stays unconfirmed.
        Err(_) => Ok(Vec::new()),
    }
}

/// At most `threads` blocking threads alive at once. Each job gets a fresh thread that
/// holds a semaphore permit until the blocking call returns, even if its caller has
/// long given up: abandoned threads count against the bound, so a dead name server
/// cannot make us spawn without limit.
#[derive(Debug, Clone)]
struct ThreadPool {
    slots: Arc<Semaphore>,
    threads: usize,
}

impl ThreadPool {
    fn new(threads: usize) -> Self {
        ThreadPool {
            slots: Arc::new(Semaphore::new(threads)),
            threads,
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        ip: IpAddr,
        deadline: Instant,
        timeout: Duration,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ReverseError> {
        let busy = || ReverseError::Busy {
            ip,
            timeout,
            threads: self.threads,
        };
        let permit =
            match tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                // The semaphore is never closed; treat it like no slot.
                Ok(Err(_)) | Err(_) => return Err(busy()),
            };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("dualstack-getnameinfo".into())
            .spawn(move || {
                let out = job();
                drop(permit);
                // The receiver is gone if the caller timed out: nothing to do.
                let _ = tx.send(out);
            });
        if let Err(e) = spawned {
            return Err(ReverseError::Failed {
                ip,
                reason: format!("cannot start a resolver thread: {e}"),
            });
        }
        rx.await.map_err(|_| ReverseError::Failed {
            ip,
            reason: "the resolver thread panicked".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip() -> IpAddr {
        "192.0.2.1".parse().unwrap()
    }

    #[tokio::test]
    async fn pool_bound_counts_abandoned_threads() {
        let pool = ThreadPool::new(1);
        let timeout = Duration::from_millis(50);
        // The first job outlives its caller's deadline: abandoned, but it keeps the slot.
        let first = pool.run(ip(), Instant::now() + timeout, timeout, || {
            std::thread::sleep(Duration::from_millis(400))
        });
        assert!(tokio::time::timeout(timeout, first).await.is_err());
        let second = pool
            .run(ip(), Instant::now() + timeout, timeout, || 7)
            .await;
        assert!(matches!(second, Err(ReverseError::Busy { threads: 1, .. })));
        // Once the abandoned thread returns, the slot is free again (generous bound).
        let third = pool
            .run(
                ip(),
                Instant::now() + Duration::from_secs(10),
                timeout,
                || 7,
            )
            .await;
        assert_eq!(third, Ok(7));
    }

    #[test]
    fn backend_parses_and_displays() {
        for b in [Backend::Hickory, Backend::System] {
            assert_eq!(b.to_string().parse::<Backend>(), Ok(b));
        }
        assert!("bind".parse::<Backend>().is_err());
    }

    #[test]
    fn errors_read_as_sentences() {
        let e = ReverseError::NotConfirmed {
            ip: ip(),
            name: "a.test".into(),
            found: vec!["192.0.2.9".parse().unwrap()],
        };
        assert_eq!(
            e.to_string(),
            "a.test (the PTR name of 192.0.2.1) does not resolve back to 192.0.2.1 \
             (it resolves to 192.0.2.9)"
        );
        assert_eq!(e.kind(), "not-confirmed");
        let e = ReverseError::NotFound {
            ip: ip(),
            nxdomain: true,
        };
        assert_eq!(e.to_string(), "no PTR record for 192.0.2.1 (NXDOMAIN)");
    }
}
