//! [`HappyEyeballs`]: one run of RFC 8305 as a state machine that takes `now` and inputs
//! and gives actions and a timeout, quinn-proto style.
//!
//! - §3: both queries go out together, AAAA first. If the preferred family's answer comes
//!   first, connecting starts at once; if the other family answers first, the machine
//!   waits up to the Resolution Delay for the preferred one, then starts with what it has.
//! - §4: addresses are tried in the [`Order`](crate::Order) (history first, then
//!   interleaved); answers that arrive late are merged into the addresses not yet tried.
//!   With HTTPS records, the endpoints are first grouped by protocol class and service
//!   priority (draft-ietf-happy-happyeyeballs-v3-04 §5, [`crate::v3::groups`]) and each
//!   group is such an order of its own, tried in turn.
//! - §5: the next attempt starts a Connection Attempt Delay after the previous, or at
//!   once when an attempt fails. The first to connect wins and the others are cancelled.
//! - An overall timeout bounds everything, DNS included.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::time::{Duration, Instant};

use crate::io::{
    Action, AttemptEnd, AttemptId, AttemptRecord, CancelReason, FailReason, Failure, FamilyAnswer,
    Input, Mode, Outcome, Resolved, Target, Trace, TraceKind,
};
use crate::v3::endpoints::Endpoints;
use crate::v3::groups::Group;
use crate::v3::rtt::{AttemptDelay, DelayPolicy, Prefix, RttEstimate, DEFAULT_MULTIPLIER};
use crate::v3::services::Services;
use crate::v3::svcb::ServiceRecord;
use crate::{nat64, unmap, Config, Family, History, Protocol};

/// One Happy Eyeballs run.
///
/// Drive it like this: after creating it and after every [`handle`](Self::handle), take
/// every action from [`poll_action`](Self::poll_action) and perform it; then wait until
/// the next input or until [`poll_timeout`](Self::poll_timeout), whichever is first, and
/// call `poll_action` again with the new `now`. The run ends with [`Action::Done`].
#[derive(Debug)]
pub struct HappyEyeballs {
    cfg: Config,
    mode: Mode,
    port: u16,
    scope_id: u32,
    name: bool,
    start: Instant,
    deadline: Instant,
    allowed: Vec<Family>,
    prefer: Family,
    awaiting_nat64: Option<std::net::Ipv4Addr>,
    pending: Vec<Family>,
    endpoints: Endpoints,
    /// The group of every attempt started (bounded by the attempts).
    groups: Vec<(AttemptId, IpAddr, Group)>,
    connecting: bool,
    res_deadline: Option<Instant>,
    next_at: Instant,
    active: Vec<(AttemptId, SocketAddr, Duration, Protocol)>,
    next_id: u32,
    attempts: Vec<AttemptRecord>,
    lookups: Vec<FamilyAnswer>,
    queue: VecDeque<Action>,
    done: bool,
    rtt: Vec<RttEstimate>,
    svcb: Option<Services>,
    /// Seeds the shuffle of equal-priority HTTPS records (RFC 9460 §2.4.1).
    shuffle_seed: u64,
    /// The protocol class whose endpoints get QUIC attempts (`None`: no QUIC this run).
    quic_class: Option<usize>,
    /// The caller forced an `h3` ALPN: the origin's addresses get QUIC attempts through a
    /// stand-in record until real HTTPS records (if any) replace it.
    quic_forced: bool,
    /// A QUIC attempt was started.
    quic_tried: bool,
    /// A/AAAA queries for other TargetNames not answered yet.
    targets_pending: Vec<(String, Family)>,
}

fn socket_addr(ip: IpAddr, port: u16, scope_id: u32) -> SocketAddr {
    match ip {
        IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, port, 0, scope_id)),
        v4 => SocketAddr::new(v4, port),
    }
}

fn unmap_socket(sa: SocketAddr) -> SocketAddr {
    match sa {
        SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_some() => {
            SocketAddr::new(unmap(sa.ip()), sa.port())
        }
        other => other,
    }
}

impl HappyEyeballs {
    /// Start a run at `now` for `target` port `port`. `history` (from a
    /// [`HistoryCache`](crate::HistoryCache)) is used for names only.
    pub fn new(
        cfg: &Config,
        mode: Mode,
        target: Target,
        port: u16,
        history: Option<History>,
        now: Instant,
    ) -> HappyEyeballs {
        let mut cfg = cfg.clone();
        // QUIC as the first protocol class (draft v3-04 §5.1), unless the caller makes no
        // QUIC attempts, forces ALPN ids without h3, or history says QUIC is broken here.
        let quic_broken =
            matches!(target, Target::Name) && history.as_ref().is_some_and(|h| h.quic_broken);
        let quic = (cfg.quic && !quic_broken)
            .then(|| crate::protocol::quic_first(&cfg.alpn, &cfg.protocols))
            .flatten();
        let quic_on = quic.is_some();
        let quic_forced = quic_on && !cfg.alpn.is_empty();
        if let Some(p) = quic {
            cfg.protocols = p;
        }
        cfg.attempt_delay = cfg.clamped_attempt_delay();
        cfg.first_family_count = cfg.first_family_count.max(1);
        let allowed = cfg.allowed_families();
        let prefer = match allowed.as_deref() {
            Some([only]) => *only,
            _ => cfg.prefer,
        };
        let mut m = HappyEyeballs {
            deadline: later(now, cfg.timeout),
            endpoints: Endpoints::new(
                prefer,
                cfg.first_family_count,
                Vec::new(),
                cfg.protocols.clone(),
                port,
            ),
            groups: Vec::new(),
            cfg,
            mode,
            port,
            scope_id: 0,
            name: matches!(target, Target::Name),
            start: now,
            allowed: allowed.clone().unwrap_or_default(),
            prefer,
            awaiting_nat64: None,
            pending: Vec::new(),
            connecting: false,
            res_deadline: None,
            next_at: now,
            active: Vec::new(),
            next_id: 0,
            attempts: Vec::new(),
            lookups: Vec::new(),
            queue: VecDeque::new(),
            done: false,
            rtt: Vec::new(),
            svcb: None,
            // The one source of randomness of a run, drawn here so that a caller who
            // wants it repeatable can replace it (with_shuffle_seed).
            shuffle_seed: RandomState::new().hash_one(port),
            quic_class: None,
            quic_forced: false,
            quic_tried: false,
            targets_pending: Vec::new(),
        };
        if allowed.is_none() {
            m.fail(
                now,
                FailReason::FamilyMismatch {
                    family: m.cfg.family,
                    source: m.cfg.source,
                    literal: None,
                },
            );
            return m;
        }
        if quic_on {
            m.quic_class = Some(crate::protocol::QUIC_CLASS);
            m.quic_forced = quic_forced;
        }
        match target {
            Target::Literal { ip, scope_id } => {
                let ip = unmap(ip);
                m.scope_id = scope_id;
                m.trace(now, TraceKind::Literal { ip });
                match ip {
                    IpAddr::V4(v4) if m.cfg.nat64 && m.allowed.contains(&Family::V6) => {
                        m.awaiting_nat64 = Some(v4);
                        m.queue.push_back(Action::DiscoverNat64 { ip: v4 });
                    }
                    _ => m.literal_ready(now, ip),
                }
            }
            Target::Name => {
                let mut demoted = Vec::new();
                if let Some(h) = history {
                    if let Some(f) = h.prefer.filter(|f| m.allowed.contains(f)) {
                        m.prefer = f;
                    }
                    m.trace(
                        now,
                        TraceKind::CacheHit {
                            prefer: m.prefer,
                            age: h.age,
                            demoted: h.demoted.clone(),
                            quic_broken: h.quic_broken && m.cfg.quic,
                        },
                    );
                    demoted = h.demoted;
                }
                m.endpoints = Endpoints::new(
                    m.prefer,
                    m.cfg.first_family_count,
                    demoted,
                    m.cfg.protocols.clone(),
                    port,
                );
                m.force_quic();
                for family in m.allowed.clone() {
                    m.queue.push_back(Action::SendQuery { family });
                }
                for family in m.allowed.clone() {
                    m.trace(now, TraceKind::QuerySent { family });
                }
                m.pending = m.allowed.clone();
            }
        }
        m
    }

    /// Give the run the smoothed RTTs known per network (an
    /// [`RttTable`](crate::v3::rtt::RttTable)'s `export`), for the RTT-based attempt delay
    /// ([`Config::rtt_attempt_delay`]). Call before the first `poll_action`.
    pub fn with_rtt(mut self, estimates: Vec<RttEstimate>) -> HappyEyeballs {
        self.rtt = estimates;
        self
    }

    /// Also ask for the HTTPS records of `host` (a name; ignored for literals)
    /// (draft-ietf-happy-happyeyeballs-v3-04 §4, RFC 9460): [`Action::SendHttpsQuery`]
    /// comes first, and the answer is awaited at most the Resolution Delay after the
    /// address answers. Record hints stand in for missing A/AAAA answers, record ports are
    /// used. Call before the first `poll_action`.
    pub fn with_svcb(mut self, host: &str) -> HappyEyeballs {
        if self.name && !self.done {
            self.svcb = Some(Services::new(host));
            self.queue.push_front(Action::SendHttpsQuery);
        }
        self
    }

    /// Seed the shuffle of HTTPS records of equal priority (RFC 9460 §2.4.1) instead of
    /// drawing a random seed: one seed, one order (tests, reproducible runs).
    pub fn with_shuffle_seed(mut self, seed: u64) -> HappyEyeballs {
        self.shuffle_seed = seed;
        self
    }

    /// The HTTPS record an address was reached through (its ALPN and ECH are the
    /// connection's), if any: the record of the first attempt to it.
    pub fn service_of(&self, ip: IpAddr) -> Option<ServiceRecord> {
        let ip = unmap(ip);
        if let Some((_, _, g)) = self.groups.iter().find(|a| a.1 == ip) {
            // The stand-in record of a forced ALPN is no HTTPS record.
            return self
                .endpoints
                .record(*g)
                .filter(|r| !r.target.is_empty())
                .cloned();
        }
        self.svcb.as_ref()?.record_of(ip).cloned()
    }

    /// The group an attempt belongs to (draft-ietf-happy-happyeyeballs-v3-04 §5): its
    /// protocol class (an index into [`Config::protocols`]) and service record.
    pub fn group_of(&self, id: AttemptId) -> Option<Group> {
        self.groups.iter().find(|a| a.0 == id).map(|a| a.2)
    }

    fn https_pending(&self) -> bool {
        self.svcb.as_ref().is_some_and(|s| s.pending)
    }

    /// The delay after starting an attempt to `ip` (RFC 8305 §5, draft v3-04 §6).
    fn attempt_delay(&self, ip: IpAddr) -> AttemptDelay {
        let prefix = Prefix::of(ip);
        let policy = DelayPolicy::new(
            DEFAULT_MULTIPLIER,
            self.cfg.min_attempt_delay,
            self.cfg.attempt_delay,
        );
        let est = self
            .rtt
            .iter()
            .find(|e| e.prefix == prefix)
            .filter(|_| self.cfg.rtt_attempt_delay);
        policy.delay(prefix, est)
    }

    /// Whether the run is over (no more actions, no timeout).
    pub fn is_done(&self) -> bool {
        self.done && self.queue.is_empty()
    }

    /// When the machine next wants [`poll_action`](Self::poll_action) called if nothing
    /// else happens first. `None` once the run is over.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        let mut t = self.deadline;
        if !self.connecting {
            if let Some(r) = self.res_deadline {
                t = t.min(r);
            }
        } else if self.can_stagger() {
            t = t.min(self.next_at);
        }
        Some(t)
    }

    /// Feed what happened at `now`. Inputs the run no longer waits for (an attempt already
    /// cancelled, a family already answered) are ignored.
    pub fn handle(&mut self, now: Instant, input: Input) {
        if self.done {
            return;
        }
        if now >= self.deadline {
            self.time_out(now);
            return;
        }
        match input {
            Input::Answer { family, result } => {
                if !self.pending.contains(&family) {
                    return;
                }
                self.pending.retain(|f| *f != family);
                let (addrs, error) = match result {
                    Ok(v) => (
                        v.into_iter()
                            .map(unmap)
                            .filter(|ip| Family::of(*ip) == family)
                            .collect::<Vec<_>>(),
                        None,
                    ),
                    Err(e) => (Vec::new(), Some(e)),
                };
                self.trace(
                    now,
                    TraceKind::Answer {
                        family,
                        addrs: addrs.clone(),
                        error: error.clone(),
                    },
                );
                if let Some(svc) = self.svcb.as_mut() {
                    // RFC 9460 §7.3: the answer replaces the hints of its family.
                    let gone = svc.family_answered(family);
                    self.endpoints.withdraw_own(&gone);
                }
                self.endpoints.add_origin(&addrs);
                self.lookups.push(FamilyAnswer {
                    family,
                    addrs,
                    error,
                    elapsed: Some(self.at(now)),
                });
            }
            Input::Https { result } => self.on_https(now, result),
            Input::TargetAnswer {
                name,
                family,
                result,
            } => self.on_target_answer(now, name, family, result),
            Input::ResolverDone => {
                for family in std::mem::take(&mut self.pending) {
                    self.lookups.push(FamilyAnswer {
                        family,
                        addrs: Vec::new(),
                        error: Some("the resolver gave no answer".into()),
                        elapsed: None,
                    });
                }
            }
            Input::Nat64Prefix(prefix) => {
                let Some(v4) = self.awaiting_nat64.take() else {
                    return;
                };
                let mut ip = IpAddr::V4(v4);
                if let Some((p, len)) = prefix {
                    if let Some(s) = nat64::synthesize(p, len, v4) {
                        ip = IpAddr::V6(s);
                        self.trace(
                            now,
                            TraceKind::Nat64 {
                                ip: IpAddr::V4(v4),
                                synthesized: ip,
                                prefix: p,
                                prefix_len: len,
                            },
                        );
                    }
                }
                self.literal_ready(now, ip);
            }
            Input::Connected { id } => {
                let Some(pos) = self.active.iter().position(|a| a.0 == id) else {
                    return;
                };
                let (_, addr, started, protocol) = self.active.remove(pos);
                let elapsed = self.at(now);
                let rtt = elapsed.saturating_sub(started);
                let peer = unmap_socket(addr);
                self.trace(
                    now,
                    TraceKind::Connected {
                        id,
                        addr: peer,
                        protocol,
                        rtt,
                    },
                );
                let mut slow = Vec::new();
                for (other, a, s, p) in std::mem::take(&mut self.active) {
                    self.trace(
                        now,
                        TraceKind::Cancelled {
                            id: other,
                            addr: a,
                            protocol: p,
                            reason: CancelReason::Won(peer),
                        },
                    );
                    self.queue.push_back(Action::CancelAttempt { id: other });
                    // A slower attempt of the other transport says nothing of the address.
                    if s < started && p == protocol {
                        slow.push(a.ip());
                    }
                }
                if self.name {
                    let mut demote: Vec<IpAddr> = self
                        .attempts
                        .iter()
                        .filter(|a| a.protocol == protocol)
                        .map(|a| a.addr.ip())
                        .collect();
                    demote.extend(slow);
                    self.queue.push_back(Action::Remember {
                        winner: Some((peer, rtt)),
                        demote,
                    });
                    if self.quic_tried {
                        self.queue.push_back(Action::RememberQuic {
                            works: protocol == Protocol::Quic,
                        });
                    }
                }
                self.finish(Outcome::Connected {
                    id,
                    addr: peer,
                    protocol,
                    rtt,
                    elapsed,
                });
            }
            Input::Failed { id, error } => {
                let Some(pos) = self.active.iter().position(|a| a.0 == id) else {
                    return;
                };
                let (_, addr, started, protocol) = self.active.remove(pos);
                self.trace(
                    now,
                    TraceKind::AttemptFailed {
                        id,
                        addr,
                        protocol,
                        error: error.clone(),
                    },
                );
                self.attempts.push(AttemptRecord {
                    id: Some(id),
                    addr,
                    protocol,
                    started: Some(started),
                    ended: self.at(now),
                    end: AttemptEnd::Failed(error),
                });
                // §5: a failed attempt frees the slot: the next one starts now.
                self.next_at = now;
            }
        }
    }

    /// The next thing to do at `now`, if any. Call until it returns `None`.
    pub fn poll_action(&mut self, now: Instant) -> Option<Action> {
        if self.queue.is_empty() && !self.done {
            self.step(now);
        }
        self.queue.pop_front()
    }

    fn at(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.start)
    }

    fn trace(&mut self, now: Instant, kind: TraceKind) {
        let at = self.at(now);
        self.queue.push_back(Action::Trace(Trace { at, kind }));
    }

    fn finish(&mut self, outcome: Outcome) {
        self.done = true;
        self.queue.push_back(Action::Done(outcome));
    }

    fn fail(&mut self, now: Instant, reason: FailReason) {
        let f = Failure {
            reason,
            attempts: std::mem::take(&mut self.attempts),
            lookups: std::mem::take(&mut self.lookups),
            elapsed: self.at(now),
        };
        self.finish(Outcome::Failed(f));
    }

    fn resolved(&mut self, now: Instant, literal: bool) {
        let r = Resolved {
            literal,
            prefer: self.prefer,
            answers: std::mem::take(&mut self.lookups),
            order: self.endpoints.preview(),
            elapsed: self.at(now),
        };
        self.finish(Outcome::Resolved(r));
    }

    fn literal_ready(&mut self, now: Instant, ip: IpAddr) {
        if !self.allowed.contains(&Family::of(ip)) {
            self.fail(
                now,
                FailReason::FamilyMismatch {
                    family: self.cfg.family,
                    source: self.cfg.source,
                    literal: Some(ip),
                },
            );
            return;
        }
        self.prefer = Family::of(ip);
        let pref = self.cfg.protocols.clone();
        self.endpoints = Endpoints::new(self.prefer, 1, Vec::new(), pref, self.port);
        self.force_quic();
        self.endpoints.add_origin(&[ip]);
        if self.mode == Mode::Resolve {
            self.resolved(now, true);
        }
    }

    /// With a forced `h3` ALPN, a stand-in record for the origin that offers it, so that
    /// its addresses are grouped into a QUIC group and a TCP group like those of a real
    /// record (draft v3-04 §5.1); real HTTPS records replace it.
    fn force_quic(&mut self) {
        if self.quic_forced {
            let rec = crate::protocol::forced_record(&self.cfg.alpn);
            self.endpoints.set_services(vec![rec], "");
        }
    }

    /// The transport of an endpoint's group.
    fn protocol_of(&self, group: Group) -> Protocol {
        match self.quic_class {
            Some(c) if c == group.class => Protocol::Quic,
            _ => Protocol::Tcp,
        }
    }

    fn can_stagger(&self) -> bool {
        self.connecting && !self.cfg.serial && !self.active.is_empty() && self.endpoints.has_next()
    }

    fn step(&mut self, now: Instant) {
        if now >= self.deadline {
            self.time_out(now);
            return;
        }
        if self.awaiting_nat64.is_some() {
            return;
        }
        let https_pending = self.https_pending();
        if self.mode == Mode::Resolve {
            if self.pending.is_empty() && !https_pending && self.targets_pending.is_empty() {
                self.resolved(now, false);
            }
            return;
        }
        // draft-ietf-happy-happyeyeballs-v3-04 §4.2: hints of the preferred family count
        // as its positive answer.
        let prefer_ready = !self.pending.contains(&self.prefer)
            || self.svcb.as_ref().is_some_and(|s| s.hints_for(self.prefer));
        if !self.connecting {
            if self.pending.is_empty() && !https_pending {
                self.connecting = true;
            } else if self.endpoints.has_next() && !self.cfg.serial {
                if prefer_ready && !https_pending {
                    // §3: the preferred family answered with addresses: go now.
                    self.connecting = true;
                } else if self.res_deadline.is_none() {
                    // §3: the other family answered first: give the preferred one a moment
                    // (and the HTTPS answer: never more than this, draft v3-04 §4.2).
                    let delay = self.cfg.resolution_delay;
                    self.res_deadline = Some(later(now, delay));
                    let waiting_for = self.prefer;
                    if !prefer_ready {
                        self.trace(now, TraceKind::ResolutionDelay { waiting_for, delay });
                    }
                    if delay.is_zero() {
                        self.connecting = true;
                    }
                }
            }
        }
        if !self.connecting && self.res_deadline.is_some_and(|d| now >= d) {
            self.connecting = true;
            let waiting_for = self.prefer;
            if self.pending.contains(&waiting_for) {
                self.trace(now, TraceKind::ResolutionDelayExpired { waiting_for });
            }
        }
        if self.connecting && (self.active.is_empty() || (!self.cfg.serial && now >= self.next_at))
        {
            if let Some(ep) = self.endpoints.next() {
                let ip = ep.ip;
                let protocol = self.protocol_of(ep.group);
                let scope = if ip.is_ipv6() { self.scope_id } else { 0 };
                let addr = socket_addr(ip, ep.port, scope);
                let id = AttemptId(self.next_id);
                self.next_id += 1;
                self.groups.push((id, ip, ep.group));
                self.trace(now, TraceKind::AttemptStarted { id, addr, protocol });
                self.queue
                    .push_back(Action::StartAttempt { id, addr, protocol });
                self.active.push((id, addr, self.at(now), protocol));
                self.quic_tried |= protocol == Protocol::Quic;
                let delay = self.attempt_delay(ip);
                self.next_at = later(now, delay.delay);
                // Traced even when no address is left yet: a late answer waits for it.
                if !self.cfg.serial {
                    self.trace(now, TraceKind::AttemptDelay { id, delay });
                }
            }
        }
        if self.active.is_empty()
            && !self.endpoints.has_next()
            && self.pending.is_empty()
            && !https_pending
            && self.targets_pending.is_empty()
        {
            let reason = if !self.attempts.is_empty() {
                FailReason::AllFailed
            } else if let [only] = self.allowed[..] {
                FailReason::NoneOfFamily {
                    family: only,
                    source: self.cfg.source.filter(|_| self.cfg.family.is_none()),
                }
            } else {
                FailReason::NoAddresses
            };
            if self.name {
                let demote = self.attempts.iter().map(|a| a.addr.ip()).collect();
                self.queue.push_back(Action::Remember {
                    winner: None,
                    demote,
                });
            }
            self.fail(now, reason);
        }
    }

    fn time_out(&mut self, now: Instant) {
        let ended = self.at(now);
        for (id, addr, started, protocol) in std::mem::take(&mut self.active) {
            self.trace(
                now,
                TraceKind::Cancelled {
                    id,
                    addr,
                    protocol,
                    reason: CancelReason::TimedOut,
                },
            );
            self.queue.push_back(Action::CancelAttempt { id });
            self.attempts.push(AttemptRecord {
                id: Some(id),
                addr,
                protocol,
                started: Some(started),
                ended,
                end: AttemptEnd::TimedOut,
            });
        }
        if self.mode == Mode::Connect {
            while let Some(ep) = self.endpoints.next() {
                let scope = if ep.ip.is_ipv6() { self.scope_id } else { 0 };
                let protocol = self.protocol_of(ep.group);
                self.attempts.push(AttemptRecord {
                    id: None,
                    addr: socket_addr(ep.ip, ep.port, scope),
                    protocol,
                    started: None,
                    ended,
                    end: AttemptEnd::NotTried,
                });
            }
        }
        for family in std::mem::take(&mut self.pending) {
            self.lookups.push(FamilyAnswer {
                family,
                addrs: Vec::new(),
                error: Some("no answer before the overall timeout".into()),
                elapsed: None,
            });
        }
        let timeout = self.cfg.timeout;
        self.trace(now, TraceKind::TimedOut { timeout });
        if self.mode == Mode::Resolve {
            let literal = !self.name;
            self.resolved(now, literal);
            return;
        }
        if self.name {
            let demote: Vec<IpAddr> = self
                .attempts
                .iter()
                .filter(|a| a.started.is_some())
                .map(|a| a.addr.ip())
                .collect();
            if !demote.is_empty() {
                self.queue.push_back(Action::Remember {
                    winner: None,
                    demote,
                });
            }
        }
        self.fail(now, FailReason::TimedOut { timeout });
    }
}

/// `now + d`, saturating instead of panicking when a caller gives an absurd duration
/// (`Instant + Duration` panics on overflow): far enough in the future to never fire.
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(30 * 365 * 86_400)))
        .unwrap_or(now)
}

mod svcb;
#[cfg(test)]
mod tests;
