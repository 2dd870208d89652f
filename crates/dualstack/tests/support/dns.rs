//! A fake DNS server on loopback, so tests never touch real DNS.
//!
//! The zone is built in code (A, AAAA, CNAME, PTR, and HTTPS/SVCB from their zone-file
//! data). Every (name, record type) pair can have its own delay, can
//! answer SERVFAIL, or can never answer at all; unknown names get NXDOMAIN, known names
//! without records of the asked type get an empty NOERROR answer (NODATA). Every query
//! is answered on its own task, so a 2 s AAAA answer does not hold back the A answer, and
//! every query received is logged with its arrival time so a test can check e.g. that
//! A and AAAA were sent as separate, concurrent queries.
//!
//! The server speaks UDP and TCP (RFC 1035 §4.2.2 length-prefixed) on the same port and
//! stops when the [`FakeDns`] is dropped. Delays use `tokio::time`, so they follow a
//! paused clock too.
//!
//! ```ignore
//! mod support;
//! use std::time::Duration;
//! use support::dns::{FakeDns, RecordType, Zone};
//!
//! let dns = FakeDns::start(
//!     "127.0.0.1:0".parse()?,
//!     Zone::new()
//!         .aaaa("h.test", "::1", Duration::from_secs(2))
//!         .a("h.test", "127.0.0.1", Duration::ZERO)
//!         .ptr("192.0.2.1", "h.test")
//!         .https("_8080._https.h.test", "1 . port=8081 ipv6hint=::1", Duration::ZERO)
//!         .never("slow.test", RecordType::AAAA),
//! )
//! .await?;
//! let resolver = dns.resolver(); // hickory TokioResolver that asks only `dns.addr()`
//! let answer = resolver.lookup_ip("h.test.").await?;
//! assert!(dns.queries().iter().any(|q| q.name == "h.test" && q.rtype == RecordType::AAAA));
//! ```
//!
//! hickory answers some names itself without asking any server (RFC 6761): `localhost`,
//! PTR for 127.0.0.0/8 and `::1`, `*.invalid`, `*.onion`, `*.local`. Use other names and
//! documentation addresses (`192.0.2.1`, `2001:db8::1`) for PTR tests.
//!
//! To build your own hickory-resolver 0.26 configuration pointed at the server (no
//! /etc/resolv.conf, no /etc/hosts, no cache, short timeout):
//!
//! ```ignore
//! use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
//! use hickory_resolver::net::runtime::TokioRuntimeProvider;
//! use hickory_resolver::TokioResolver;
//!
//! let mut udp = ConnectionConfig::udp();
//! udp.port = dns.addr().port();
//! let mut tcp = ConnectionConfig::tcp();
//! tcp.port = dns.addr().port();
//! let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
//!     dns.addr().ip(), true, vec![udp, tcp],
//! )]);
//! let mut opts = support::dns::test_resolver_opts(); // or ResolverOpts::default() + edits
//! opts.timeout = Duration::from_millis(300);
//! let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
//!     .with_options(opts)
//!     .build()?;
//! ```
//! ([`FakeDns::resolver_config`] returns that `ResolverConfig`.)
#![allow(dead_code)] // each test crate uses a different part of this module

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use hickory_proto::rr::RecordType;

use hickory_proto::op::{Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, HTTPS, PTR, SVCB};
use hickory_proto::rr::{Name, RData, Record};
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
    ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Largest TCP message we accept (RFC 1035 allows 65535; queries are tiny).
const MAX_TCP_MESSAGE: usize = 65_535;
/// How many CNAMEs we follow inside the zone before giving up (loops are a test bug).
const MAX_CNAME_CHAIN: usize = 8;
/// Queries kept in the log; older ones are dropped so a long benchmark stays bounded.
const MAX_LOG: usize = 100_000;

/// What the server does with one (name, record type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer with the records (or NODATA / NXDOMAIN) after the delay.
    Answer,
    /// Answer SERVFAIL after the delay.
    ServFail,
    /// Never send anything: the client must time out.
    Never,
}

#[derive(Debug, Clone)]
struct Entry {
    records: Vec<RData>,
    delay: Duration,
    behaviour: Behaviour,
}

impl Default for Entry {
    fn default() -> Self {
        Entry {
            records: Vec::new(),
            delay: Duration::ZERO,
            behaviour: Behaviour::Answer,
        }
    }
}

/// A zone built in code. Names are case-insensitive and written without the final dot
/// (`"h.test"`; a trailing dot is accepted and ignored).
///
/// The builder methods panic on an invalid name or address literal: they are for test
/// code, where that is a bug in the test. [`Zone::record`] takes ready-made data.
#[derive(Debug, Clone)]
pub struct Zone {
    entries: HashMap<(String, RecordType), Entry>,
    ttl: u32,
}

impl Default for Zone {
    fn default() -> Self {
        Zone::new()
    }
}

impl Zone {
    /// An empty zone: every name is NXDOMAIN. Records get a TTL of 60 s.
    pub fn new() -> Self {
        Zone {
            entries: HashMap::new(),
            ttl: 60,
        }
    }

    /// Sets the TTL of every answer (seconds).
    pub fn ttl(mut self, ttl: u32) -> Self {
        self.ttl = ttl;
        self
    }

    /// Adds one record of any type to `name`, and sets the delay of the whole
    /// (name, type) answer to `delay` (the last call for a pair wins).
    pub fn record(mut self, name: &str, rdata: RData, delay: Duration) -> Self {
        let e = self.entry(name, rdata.record_type());
        e.records.push(rdata);
        e.delay = delay;
        self
    }

    /// Adds an A record, answered after `delay`.
    pub fn a(self, name: &str, ip: &str, delay: Duration) -> Self {
        let ip = ip
            .parse()
            .unwrap_or_else(|_| panic!("bad IPv4 literal {ip:?}"));
        self.record(name, RData::A(A(ip)), delay)
    }

    /// Adds an AAAA record, answered after `delay`.
    pub fn aaaa(self, name: &str, ip: &str, delay: Duration) -> Self {
        let ip = ip
            .parse()
            .unwrap_or_else(|_| panic!("bad IPv6 literal {ip:?}"));
        self.record(name, RData::AAAA(AAAA(ip)), delay)
    }

    /// Adds an HTTPS record (RFC 9460) to `name`, given as its zone-file data
    /// (`"1 . alpn=h2 port=8080 ipv4hint=198.51.100.10"`, `"0 svc.test."` for AliasMode),
    /// and sets the delay of the (name, HTTPS) answer. For a port other than 443 the
    /// name is `_PORT._https.HOST` (RFC 9460 §9.1); the answer's owner is always the
    /// question's own name, as strict resolvers require.
    pub fn https(self, name: &str, data: &str, delay: Duration) -> Self {
        let rdata = svcb_rdata(RecordType::HTTPS, data)
            .unwrap_or_else(|e| panic!("bad HTTPS data {data:?}: {e}"));
        self.record(name, rdata, delay)
    }

    /// Adds a SVCB record (RFC 9460) to `name`, like [`Zone::https`].
    pub fn svcb(self, name: &str, data: &str, delay: Duration) -> Self {
        let rdata = svcb_rdata(RecordType::SVCB, data)
            .unwrap_or_else(|e| panic!("bad SVCB data {data:?}: {e}"));
        self.record(name, rdata, delay)
    }

    /// Adds a PTR record for `ip` (IPv4 or IPv6) pointing at `name`, answered at once.
    pub fn ptr(self, ip: &str, name: &str) -> Self {
        self.ptr_delayed(ip, name, Duration::ZERO)
    }

    /// Adds a PTR record for `ip` pointing at `name`, answered after `delay`.
    pub fn ptr_delayed(self, ip: &str, name: &str, delay: Duration) -> Self {
        let owner = reverse_name(ip);
        self.record(&owner, RData::PTR(PTR(dns_name(name))), delay)
    }

    /// Makes `alias` a CNAME for `target`. Queries of other types for `alias` are
    /// answered with the CNAME plus the target's records of that type (followed inside
    /// this zone), like a recursive resolver would.
    pub fn cname(self, alias: &str, target: &str) -> Self {
        self.record(alias, RData::CNAME(CNAME(dns_name(target))), Duration::ZERO)
    }

    /// Delays the answer for (name, type) without adding records (works for NODATA too).
    pub fn delay(mut self, name: &str, rtype: RecordType, delay: Duration) -> Self {
        self.entry(name, rtype).delay = delay;
        self
    }

    /// Never answers queries for (name, type).
    pub fn never(mut self, name: &str, rtype: RecordType) -> Self {
        self.entry(name, rtype).behaviour = Behaviour::Never;
        self
    }

    /// Never answers PTR queries for `ip`.
    pub fn never_ptr(self, ip: &str) -> Self {
        let owner = reverse_name(ip);
        self.never(&owner, RecordType::PTR)
    }

    /// Answers SERVFAIL to queries for (name, type).
    pub fn servfail(mut self, name: &str, rtype: RecordType) -> Self {
        self.entry(name, rtype).behaviour = Behaviour::ServFail;
        self
    }

    fn entry(&mut self, name: &str, rtype: RecordType) -> &mut Entry {
        self.entries.entry((key(name), rtype)).or_default()
    }

    fn name_exists(&self, name: &str) -> bool {
        self.entries.keys().any(|(n, _)| n == name)
    }

    /// The answer to one question: (delay, behaviour, rcode, answer records).
    fn answer(
        &self,
        qname: &Name,
        rtype: RecordType,
    ) -> (Duration, Behaviour, ResponseCode, Vec<Record>) {
        let name = key(&qname.to_ascii());
        let entry = self.entries.get(&(name.clone(), rtype));
        let delay = entry.map_or(Duration::ZERO, |e| e.delay);
        let behaviour = entry.map_or(Behaviour::Answer, |e| e.behaviour);
        if behaviour != Behaviour::Answer {
            return (delay, behaviour, ResponseCode::ServFail, Vec::new());
        }
        let mut answers = Vec::new();
        let mut owner = qname.clone();
        let mut current = name;
        for _ in 0..MAX_CNAME_CHAIN {
            if let Some(e) = self.entries.get(&(current.clone(), rtype)) {
                answers.extend(
                    e.records
                        .iter()
                        .map(|r| Record::from_rdata(owner.clone(), self.ttl, r.clone())),
                );
                break;
            }
            let cname = self
                .entries
                .get(&(current.clone(), RecordType::CNAME))
                .and_then(|e| e.records.first().cloned());
            match cname {
                Some(RData::CNAME(CNAME(target))) if rtype != RecordType::CNAME => {
                    answers.push(Record::from_rdata(
                        owner.clone(),
                        self.ttl,
                        RData::CNAME(CNAME(target.clone())),
                    ));
                    current = key(&target.to_ascii());
                    owner = target;
                }
                _ => break,
            }
        }
        let rcode = if answers.is_empty() && !self.name_exists(&current) {
            ResponseCode::NXDomain
        } else {
            ResponseCode::NoError
        };
        (delay, behaviour, rcode, answers)
    }
}

/// How a query reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A UDP datagram.
    Udp,
    /// A length-prefixed message on a TCP connection.
    Tcp,
}

/// One query the server received.
#[derive(Debug, Clone)]
pub struct LoggedQuery {
    /// The name asked, lower case, without the final dot (`"h.test"`).
    pub name: String,
    /// The record type asked.
    pub rtype: RecordType,
    /// When it arrived (`tokio::time::Instant`, so it follows a paused clock).
    pub at: Instant,
    /// UDP or TCP.
    pub transport: Transport,
    /// The client's address.
    pub from: SocketAddr,
}

#[derive(Debug)]
struct Shared {
    zone: Mutex<Zone>,
    log: Mutex<Vec<LoggedQuery>>,
}

/// A running fake DNS server (UDP and TCP on the same port). Stops when dropped.
pub struct FakeDns {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl fmt::Debug for FakeDns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeDns")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl FakeDns {
    /// Binds UDP and TCP on `addr` (port 0 picks a free port, the same for both) and
    /// starts serving `zone` on the current tokio runtime.
    ///
    /// # Errors
    /// The bind errors.
    pub async fn start(addr: SocketAddr, zone: Zone) -> io::Result<FakeDns> {
        let (udp, tcp) = bind_pair(addr).await?;
        let addr = udp.local_addr()?;
        let shared = Arc::new(Shared {
            zone: Mutex::new(zone),
            log: Mutex::new(Vec::new()),
        });
        let tasks = vec![
            tokio::spawn(serve_udp(Arc::new(udp), shared.clone())),
            tokio::spawn(serve_tcp(tcp, shared.clone())),
        ];
        Ok(FakeDns {
            addr,
            shared,
            tasks,
        })
    }

    /// The address both the UDP and the TCP sockets are bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every query received so far, oldest first.
    pub fn queries(&self) -> Vec<LoggedQuery> {
        self.shared.log.lock().unwrap().clone()
    }

    /// The queries received so far for (name, type).
    pub fn queries_for(&self, name: &str, rtype: RecordType) -> Vec<LoggedQuery> {
        let name = key(name);
        self.queries()
            .into_iter()
            .filter(|q| q.name == name && q.rtype == rtype)
            .collect()
    }

    /// Forgets the logged queries.
    pub fn clear_log(&self) {
        self.shared.log.lock().unwrap().clear();
    }

    /// Replaces the zone; queries already waiting out their delay keep their old answer.
    pub fn set_zone(&self, zone: Zone) {
        *self.shared.zone.lock().unwrap() = zone;
    }

    /// A hickory `ResolverConfig` whose only name server is this one (UDP, then TCP).
    pub fn resolver_config(&self) -> ResolverConfig {
        let mut udp = ConnectionConfig::udp();
        udp.port = self.addr.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = self.addr.port();
        ResolverConfig::from_name_servers(vec![NameServerConfig::new(
            self.addr.ip(),
            true,
            vec![udp, tcp],
        )])
    }

    /// A hickory `TokioResolver` that asks only this server, with [`test_resolver_opts`].
    pub fn resolver(&self) -> TokioResolver {
        self.resolver_with(test_resolver_opts())
    }

    /// A hickory `TokioResolver` that asks only this server, with the given options.
    pub fn resolver_with(&self, opts: ResolverOpts) -> TokioResolver {
        TokioResolver::builder_with_config(self.resolver_config(), TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .expect("a resolver config with one loopback name server is valid")
    }
}

/// Resolver options for tests: no cache, no /etc/hosts, one attempt with a 1 s timeout,
/// AAAA and A queried concurrently by `lookup_ip`, names taken as absolute (`ndots` 0).
pub fn test_resolver_opts() -> ResolverOpts {
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.timeout = Duration::from_secs(1);
    opts.attempts = 1;
    opts.ndots = 0;
    opts.ip_strategy = LookupIpStrategy::Ipv6AndIpv4;
    opts.edns0 = false;
    opts
}

/// Binds UDP on `addr` and TCP on the same port (retrying when port 0 picked a UDP port
/// whose TCP twin is taken).
async fn bind_pair(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind(addr).await?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port")))
}

async fn serve_udp(sock: Arc<UdpSocket>, shared: Arc<Shared>) {
    // Dropping this set (when the server task is aborted) aborts every pending answer.
    let mut answers = JoinSet::new();
    let mut buf = vec![0u8; 4096];
    loop {
        while answers.try_join_next().is_some() {}
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let Some((delay, reply)) = handle(&buf[..n], from, Transport::Udp, &shared) else {
            continue;
        };
        let sock = sock.clone();
        answers.spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = sock.send_to(&reply, from).await;
        });
    }
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let Ok((stream, from)) = listener.accept().await else {
            continue;
        };
        conns.spawn(serve_tcp_conn(stream, from, shared.clone()));
    }
}

async fn serve_tcp_conn(stream: TcpStream, from: SocketAddr, shared: Arc<Shared>) {
    let (mut rd, wr) = stream.into_split();
    let wr = Arc::new(tokio::sync::Mutex::new(wr));
    let mut answers = JoinSet::new();
    loop {
        while answers.try_join_next().is_some() {}
        let mut len = [0u8; 2];
        if rd.read_exact(&mut len).await.is_err() {
            break;
        }
        let len = usize::from(u16::from_be_bytes(len)).min(MAX_TCP_MESSAGE);
        let mut msg = vec![0u8; len];
        if rd.read_exact(&mut msg).await.is_err() {
            break;
        }
        let Some((delay, reply)) = handle(&msg, from, Transport::Tcp, &shared) else {
            continue;
        };
        let wr = wr.clone();
        answers.spawn(async move {
            tokio::time::sleep(delay).await;
            let Ok(len) = u16::try_from(reply.len()) else {
                return;
            };
            let mut framed = len.to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            let _ = wr.lock().await.write_all(&framed).await;
        });
    }
    // The client closed its side: let the answers still pending finish, then close.
    while answers.join_next().await.is_some() {}
}

/// Logs a query and builds its reply. `None`: drop it (malformed, or "never answer").
fn handle(
    bytes: &[u8],
    from: SocketAddr,
    transport: Transport,
    shared: &Shared,
) -> Option<(Duration, Vec<u8>)> {
    let request = Message::from_vec(bytes).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata = Metadata::response_from_request(&request.metadata);
    reply.metadata.authoritative = true;
    reply.queries = request.queries.clone();
    let Some(query) = request.queries.first() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return Some((Duration::ZERO, reply.to_vec().ok()?));
    };
    {
        let mut log = shared.log.lock().unwrap();
        if log.len() >= MAX_LOG {
            log.remove(0);
        }
        log.push(LoggedQuery {
            name: key(&query.name().to_ascii()),
            rtype: query.query_type(),
            at: Instant::now(),
            transport,
            from,
        });
    }
    if request.metadata.op_code != OpCode::Query {
        reply.metadata.response_code = ResponseCode::NotImp;
        return Some((Duration::ZERO, reply.to_vec().ok()?));
    }
    let (delay, behaviour, rcode, answers) = shared
        .zone
        .lock()
        .unwrap()
        .answer(query.name(), query.query_type());
    match behaviour {
        Behaviour::Never => return None,
        Behaviour::ServFail => reply.metadata.response_code = ResponseCode::ServFail,
        Behaviour::Answer => {
            reply.metadata.response_code = rcode;
            reply.answers = answers;
        }
    }
    Some((delay, reply.to_vec().ok()?))
}

/// The zone key of a name: lower case, no final dot.
fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn dns_name(name: &str) -> Name {
    let mut n = Name::from_ascii(name).unwrap_or_else(|e| panic!("bad DNS name {name:?}: {e}"));
    n.set_fqdn(true);
    n
}

/// HTTPS or SVCB record data from its zone-file form (`1 . alpn=h2 port=8080`).
///
/// # Errors
/// The parse error as text, or a type other than HTTPS/SVCB.
pub fn svcb_rdata(rtype: RecordType, data: &str) -> Result<RData, String> {
    if !matches!(rtype, RecordType::HTTPS | RecordType::SVCB) {
        return Err(format!("{rtype} is not HTTPS or SVCB"));
    }
    // The wire format wants the keys in increasing order (RFC 9460 §2.2); zone files may
    // list them in any order, and hickory's text parser keeps the order written.
    let sort = |mut s: SVCB| {
        s.svc_params.sort_by_key(|(k, _)| u16::from(*k));
        s
    };
    match RData::try_from_str(rtype, data).map_err(|e| e.to_string())? {
        RData::HTTPS(h) => Ok(RData::HTTPS(HTTPS(sort(h.0)))),
        RData::SVCB(s) => Ok(RData::SVCB(sort(s))),
        other => Ok(other),
    }
}

/// `"192.0.2.1"` → `"1.2.0.192.in-addr.arpa"` (and the ip6.arpa nibble form for IPv6).
pub fn reverse_name(ip: &str) -> String {
    let ip: IpAddr = ip
        .parse()
        .unwrap_or_else(|_| panic!("bad IP literal {ip:?}"));
    key(&Name::from(ip).to_ascii())
}
