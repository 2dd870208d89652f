//! The Tokio driver of the sans-IO machine ([`dualstack_eyeballs::HappyEyeballs`]), shared
//! by [`Connector::connect`](super::Connector::connect) and
//! [`Connector::resolve`](super::Connector::resolve): it sends the queries, makes the
//! attempts, cancels the losers, and sleeps until the machine's next timeout. Every
//! decision (RFC 8305 §3–§5, the order, history, NAT64 synthesis) is the machine's.
//!
//! `now` comes from Tokio's clock (`tokio::time::Instant::into_std`), so on a paused test
//! clock every offset is exact virtual time.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::Poll;

use dualstack_eyeballs::{
    Action, AttemptEnd, AttemptId, Config, FamilyAnswer, HappyEyeballs, Input, Mode, Outcome,
    Protocol, Target, TraceKind,
};
use futures_util::future::{AbortHandle, Abortable, Aborted, BoxFuture};
use futures_util::stream::{self, BoxStream, FuturesUnordered, SelectAll, StreamExt};
use futures_util::{FutureExt, TryFutureExt};
use tokio::time::{sleep_until, Instant};

use super::attempt::Attempt;
use super::cache::OutcomeCache;
use super::error::{AttemptError, Cause, ConnectError, Reason};
use super::event::{unspecified, EventKind, Recorder};
use super::resolver::{Answers, Resolve};
use super::svcb::{HttpsAnswer, ServiceRecord};
use super::{Connection, Resolution};
use crate::addr::unmap;

/// Parse an IP literal host: `192.0.2.1`, `2001:db8::1`, `[2001:db8::1]`, `fe80::1%lo`.
/// Returns the unmapped address and the IPv6 scope id. A zone naming no interface makes
/// it no literal (it is then looked up as a name, and fails there).
pub(crate) fn literal(host: &str) -> Option<(IpAddr, u32)> {
    let p = crate::addr::parse(host).ok()?;
    if p.port.is_some() {
        return None;
    }
    let scope = match &p.zone {
        None => 0,
        Some(z) => crate::addr::scope_id(z).ok()?,
    };
    Some((unmap(p.ip), scope))
}

/// Check the host as given before anything is sent: the rules of
/// [`host::parse`](crate::host::parse) (IDNA, lengths, brackets, zones).
fn check_host(host: &str) -> Result<(), Reason> {
    crate::host::parse(host)
        .map(|_| ())
        .map_err(|e| Reason::InvalidHost { cause: Some(e) })
}

/// What a run is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Run {
    /// Resolve and connect.
    Connect,
    /// Resolve only, waiting for every answer (the machine's [`Mode::Resolve`]).
    ResolveAll,
    /// Resolve only, ending where a connect would start its first attempt (RFC 8305 §3:
    /// the preferred family answered, or the other one did and the Resolution Delay ran
    /// out). The machine runs as for a connect; every attempt it starts is reported
    /// failed at once, so it hands out the rest of the addresses it has, in its order,
    /// at the same instant. No attempt is made, nothing is remembered.
    ResolveEarly,
}

/// What a run produced.
pub(crate) enum Finished<S> {
    Connected(Connection<S>),
    Resolved(Resolution),
}

/// The winning attempt's connection: from the TCP attempt or the QUIC one.
pub(crate) enum Won<T, Q> {
    Tcp(T),
    Quic(Q),
}

/// The QUIC side of a run that makes no QUIC attempts (the machine is told so).
#[derive(Debug)]
pub(crate) enum NoQuic {}

impl Attempt for NoQuic {
    type Stream = NoQuic;

    fn connect(&self, _: SocketAddr, _: Option<IpAddr>) -> BoxFuture<'static, io::Result<NoQuic>> {
        match *self {}
    }

    fn local_addr(&self, s: &NoQuic) -> io::Result<SocketAddr> {
        match *s {}
    }
}

/// The attempt that connected, its connection and its local address.
type Winner<S> = (AttemptId, S, SocketAddr);
type AttemptResult<S> = (AttemptId, SocketAddr, Result<io::Result<S>, Aborted>);
type Inflight<S> = FuturesUnordered<BoxFuture<'static, AttemptResult<S>>>;
/// The A/AAAA answers of service targets (RFC 9460 §7.3), tagged with the name; `None`
/// marks the end of a name's stream.
type TargetAnswers = SelectAll<BoxStream<'static, (String, Option<super::resolver::Answer>)>>;
type Nat64Lookup<'a> = Pin<Box<dyn Future<Output = Option<(Ipv6Addr, u8)>> + Send + 'a>>;

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Drive one run of the machine to its end, TCP attempts only.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run<A: Attempt>(
    cfg: &Config,
    run: Run,
    host: &str,
    port: u16,
    resolver: &dyn Resolve,
    attempt: &A,
    cache: Option<&OutcomeCache>,
) -> Result<Finished<A::Stream>, ConnectError> {
    let none: Option<&NoQuic> = None;
    Ok(
        match run_racing(cfg, run, host, port, resolver, attempt, none, cache).await? {
            Finished::Connected(c) => Finished::Connected(c.map(|w| match w {
                Won::Tcp(s) => s,
                Won::Quic(q) => match q {},
            })),
            Finished::Resolved(r) => Finished::Resolved(r),
        },
    )
}

/// Drive one run of the machine to its end; with `quic`, the machine may also ask for
/// QUIC attempts (made with it) and either kind can win.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_racing<A: Attempt, Q: Attempt>(
    cfg: &Config,
    run: Run,
    host: &str,
    port: u16,
    resolver: &dyn Resolve,
    attempt: &A,
    quic: Option<&Q>,
    cache: Option<&OutcomeCache>,
) -> Result<Finished<Won<A::Stream, Q::Stream>>, ConnectError> {
    let mut cfg = cfg.clone();
    cfg.quic = quic.is_some();
    let cfg = &cfg;
    let start = now();
    let mut rec = Recorder::default();
    let fail = |reason: Reason, rec: &mut Recorder| ConnectError {
        elapsed: now().saturating_duration_since(start),
        ..ConnectError::early(host, port, reason, rec.take())
    };
    let host_t = host.trim();
    if cfg.allowed_families().is_some() {
        if let Err(r) = check_host(host_t) {
            return Err(fail(r, &mut rec));
        }
    }
    let (target, history) = match literal(host_t) {
        Some((ip, scope_id)) => (Target::Literal { ip, scope_id }, None),
        None => (Target::Name, cache.and_then(|c| c.get(host_t, port))),
    };
    let rtt = cache.map(OutcomeCache::rtt_estimates).unwrap_or_default();
    let early = run == Run::ResolveEarly;
    let mode = match run {
        Run::ResolveAll => Mode::Resolve,
        Run::Connect | Run::ResolveEarly => Mode::Connect,
    };
    let literal_target = matches!(target, Target::Literal { .. });
    let mut m = HappyEyeballs::new(cfg, mode, target, port, history, start).with_rtt(rtt);
    if cfg.svcb {
        m = m.with_svcb(host_t);
    }
    let mut https: Option<BoxFuture<'static, HttpsAnswer>> = None;
    let mut https_answer: Option<HttpsAnswer> = None;

    let mut answers: Option<Answers> = None;
    let mut targets: TargetAnswers = SelectAll::new();
    let mut targets_open: Vec<(String, crate::addr::Family)> = Vec::new();
    let mut nat64: Option<Nat64Lookup<'_>> = None;
    let mut inflight: Inflight<Won<A::Stream, Q::Stream>> = FuturesUnordered::new();
    let mut aborts: HashMap<AttemptId, AbortHandle> = HashMap::new();
    let mut causes: HashMap<AttemptId, Cause> = HashMap::new();
    let mut winner: Option<Winner<Won<A::Stream, Q::Stream>>> = None;
    // ResolveEarly: the addresses handed out so far, and the answers seen.
    let mut cut: Vec<IpAddr> = Vec::new();
    let mut seen: Vec<FamilyAnswer> = Vec::new();

    loop {
        let t = now();
        let mut queries = Vec::new();
        while let Some(action) = m.poll_action(t) {
            match action {
                Action::StartAttempt { id, addr, .. } if early => {
                    // An address can come twice (a QUIC and a TCP attempt): list it once.
                    let ip = unmap(addr.ip());
                    if !cut.contains(&ip) {
                        cut.push(ip);
                    }
                    m.handle(
                        t,
                        Input::Failed {
                            id,
                            error: String::new(),
                        },
                    );
                }
                Action::Trace(tr) if early => {
                    if let TraceKind::Answer {
                        family,
                        addrs,
                        error,
                    } = &tr.kind
                    {
                        seen.push(FamilyAnswer {
                            family: *family,
                            addrs: addrs.clone(),
                            error: error.clone(),
                            elapsed: Some(tr.at),
                        });
                    }
                    let attempt_step = matches!(
                        tr.kind,
                        TraceKind::AttemptStarted { .. }
                            | TraceKind::AttemptDelay { .. }
                            | TraceKind::AttemptFailed { .. }
                    );
                    if !attempt_step && cut.is_empty() {
                        if let Some(kind) = EventKind::from_trace(tr.kind, None) {
                            rec.push(tr.at, kind);
                        }
                    }
                }
                Action::Remember { .. } if early => {}
                Action::Done(_) if early && !cut.is_empty() => break,
                Action::SendQuery { family } => queries.push(family),
                Action::SendHttpsQuery => https = Some(resolver.https(host_t, port)),
                Action::ResolveTarget { name, families } => {
                    targets_open.extend(families.iter().map(|f| (name.clone(), *f)));
                    let tag = name.clone();
                    let end = stream::once(std::future::ready((name.clone(), None)));
                    let s = resolver.resolve(&name, &families);
                    targets.push(s.map(move |a| (tag.clone(), Some(a))).chain(end).boxed());
                }
                Action::DiscoverNat64 { ip } => {
                    nat64 = Some(Box::pin(super::nat64::discover(ip, resolver)));
                }
                Action::StartAttempt { id, addr, protocol } => {
                    let (handle, reg) = AbortHandle::new_pair();
                    let dial = match (protocol, quic) {
                        (Protocol::Quic, Some(q)) => {
                            q.connect(addr, cfg.source).map_ok(Won::Quic).boxed()
                        }
                        (Protocol::Quic, None) => futures_util::future::ready(Err(
                            io::Error::other("no QUIC support in this connect"),
                        ))
                        .boxed(),
                        _ => attempt.connect(addr, cfg.source).map_ok(Won::Tcp).boxed(),
                    };
                    let fut = Abortable::new(dial, reg);
                    aborts.insert(id, handle);
                    inflight.push(async move { (id, addr, fut.await) }.boxed());
                }
                Action::CancelAttempt { id } => {
                    if let Some(h) = aborts.remove(&id) {
                        h.abort();
                    }
                }
                Action::Trace(tr) => {
                    let local = winner.as_ref().map(|w| w.2);
                    if let Some(kind) = EventKind::from_trace(tr.kind, local) {
                        rec.push(tr.at, kind);
                    }
                }
                Action::Remember {
                    winner: won,
                    demote,
                } => {
                    let quic_won = matches!(winner, Some((_, Won::Quic(_), _)));
                    match cache {
                        Some(c) if quic_won => c.record_without_rtt(host_t, port, won, &demote),
                        Some(c) => c.record(host_t, port, won, &demote),
                        None => {}
                    }
                }
                Action::RememberQuic { works } => {
                    if let Some(c) = cache {
                        c.record_quic(host_t, port, works);
                    }
                }
                Action::Done(outcome) => {
                    // Whatever is still in flight is dropped here: its socket closes.
                    drop(inflight);
                    let service = match &outcome {
                        Outcome::Connected { addr, .. } => m.service_of(addr.ip()),
                        _ => None,
                    };
                    let svc = (service, https_answer);
                    return finish(host, port, outcome, winner, causes, rec, svc);
                }
                _ => {}
            }
        }
        if early && !cut.is_empty() {
            // Whatever is still pending (a late family, the HTTPS answer) is dropped.
            let answered: Vec<_> = seen.iter().map(|a| a.family).collect();
            let pending = cfg
                .allowed_families()
                .unwrap_or_default()
                .into_iter()
                .filter(|f| !literal_target && !answered.contains(f))
                .collect();
            return Ok(Finished::Resolved(Resolution {
                host: host.to_owned(),
                literal: literal_target,
                prefer: crate::addr::Family::of(cut[0]),
                answers: seen,
                pending,
                order: cut,
                https: https_answer,
                events: rec.take(),
            }));
        }
        if !queries.is_empty() {
            answers = Some(resolver.resolve(host_t, &queries));
        }
        let wake = m.poll_timeout().map(Instant::from_std);
        let mut timer = wake.map(|w| Box::pin(sleep_until(w)));
        // One wake-up, polled in this order (tokio's `select!` with `biased`, written out
        // so the library does not need tokio's macros). Answers before attempt results:
        // an answer that arrived at the same instant must be in the list before the next
        // address is picked.
        let woke = std::future::poll_fn(|cx| {
            if let Some(a) = answers.as_mut() {
                if let Poll::Ready(a) = a.poll_next_unpin(cx) {
                    return Poll::Ready(Woke::Answer(a));
                }
            }
            if !inflight.is_empty() {
                if let Poll::Ready(Some(r)) = inflight.poll_next_unpin(cx) {
                    return Poll::Ready(Woke::Attempt(r));
                }
            }
            if let Some(h) = https.as_mut() {
                if let Poll::Ready(a) = h.as_mut().poll(cx) {
                    return Poll::Ready(Woke::Https(a));
                }
            }
            if !targets.is_empty() {
                if let Poll::Ready(Some((name, a))) = targets.poll_next_unpin(cx) {
                    return Poll::Ready(Woke::Target(name, a));
                }
            }
            if let Some(n) = nat64.as_mut() {
                if let Poll::Ready(p) = n.as_mut().poll(cx) {
                    return Poll::Ready(Woke::Nat64(p));
                }
            }
            if let Some(t) = timer.as_mut() {
                if t.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Woke::Timer);
                }
            }
            Poll::Pending
        })
        .await;
        match woke {
            Woke::Answer(a) => {
                let input = match a {
                    Some(a) => Input::Answer {
                        family: a.family,
                        result: a.result.map_err(|e| e.to_string()),
                    },
                    None => {
                        answers = None;
                        Input::ResolverDone
                    }
                };
                m.handle(now(), input);
            }
            Woke::Attempt((id, addr, res)) => {
                aborts.remove(&id);
                match res {
                    Err(Aborted) => {}
                    Ok(Ok(stream)) => {
                        let local = match (&stream, quic) {
                            (Won::Tcp(s), _) => attempt.local_addr(s),
                            (Won::Quic(s), Some(q)) => q.local_addr(s),
                            (Won::Quic(_), None) => Err(io::Error::other("no QUIC")),
                        };
                        let local = local
                            .map(crate::addr::unmap_socket)
                            .unwrap_or_else(|_| SocketAddr::new(unspecified(addr.ip()), 0));
                        winner = Some((id, stream, local));
                        m.handle(now(), Input::Connected { id });
                    }
                    Ok(Err(e)) => {
                        causes.insert(id, Cause::io(&e));
                        m.handle(
                            now(),
                            Input::Failed {
                                id,
                                error: e.to_string(),
                            },
                        );
                    }
                }
            }
            Woke::Https(a) => {
                https = None;
                let result = match &a.error {
                    Some(e) if a.services.is_empty() => Err(e.clone()),
                    _ => Ok(a.services.clone()),
                };
                https_answer = Some(a);
                m.handle(now(), Input::Https { result });
            }
            Woke::Target(name, Some(a)) => {
                targets_open.retain(|(n, f)| !(*n == name && *f == a.family));
                let result = a.result.map_err(|e| e.to_string());
                m.handle(
                    now(),
                    Input::TargetAnswer {
                        name,
                        family: a.family,
                        result,
                    },
                );
            }
            Woke::Target(name, None) => {
                // The resolver ended without answering these: failed queries.
                let (gone, keep) = targets_open.into_iter().partition(|(n, _)| *n == name);
                targets_open = keep;
                for (name, family) in gone {
                    let result = Err("the resolver gave no answer".to_string());
                    m.handle(
                        now(),
                        Input::TargetAnswer {
                            name,
                            family,
                            result,
                        },
                    );
                }
            }
            Woke::Nat64(p) => {
                nat64 = None;
                m.handle(now(), Input::Nat64Prefix(p));
            }
            Woke::Timer => {}
        }
    }
}

/// What ended one wait of the driver loop.
enum Woke<S> {
    Answer(Option<super::resolver::Answer>),
    Attempt(AttemptResult<S>),
    Https(HttpsAnswer),
    /// A service target's answer; `None`: its lookup ended.
    Target(String, Option<super::resolver::Answer>),
    Nat64(Option<(Ipv6Addr, u8)>),
    Timer,
}

fn finish<S>(
    host: &str,
    port: u16,
    outcome: Outcome,
    winner: Option<(AttemptId, S, SocketAddr)>,
    mut causes: HashMap<AttemptId, Cause>,
    mut rec: Recorder,
    (service, https): (Option<ServiceRecord>, Option<HttpsAnswer>),
) -> Result<Finished<S>, ConnectError> {
    match outcome {
        Outcome::Connected {
            id,
            addr,
            elapsed,
            protocol,
            ..
        } => match winner {
            Some((wid, stream, local)) if wid == id => Ok(Finished::Connected(Connection {
                stream,
                protocol,
                peer: addr,
                local,
                elapsed,
                events: rec.take(),
                service,
            })),
            _ => Err(ConnectError::internal(
                host,
                port,
                "the winner is not the attempt that connected",
                rec.take(),
            )),
        },
        Outcome::Resolved(r) => Ok(Finished::Resolved(Resolution {
            host: host.to_owned(),
            literal: r.literal,
            prefer: r.prefer,
            answers: r.answers,
            pending: Vec::new(),
            order: r.order,
            https,
            events: rec.take(),
        })),
        Outcome::Failed(f) => {
            let attempts = f
                .attempts
                .into_iter()
                .map(|a| AttemptError {
                    addr: a.addr,
                    protocol: a.protocol,
                    started: a.started,
                    ended: a.ended,
                    cause: match a.end {
                        AttemptEnd::Failed(message) => {
                            a.id.and_then(|id| causes.remove(&id)).unwrap_or(Cause::Io {
                                error_kind: "Other".into(),
                                errno: None,
                                message,
                            })
                        }
                        AttemptEnd::TimedOut => Cause::TimedOut,
                        AttemptEnd::NotTried => Cause::NotTried,
                    },
                })
                .collect();
            Err(ConnectError {
                host: host.to_owned(),
                port,
                reason: f.reason.into(),
                attempts,
                lookups: f.lookups,
                elapsed: f.elapsed,
                events: rec.take(),
            })
        }
        _ => Err(ConnectError::internal(
            host,
            port,
            "an outcome this driver does not know",
            rec.take(),
        )),
    }
}
