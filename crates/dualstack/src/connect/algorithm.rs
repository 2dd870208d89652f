//! The Happy Eyeballs state machine (RFC 8305), driven by Tokio time so that paused-clock
//! tests see exact virtual times.
//!
//! One loop waits on four things at once: the next DNS answer, the next finished attempt,
//! the resolution-delay timer and the attempt-delay timer, all under the overall deadline.
//!
//! - §3: both queries go out together, AAAA first. If the preferred family's answer comes
//!   first, connecting starts at once; if the other family answers first, we wait up to the
//!   Resolution Delay (50 ms) for the preferred one, then start with what we have.
//! - §4: addresses are ordered with the preferred family first (IPv6 unless history or the
//!   caller says otherwise), DNS order kept within a family, then the families interleaved
//!   after the "First Address Family Count" preferred ones. Answers that arrive late are
//!   merged into the addresses not yet tried, in their interleaved place.
//! - §5: one attempt at a time, the next one starting a Connection Attempt Delay (250 ms)
//!   after the previous, or at once when an attempt fails. Attempts in flight keep going;
//!   the first to connect wins and the others are dropped, which closes their sockets.
//! - An overall timeout bounds everything, DNS included. Every address's error is kept.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::time::{sleep_until, Instant};

use super::attempt::Attempt;
use super::cache::{History, OutcomeCache};
use super::error::{AttemptError, Cause, ConnectError, LookupOutcome, Reason};
use super::event::{EventKind, Recorder};
use super::resolver::{Answers, Resolve};
use super::Connection;
use crate::addr::{unmap, Family};

/// The settings the algorithm needs, copied from the `Connector`.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub attempt_delay: Duration,
    pub resolution_delay: Duration,
    pub first_family_count: usize,
    pub prefer: Family,
    pub family: Option<Family>,
    pub source: Option<IpAddr>,
    pub timeout: Duration,
    pub serial: bool,
    pub nat64: bool,
}

fn other(f: Family) -> Family {
    match f {
        Family::V4 => Family::V6,
        Family::V6 => Family::V4,
    }
}

fn idx(f: Family) -> usize {
    match f {
        Family::V6 => 0,
        Family::V4 => 1,
    }
}

/// The list of addresses not yet tried, per family, and the RFC 8305 §4 interleaving rule
/// that picks the next one. Picking lazily (instead of building one list up front) is
/// what lets a late answer slot into its interleaved place.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    queues: [VecDeque<IpAddr>; 2],
    prefer: Family,
    /// Preferred addresses still to pick before alternating (RFC 8305 §4).
    lead_left: usize,
    last: Option<Family>,
    seen: Vec<IpAddr>,
    demoted: Vec<IpAddr>,
}

impl Order {
    pub(crate) fn new(prefer: Family, first_family_count: usize, demoted: Vec<IpAddr>) -> Order {
        Order {
            queues: [VecDeque::new(), VecDeque::new()],
            prefer,
            lead_left: first_family_count.max(1),
            last: None,
            seen: Vec::new(),
            demoted,
        }
    }

    /// Add answers (DNS order kept); duplicates are dropped, addresses that failed last
    /// time go to the end of their family.
    pub(crate) fn add(&mut self, addrs: &[IpAddr]) {
        let mut late = Vec::new();
        for &ip in addrs {
            let ip = unmap(ip);
            if self.seen.contains(&ip) {
                continue;
            }
            self.seen.push(ip);
            if self.demoted.contains(&ip) {
                late.push(ip);
            } else {
                self.queues[idx(Family::of(ip))].push_back(ip);
            }
        }
        for ip in late {
            self.queues[idx(Family::of(ip))].push_back(ip);
        }
    }

    pub(crate) fn has_next(&self) -> bool {
        self.queues.iter().any(|q| !q.is_empty())
    }

    pub(crate) fn next(&mut self) -> Option<IpAddr> {
        let p = self.prefer;
        let fam = if self.lead_left > 0 && !self.queues[idx(p)].is_empty() {
            self.lead_left -= 1;
            p
        } else {
            // The leading run of preferred addresses is over for good: alternate.
            self.lead_left = 0;
            let want = if self.last == Some(p) { other(p) } else { p };
            if self.queues[idx(want)].is_empty() {
                other(want)
            } else {
                want
            }
        };
        let ip = self.queues[idx(fam)].pop_front()?;
        self.last = Some(fam);
        Some(ip)
    }

    /// The whole remaining order (consumes a copy).
    pub(crate) fn preview(&self) -> Vec<IpAddr> {
        let mut o = self.clone();
        std::iter::from_fn(|| o.next()).collect()
    }
}

/// Parse an IP literal host: `192.0.2.1`, `2001:db8::1`, `[2001:db8::1]`, `fe80::1%lo`.
/// Returns the unmapped address and the IPv6 scope id.
pub(crate) fn literal(host: &str) -> Option<(IpAddr, u32)> {
    let p = crate::addr::parse(host).ok()?;
    if p.port.is_some() {
        return None;
    }
    let scope = match &p.zone {
        None => 0,
        Some(z) => match z.parse::<u32>() {
            Ok(n) => n,
            Err(_) => nix::net::if_::if_nametoindex(z.as_str()).ok()?,
        },
    };
    Some((unmap(p.ip), scope))
}

fn socket_addr(ip: IpAddr, port: u16, scope: u32) -> SocketAddr {
    match ip {
        IpAddr::V6(v6) => SocketAddr::V6(std::net::SocketAddrV6::new(v6, port, 0, scope)),
        v4 => SocketAddr::new(v4, port),
    }
}

/// Families allowed by `family(...)` and the source address, AAAA first (§3).
pub(crate) fn allowed_families(p: &Params) -> Result<Vec<Family>, Reason> {
    let src = p.source.map(Family::of);
    match (p.family, src) {
        (Some(a), Some(b)) if a != b => Err(Reason::FamilyMismatch {
            family: p.family,
            source: p.source,
            literal: None,
        }),
        (Some(a), _) | (None, Some(a)) => Ok(vec![a]),
        (None, None) => Ok(vec![Family::V6, Family::V4]),
    }
}

async fn next_answer(s: &mut Option<Answers>) -> Option<super::resolver::Answer> {
    match s {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

type Inflight<S> = FuturesUnordered<BoxFuture<'static, (SocketAddr, std::io::Result<S>)>>;

struct Run<'a> {
    host: &'a str,
    port: u16,
    rec: Recorder,
    attempts: Vec<AttemptError>,
    lookups: Vec<LookupOutcome>,
}

impl Run<'_> {
    fn fail(mut self, reason: Reason) -> ConnectError {
        ConnectError {
            host: self.host.to_owned(),
            port: self.port,
            reason,
            elapsed: self.rec.elapsed(),
            events: self.rec.take(),
            attempts: self.attempts,
            lookups: self.lookups,
        }
    }
}

/// Connect to `host`:`port` the Happy Eyeballs way.
pub(crate) async fn run<A: Attempt>(
    p: &Params,
    host: &str,
    port: u16,
    resolver: &dyn Resolve,
    attempt: &A,
    cache: Option<&OutcomeCache>,
) -> Result<Connection<A::Stream>, ConnectError> {
    let start = Instant::now();
    let deadline = start + p.timeout;
    let span = tracing::debug_span!("connect", host, port);
    let _enter = span.enter();
    let mut run = Run {
        host,
        port,
        rec: Recorder::new(start),
        attempts: Vec::new(),
        lookups: Vec::new(),
    };

    let allowed = match allowed_families(p) {
        Ok(a) => a,
        Err(r) => return Err(run.fail(r)),
    };
    let host_t = host.trim();
    if host_t.is_empty() {
        return Err(run.fail(Reason::InvalidHost));
    }

    let mut prefer = if allowed.len() == 1 {
        allowed[0]
    } else {
        p.prefer
    };
    let mut scope = 0;
    let mut pending: Vec<Family> = Vec::new();
    let mut answers: Option<Answers> = None;
    let mut order;
    if let Some((ip, sc)) = literal(host_t) {
        scope = sc;
        run.rec.push(EventKind::Literal { ip });
        let mut ip = ip;
        if p.nat64 && ip.is_ipv4() && allowed.contains(&Family::V6) {
            if let Some((synth, prefix)) = super::nat64::translate_if_needed(ip, resolver).await {
                run.rec.push(EventKind::Nat64 {
                    ip,
                    synthesized: synth,
                    prefix,
                });
                ip = synth;
            }
        }
        if !allowed.contains(&Family::of(ip)) {
            return Err(run.fail(Reason::FamilyMismatch {
                family: p.family,
                source: p.source,
                literal: Some(ip),
            }));
        }
        order = Order::new(Family::of(ip), 1, Vec::new());
        order.add(&[ip]);
    } else {
        let history: Option<History> = cache.and_then(|c| c.get(host_t, port));
        let mut demoted = Vec::new();
        if let Some(h) = history {
            if let Some(f) = h.prefer.filter(|f| allowed.contains(f)) {
                prefer = f;
            }
            run.rec.push(EventKind::CacheHit {
                prefer,
                age: h.age,
                demoted: h.demoted.clone(),
            });
            demoted = h.demoted;
        }
        order = Order::new(prefer, p.first_family_count, demoted);
        answers = Some(resolver.resolve(host_t, &allowed));
        for &f in &allowed {
            run.rec.push(EventKind::QuerySent { family: f });
        }
        pending = allowed.clone();
    }

    let mut connecting = false;
    let mut res_deadline: Option<Instant> = None;
    let mut next_at = start;
    let mut inflight: Inflight<A::Stream> = FuturesUnordered::new();
    let mut active: Vec<(SocketAddr, Duration)> = Vec::new();

    loop {
        let now = Instant::now();
        if !connecting {
            if pending.is_empty() {
                connecting = true;
            } else if order.has_next() && !p.serial {
                if !pending.contains(&prefer) {
                    // §3: the preferred family answered with addresses: go now.
                    connecting = true;
                } else if res_deadline.is_none() {
                    // §3: the other family answered first: give the preferred one a moment.
                    res_deadline = Some(now + p.resolution_delay);
                    run.rec.push(EventKind::ResolutionDelay {
                        waiting_for: prefer,
                        delay: p.resolution_delay,
                    });
                    if p.resolution_delay.is_zero() {
                        connecting = true;
                    }
                }
            }
        }

        if connecting && (inflight.is_empty() || (!p.serial && now >= next_at)) {
            if let Some(ip) = order.next() {
                let addr = socket_addr(ip, port, if ip.is_ipv6() { scope } else { 0 });
                run.rec.push(EventKind::AttemptStarted { addr });
                active.push((addr, run.rec.elapsed()));
                let fut = attempt.connect(addr, p.source);
                inflight.push(async move { (addr, fut.await) }.boxed());
                next_at = now + p.attempt_delay;
            }
        }

        if inflight.is_empty() && !order.has_next() && pending.is_empty() {
            let reason = if !run.attempts.is_empty() {
                Reason::AllFailed
            } else if allowed.len() == 1 {
                Reason::NoneOfFamily {
                    family: allowed[0],
                    source: p.source.filter(|_| p.family.is_none()),
                }
            } else {
                Reason::NoAddresses
            };
            if let Some(c) = cache.filter(|_| answers.is_some()) {
                let bad: Vec<IpAddr> = run.attempts.iter().map(|a| a.addr.ip()).collect();
                c.record(host_t, port, None, &bad);
            }
            return Err(run.fail(reason));
        }

        let can_stagger = connecting && !p.serial && !inflight.is_empty() && order.has_next();
        tokio::select! {
            biased;
            _ = sleep_until(deadline) => {
                let ended = run.rec.elapsed();
                for (addr, started) in active.drain(..) {
                    run.rec.push(EventKind::Cancelled { addr, reason: "overall timeout".into() });
                    run.attempts.push(AttemptError { addr, started: Some(started), ended, cause: Cause::TimedOut });
                }
                drop(inflight);
                while let Some(ip) = order.next() {
                    let addr = socket_addr(ip, port, if ip.is_ipv6() { scope } else { 0 });
                    run.attempts.push(AttemptError { addr, started: None, ended, cause: Cause::NotTried });
                }
                for f in pending.drain(..) {
                    run.lookups.push(LookupOutcome { family: f, addrs: Vec::new(), error: Some("no answer before the overall timeout".into()) });
                }
                run.rec.push(EventKind::TimedOut { timeout: p.timeout });
                if let Some(c) = cache.filter(|_| answers.is_some()) {
                    let bad: Vec<IpAddr> = run.attempts.iter().filter(|a| a.started.is_some()).map(|a| a.addr.ip()).collect();
                    if !bad.is_empty() {
                        c.record(host_t, port, None, &bad);
                    }
                }
                return Err(run.fail(Reason::TimedOut { timeout: p.timeout }));
            }
            // Answers before attempt results: an answer that arrived at the same
            // instant must be in the list before the next address is picked.
            ans = next_answer(&mut answers), if !pending.is_empty() => {
                match ans {
                    Some(a) => {
                        pending.retain(|f| *f != a.family);
                        let (addrs, error) = match a.result {
                            Ok(v) => (v.into_iter().map(unmap).filter(|ip| Family::of(*ip) == a.family).collect::<Vec<_>>(), None),
                            Err(e) => (Vec::new(), Some(e.to_string())),
                        };
                        run.rec.push(EventKind::Answer { family: a.family, addrs: addrs.clone(), error: error.clone() });
                        run.lookups.push(LookupOutcome { family: a.family, addrs: addrs.clone(), error });
                        order.add(&addrs);
                    }
                    None => {
                        for f in pending.drain(..) {
                            run.lookups.push(LookupOutcome { family: f, addrs: Vec::new(), error: Some("the resolver gave no answer".into()) });
                        }
                    }
                }
            }
            Some((addr, res)) = inflight.next(), if !inflight.is_empty() => {
                let pos = active.iter().position(|(a, _)| *a == addr);
                let started = pos.map(|i| active.remove(i).1).unwrap_or_default();
                match res {
                    Ok(stream) => {
                        let elapsed = run.rec.elapsed();
                        let rtt = elapsed.saturating_sub(started);
                        let local = attempt
                            .local_addr(&stream)
                            .map(crate::addr::unmap_socket)
                            .unwrap_or_else(|_| SocketAddr::new(unspecified(addr.ip()), 0));
                        let peer = crate::addr::unmap_socket(addr);
                        run.rec.push(EventKind::Connected { addr: peer, local, rtt });
                        // The losers: dropping their futures closes their sockets.
                        drop(inflight);
                        let mut slow = Vec::new();
                        for (a, s) in active.drain(..) {
                            run.rec.push(EventKind::Cancelled { addr: a, reason: format!("{peer} won") });
                            if s < started {
                                slow.push(a.ip());
                            }
                        }
                        if let Some(c) = cache.filter(|_| answers.is_some()) {
                            let mut bad: Vec<IpAddr> = run.attempts.iter().map(|a| a.addr.ip()).collect();
                            bad.extend(slow);
                            c.record(host_t, port, Some((peer, rtt)), &bad);
                        }
                        return Ok(Connection {
                            stream,
                            peer,
                            local,
                            elapsed,
                            events: run.rec.take(),
                        });
                    }
                    Err(e) => {
                        run.rec.push(EventKind::AttemptFailed { addr, error: e.to_string() });
                        run.attempts.push(AttemptError {
                            addr,
                            started: Some(started),
                            ended: run.rec.elapsed(),
                            cause: Cause::io(&e),
                        });
                        // §5: a failed attempt frees the slot: the next one starts now.
                        next_at = Instant::now();
                    }
                }
            }
            _ = sleep_until(res_deadline.unwrap_or(deadline)), if res_deadline.is_some() && !connecting => {
                connecting = true;
                run.rec.push(EventKind::ResolutionDelayExpired { waiting_for: prefer });
            }
            _ = sleep_until(next_at), if can_stagger => {}
        }
    }
}

fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(s: &[&str]) -> Vec<IpAddr> {
        s.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn interleaves_with_first_family_count_one() {
        let mut o = Order::new(Family::V6, 1, Vec::new());
        o.add(&ips(&["2001:db8::1", "2001:db8::2", "2001:db8::3"]));
        o.add(&ips(&["192.0.2.1", "192.0.2.2"]));
        assert_eq!(
            o.preview(),
            ips(&[
                "2001:db8::1",
                "192.0.2.1",
                "2001:db8::2",
                "192.0.2.2",
                "2001:db8::3"
            ])
        );
    }

    #[test]
    fn first_family_count_two() {
        let mut o = Order::new(Family::V6, 2, Vec::new());
        o.add(&ips(&[
            "2001:db8::1",
            "2001:db8::2",
            "2001:db8::3",
            "192.0.2.1",
            "192.0.2.2",
        ]));
        assert_eq!(
            o.preview(),
            ips(&[
                "2001:db8::1",
                "2001:db8::2",
                "192.0.2.1",
                "2001:db8::3",
                "192.0.2.2"
            ])
        );
    }

    #[test]
    fn late_answer_slots_into_its_interleaved_place() {
        let mut o = Order::new(Family::V6, 1, Vec::new());
        o.add(&ips(&["192.0.2.1", "192.0.2.2"]));
        assert_eq!(o.next(), Some("192.0.2.1".parse().unwrap()));
        o.add(&ips(&["2001:db8::1", "2001:db8::2"]));
        assert_eq!(
            o.preview(),
            ips(&["2001:db8::1", "192.0.2.2", "2001:db8::2"])
        );
    }

    #[test]
    fn prefer_ipv4_and_demoted_addresses_go_last() {
        let mut o = Order::new(Family::V4, 1, ips(&["192.0.2.1"]));
        o.add(&ips(&[
            "2001:db8::1",
            "192.0.2.1",
            "192.0.2.2",
            "192.0.2.2",
        ]));
        assert_eq!(o.preview(), ips(&["192.0.2.2", "2001:db8::1", "192.0.2.1"]));
    }

    #[test]
    fn literals() {
        assert_eq!(literal("[::1]"), Some(("::1".parse().unwrap(), 0)));
        assert_eq!(
            literal("::ffff:192.0.2.1"),
            Some(("192.0.2.1".parse().unwrap(), 0))
        );
        assert_eq!(literal("fe80::1%1"), Some(("fe80::1".parse().unwrap(), 1)));
        assert_eq!(literal("example.com"), None);
        assert_eq!(literal("192.0.2.1:80"), None);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn addr(v6: bool, n: u8) -> IpAddr {
            if v6 {
                IpAddr::V6(std::net::Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    0,
                    0,
                    0,
                    0,
                    0,
                    u16::from(n),
                ))
            } else {
                IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, n))
            }
        }

        proptest! {
            /// Whatever arrives, in whatever batches: every address is tried exactly once,
            /// DNS order is kept within a family, the preferred family goes first, and
            /// the families alternate once the leading run is over (RFC 8305 §4).
            #[test]
            fn order_invariants(
                batches in proptest::collection::vec(
                    proptest::collection::vec((any::<bool>(), 0u8..16), 0..8), 1..4),
                prefer_v6 in any::<bool>(),
                fafc in 1usize..4,
            ) {
                let prefer = if prefer_v6 { Family::V6 } else { Family::V4 };
                let mut o = Order::new(prefer, fafc, Vec::new());
                let mut all: Vec<IpAddr> = Vec::new();
                for b in &batches {
                    let ips: Vec<IpAddr> = b.iter().map(|(v6, n)| addr(*v6, *n)).collect();
                    o.add(&ips);
                    for ip in ips {
                        if !all.contains(&ip) {
                            all.push(ip);
                        }
                    }
                }
                let got = o.preview();
                prop_assert_eq!(got.len(), all.len());
                for f in [Family::V4, Family::V6] {
                    let want: Vec<IpAddr> = all.iter().copied().filter(|a| Family::of(*a) == f).collect();
                    let have: Vec<IpAddr> = got.iter().copied().filter(|a| Family::of(*a) == f).collect();
                    prop_assert_eq!(want, have);
                }
                if all.iter().any(|a| Family::of(*a) == prefer) {
                    prop_assert_eq!(Family::of(got[0]), prefer);
                }
                // After the leading run, no two consecutive addresses share a family
                // while both families still have addresses left.
                let lead = got.iter().take_while(|a| Family::of(**a) == prefer).count().min(fafc);
                for i in lead.max(1)..got.len() {
                    let rest_has_both = got[i..].iter().any(|a| Family::of(*a) == Family::V4)
                        && got[i..].iter().any(|a| Family::of(*a) == Family::V6);
                    if rest_has_both {
                        prop_assert_ne!(Family::of(got[i]), Family::of(got[i - 1]));
                    }
                }
            }

            /// The hosts-file parser never panics and only returns names it was given.
            #[test]
            fn hosts_parser_total(text in "\\PC{0,300}") {
                for (_, names) in crate::connect::resolver::parse_hosts(&text) {
                    prop_assert!(!names.is_empty());
                }
            }
        }
    }
}
