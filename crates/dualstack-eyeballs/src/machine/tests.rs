//! The machine driven with made-up instants: a tiny discrete-event simulator plays a
//! script of DNS answers and attempt results, and the tests assert exact times.
// `Config` is `non_exhaustive`: outside this crate it is built by assigning fields.
#![allow(clippy::field_reassign_with_default, clippy::type_complexity)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// What a scripted address does.
#[derive(Debug, Clone, Copy)]
enum Conn {
    Accept(u64),
    Fail(u64),
    Hang,
}

#[derive(Debug, Clone, Default)]
struct Script {
    /// Per family: delay and answer; a family missing here never answers.
    dns: Vec<(Family, u64, Result<Vec<IpAddr>, String>)>,
    conn: HashMap<IpAddr, Conn>,
    nat64: Option<(Ipv6Addr, u8)>,
    /// Tie-break keys for events at the same instant (any order must work).
    shuffle: Vec<u8>,
}

#[derive(Debug, Default)]
struct Run {
    starts: Vec<(Duration, SocketAddr)>,
    failures: Vec<Duration>,
    cancelled: Vec<AttemptId>,
    traces: Vec<Trace>,
    remembered: Vec<(Option<(SocketAddr, Duration)>, Vec<IpAddr>)>,
    outcome: Option<(Duration, Outcome)>,
    max_active: usize,
    steps: usize,
}

enum Ev {
    Answer(Family, Result<Vec<IpAddr>, String>),
    Nat64,
    Conn(AttemptId, bool),
}

fn simulate(cfg: &Config, mode: Mode, target: Target, history: Option<History>, s: &Script) -> Run {
    let t0 = Instant::now();
    let mut m = HappyEyeballs::new(cfg, mode, target, 443, history, t0);
    let mut run = Run::default();
    let mut now = t0;
    let mut events: Vec<(Instant, u8, Ev)> = Vec::new();
    let mut active: Vec<AttemptId> = Vec::new();
    let mut seq = 0usize;
    let key = |seq: &mut usize| {
        *seq += 1;
        s.shuffle
            .get(*seq % s.shuffle.len().max(1))
            .copied()
            .unwrap_or(0)
    };
    loop {
        run.steps += 1;
        assert!(run.steps < 10_000, "the machine must end");
        while let Some(a) = m.poll_action(now) {
            match a {
                Action::SendQuery { family } => {
                    if let Some((_, d, r)) = s.dns.iter().find(|d| d.0 == family) {
                        events.push((now + ms(*d), key(&mut seq), Ev::Answer(family, r.clone())));
                    }
                }
                Action::DiscoverNat64 { .. } => events.push((now, key(&mut seq), Ev::Nat64)),
                Action::SendHttpsQuery | Action::ResolveTarget { .. } => {}
                Action::StartAttempt { id, addr, .. } => {
                    run.starts.push((now - t0, addr));
                    active.push(id);
                    run.max_active = run.max_active.max(active.len());
                    match s.conn.get(&addr.ip()).copied().unwrap_or(Conn::Fail(0)) {
                        Conn::Accept(d) => {
                            events.push((now + ms(d), key(&mut seq), Ev::Conn(id, true)))
                        }
                        Conn::Fail(d) => {
                            events.push((now + ms(d), key(&mut seq), Ev::Conn(id, false)))
                        }
                        Conn::Hang => {}
                    }
                }
                Action::CancelAttempt { id } => {
                    active.retain(|a| *a != id);
                    run.cancelled.push(id);
                }
                Action::Trace(t) => run.traces.push(t),
                Action::Remember { winner, demote } => run.remembered.push((winner, demote)),
                Action::RememberQuic { .. } => unreachable!("QUIC is off in these runs"),
                Action::Done(o) => {
                    assert!(run.outcome.is_none(), "done once");
                    if let Outcome::Connected { id, .. } = &o {
                        active.retain(|a| a != id);
                    }
                    run.outcome = Some((now - t0, o));
                }
            }
        }
        if run.outcome.is_some() {
            assert!(m.is_done());
            assert_eq!(m.poll_timeout(), None);
            assert!(m.poll_action(now + ms(100_000)).is_none());
            assert!(
                active.is_empty(),
                "every attempt ended or was cancelled: {active:?}"
            );
            return run;
        }
        let timeout = m.poll_timeout().expect("a running machine has a timeout");
        let next_ev = events.iter().map(|e| e.0).min();
        match next_ev {
            Some(t) if t <= timeout => {
                now = now.max(t);
                // Every event due now, in the script's tie-break order.
                let mut due: Vec<(Instant, u8, Ev)> = Vec::new();
                let mut rest = Vec::new();
                for e in events.drain(..) {
                    if e.0 <= now {
                        due.push(e)
                    } else {
                        rest.push(e)
                    }
                }
                events = rest;
                due.sort_by_key(|e| e.1);
                let (_, _, ev) = due.remove(0);
                events.extend(due);
                let input = match ev {
                    Ev::Answer(family, result) => Input::Answer { family, result },
                    Ev::Nat64 => Input::Nat64Prefix(s.nat64),
                    Ev::Conn(id, true) => Input::Connected { id },
                    Ev::Conn(id, false) => {
                        if active.contains(&id) {
                            run.failures.push(now - t0);
                            active.retain(|a| *a != id);
                        }
                        Input::Failed {
                            id,
                            error: "refused".into(),
                        }
                    }
                };
                m.handle(now, input);
            }
            _ => now = now.max(timeout),
        }
    }
}

fn dns(v6: (u64, &[&str]), v4: (u64, &[&str])) -> Script {
    Script {
        dns: vec![
            (Family::V6, v6.0, Ok(v6.1.iter().map(|s| ip(s)).collect())),
            (Family::V4, v4.0, Ok(v4.1.iter().map(|s| ip(s)).collect())),
        ],
        ..Script::default()
    }
}

fn sa(s: &str) -> SocketAddr {
    SocketAddr::new(ip(s), 443)
}

fn connected(r: &Run) -> (Duration, SocketAddr) {
    match &r.outcome {
        Some((at, Outcome::Connected { addr, .. })) => (*at, *addr),
        other => panic!("not connected: {other:?}"),
    }
}

#[test]
fn ipv6_wins_at_once() {
    let mut s = dns((10, &["2001:db8::1"]), (10, &["192.0.2.1"]));
    s.conn.insert(ip("2001:db8::1"), Conn::Accept(5));
    let r = simulate(&Config::default(), Mode::Connect, Target::Name, None, &s);
    assert_eq!(connected(&r), (ms(15), sa("2001:db8::1")));
    assert_eq!(r.starts.len(), 1);
    assert_eq!(
        r.remembered,
        vec![(Some((sa("2001:db8::1"), ms(5))), vec![])]
    );
}

#[test]
fn black_holed_ipv6_ipv4_after_the_attempt_delay() {
    let mut s = dns((0, &["2001:db8::1"]), (0, &["192.0.2.1"]));
    s.conn.insert(ip("2001:db8::1"), Conn::Hang);
    s.conn.insert(ip("192.0.2.1"), Conn::Accept(5));
    let r = simulate(&Config::default(), Mode::Connect, Target::Name, None, &s);
    assert_eq!(connected(&r), (ms(255), sa("192.0.2.1")));
    assert_eq!(
        r.starts,
        vec![(ms(0), sa("2001:db8::1")), (ms(250), sa("192.0.2.1"))]
    );
    assert_eq!(r.cancelled.len(), 1);
    // The slower IPv6 address is demoted for next time.
    assert_eq!(r.remembered[0].1, vec![ip("2001:db8::1")]);
}

#[test]
fn resolution_delay_then_ipv4() {
    let mut s = dns((2000, &["2001:db8::1"]), (0, &["192.0.2.1"]));
    s.conn.insert(ip("192.0.2.1"), Conn::Accept(1));
    let r = simulate(&Config::default(), Mode::Connect, Target::Name, None, &s);
    assert_eq!(connected(&r), (ms(51), sa("192.0.2.1")));
    assert!(r.traces.iter().any(|t| t.at == ms(50)
        && matches!(
            t.kind,
            TraceKind::ResolutionDelayExpired {
                waiting_for: Family::V6
            }
        )));
}

#[test]
fn preferred_answer_at_the_resolution_deadline_needs_no_expiry() {
    let mut s = dns((50, &["2001:db8::1"]), (0, &["192.0.2.1"]));
    s.conn.insert(ip("2001:db8::1"), Conn::Accept(1));
    let r = simulate(&Config::default(), Mode::Connect, Target::Name, None, &s);
    assert_eq!(connected(&r), (ms(51), sa("2001:db8::1")));
    assert!(!r
        .traces
        .iter()
        .any(|t| matches!(t.kind, TraceKind::ResolutionDelayExpired { .. })));
}

#[test]
fn failures_start_the_next_at_once_and_all_failed_ends() {
    // Unscripted addresses are refused at once; the A answer comes 3 ms later.
    let s = dns((0, &["2001:db8::1", "2001:db8::2"]), (3, &["192.0.2.1"]));
    let r = simulate(&Config::default(), Mode::Connect, Target::Name, None, &s);
    assert_eq!(
        r.starts,
        vec![
            (ms(0), sa("2001:db8::1")),
            (ms(0), sa("2001:db8::2")),
            (ms(3), sa("192.0.2.1"))
        ]
    );
    match &r.outcome {
        Some((at, Outcome::Failed(f))) => {
            assert_eq!(*at, ms(3));
            assert_eq!(f.reason, FailReason::AllFailed);
            assert_eq!(f.attempts.len(), 3);
            assert_eq!(f.lookups.len(), 2);
            assert_eq!(f.lookups[1].elapsed, Some(ms(3)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn overall_timeout_lists_every_address() {
    let mut s = dns(
        (0, &["2001:db8::1", "2001:db8::2", "2001:db8::3"]),
        (9999, &["192.0.2.1"]),
    );
    for a in ["2001:db8::1", "2001:db8::2", "2001:db8::3"] {
        s.conn.insert(ip(a), Conn::Hang);
    }
    let mut cfg = Config::default();
    cfg.timeout = ms(600);
    let r = simulate(&cfg, Mode::Connect, Target::Name, None, &s);
    match &r.outcome {
        Some((at, Outcome::Failed(f))) => {
            assert_eq!(*at, ms(600));
            assert_eq!(f.reason, FailReason::TimedOut { timeout: ms(600) });
            let ends: Vec<&AttemptEnd> = f.attempts.iter().map(|a| &a.end).collect();
            assert_eq!(
                ends,
                [
                    &AttemptEnd::TimedOut,
                    &AttemptEnd::TimedOut,
                    &AttemptEnd::TimedOut
                ]
            );
            assert_eq!(
                f.lookups[1].error.as_deref(),
                Some("no answer before the overall timeout")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.cancelled.len(), 3);
}

#[test]
fn serial_waits_for_both_answers_and_each_attempt() {
    let mut s = dns((0, &["2001:db8::1"]), (20, &["192.0.2.1"]));
    s.conn.insert(ip("2001:db8::1"), Conn::Fail(300));
    s.conn.insert(ip("192.0.2.1"), Conn::Accept(1));
    let mut cfg = Config::default();
    cfg.serial = true;
    let r = simulate(&cfg, Mode::Connect, Target::Name, None, &s);
    assert_eq!(connected(&r), (ms(321), sa("192.0.2.1")));
    assert_eq!(
        r.starts,
        vec![(ms(20), sa("2001:db8::1")), (ms(320), sa("192.0.2.1"))]
    );
}

#[test]
fn history_prefers_the_family_that_worked() {
    let mut s = dns((0, &["2001:db8::1"]), (0, &["192.0.2.1"]));
    s.conn.insert(ip("192.0.2.1"), Conn::Accept(3));
    let h = History {
        prefer: Some(Family::V4),
        winner: Some((ip("192.0.2.1"), ms(3))),
        demoted: vec![ip("2001:db8::1")],
        age: ms(1000),
        quic_broken: false,
    };
    let r = simulate(&Config::default(), Mode::Connect, Target::Name, Some(h), &s);
    assert_eq!(connected(&r), (ms(3), sa("192.0.2.1")));
    assert!(matches!(
        r.traces[0].kind,
        TraceKind::CacheHit {
            prefer: Family::V4,
            ..
        }
    ));
}

#[test]
fn only_family_with_no_answer() {
    let s = dns((0, &[]), (0, &["192.0.2.1"]));
    let mut cfg = Config::default();
    cfg.source = Some(ip("2001:db8::100"));
    let r = simulate(&cfg, Mode::Connect, Target::Name, None, &s);
    match &r.outcome {
        Some((_, Outcome::Failed(f))) => assert_eq!(
            f.reason,
            FailReason::NoneOfFamily {
                family: Family::V6,
                source: cfg.source
            }
        ),
        other => panic!("{other:?}"),
    }
    cfg.family = Some(Family::V4);
    let r = simulate(&cfg, Mode::Connect, Target::Name, None, &s);
    assert!(matches!(
        r.outcome,
        Some((
            _,
            Outcome::Failed(Failure {
                reason: FailReason::FamilyMismatch { literal: None, .. },
                ..
            })
        ))
    ));
    assert!(r.starts.is_empty());
}

#[test]
fn literal_nat64_and_scope() {
    let mut s = Script {
        nat64: Some(("64:ff9b::".parse().unwrap(), 96)),
        ..Script::default()
    };
    s.conn.insert(ip("64:ff9b::c000:201"), Conn::Accept(2));
    let target = Target::Literal {
        ip: ip("192.0.2.1"),
        scope_id: 0,
    };
    let r = simulate(&Config::default(), Mode::Connect, target.clone(), None, &s);
    assert_eq!(connected(&r), (ms(2), sa("64:ff9b::c000:201")));
    assert!(r.remembered.is_empty(), "literals have no history");
    assert!(r
        .traces
        .iter()
        .any(|t| matches!(t.kind, TraceKind::Nat64 { prefix_len: 96, .. })));
    // Resolve only: the same translation, and the order.
    let r = simulate(&Config::default(), Mode::Resolve, target, None, &s);
    match &r.outcome {
        Some((_, Outcome::Resolved(res))) => {
            assert!(res.literal);
            assert_eq!(res.order, vec![ip("64:ff9b::c000:201")]);
        }
        other => panic!("{other:?}"),
    }
    // A link-local literal keeps its scope id.
    let mut s = Script::default();
    s.conn.insert(ip("fe80::1"), Conn::Accept(1));
    let r = simulate(
        &Config::default(),
        Mode::Connect,
        Target::Literal {
            ip: ip("fe80::1"),
            scope_id: 7,
        },
        None,
        &s,
    );
    match r.starts[0].1 {
        SocketAddr::V6(v6) => assert_eq!(v6.scope_id(), 7),
        other => panic!("{other}"),
    }
}

#[test]
fn resolve_waits_for_every_answer() {
    let s = dns(
        (30, &["2001:db8::1", "2001:db8::2"]),
        (10, &["192.0.2.1", "192.0.2.2"]),
    );
    let r = simulate(&Config::default(), Mode::Resolve, Target::Name, None, &s);
    match &r.outcome {
        Some((at, Outcome::Resolved(res))) => {
            assert_eq!(*at, ms(30));
            assert_eq!(res.answers[0].family, Family::V4);
            assert_eq!(res.answers[0].elapsed, Some(ms(10)));
            assert_eq!(
                res.order,
                vec![
                    ip("2001:db8::1"),
                    ip("192.0.2.1"),
                    ip("2001:db8::2"),
                    ip("192.0.2.2")
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(r.starts.is_empty());
    // A family that never answers: the timeout ends the wait.
    let mut s = dns((5, &["2001:db8::1"]), (0, &[]));
    s.dns.truncate(1);
    let mut cfg = Config::default();
    cfg.timeout = ms(700);
    let r = simulate(&cfg, Mode::Resolve, Target::Name, None, &s);
    match &r.outcome {
        Some((at, Outcome::Resolved(res))) => {
            assert_eq!(*at, ms(700));
            assert_eq!(res.answers[1].elapsed, None);
        }
        other => panic!("{other:?}"),
    }
}

fn conn_strategy() -> impl Strategy<Value = Conn> {
    prop_oneof![
        (0u64..3000).prop_map(Conn::Accept),
        (0u64..3000).prop_map(Conn::Fail),
        Just(Conn::Hang),
    ]
}

fn answer_strategy(v6: bool) -> impl Strategy<Value = Option<(u64, Result<Vec<IpAddr>, String>)>> {
    let addrs = proptest::collection::vec(0u8..6, 0..4).prop_map(move |ns| {
        ns.into_iter()
            .map(|n| {
                if v6 {
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n)))
                } else {
                    IpAddr::from([192, 0, 2, n])
                }
            })
            .collect::<Vec<_>>()
    });
    proptest::option::weighted(
        0.9,
        (
            0u64..3000,
            prop_oneof![addrs.prop_map(Ok), Just(Err("NXDOMAIN".to_string()))],
        ),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// For any DNS answers and attempt results, in any order at equal instants: the run
    /// ends (bounded steps, by the overall timeout at the latest), every attempt ends or
    /// is cancelled, and no two attempts start within the attempt delay unless one failed
    /// in between (RFC 8305 §5); in serial mode one attempt at a time.
    #[test]
    fn never_races_early_and_always_ends(
        v6 in answer_strategy(true),
        v4 in answer_strategy(false),
        conns in proptest::collection::vec(conn_strategy(), 12),
        serial in any::<bool>(),
        prefer_v4 in any::<bool>(),
        attempt_delay in 0u64..3000,
        resolution_delay in 0u64..300,
        timeout in 1u64..8000,
        shuffle in proptest::collection::vec(any::<u8>(), 1..16),
    ) {
        let mut s = Script { shuffle, ..Script::default() };
        if let Some((d, r)) = v6 { s.dns.push((Family::V6, d, r)); }
        if let Some((d, r)) = v4 { s.dns.push((Family::V4, d, r)); }
        for (i, c) in conns.iter().enumerate() {
            let n = (i % 6) as u8;
            let a = if i < 6 {
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n)))
            } else {
                IpAddr::from([192, 0, 2, n])
            };
            s.conn.insert(a, *c);
        }
        let mut cfg = Config::default();
        cfg.serial = serial;
        cfg.prefer = if prefer_v4 { Family::V4 } else { Family::V6 };
        cfg.attempt_delay = ms(attempt_delay);
        cfg.resolution_delay = ms(resolution_delay);
        cfg.timeout = ms(timeout);
        let delay = cfg.clamped_attempt_delay();
        let r = simulate(&cfg, Mode::Connect, Target::Name, None, &s);
        let (end, _) = r.outcome.as_ref().expect("ended");
        prop_assert!(*end <= ms(timeout));
        if serial {
            prop_assert!(r.max_active <= 1);
        }
        for w in r.starts.windows(2) {
            let (a, b) = (w[0].0, w[1].0);
            let failed_between = r.failures.iter().any(|f| *f >= a && *f <= b);
            prop_assert!(
                b - a >= delay || failed_between,
                "started {:?} then {:?} with delay {:?}, no failure between", a, b, delay
            );
        }
        // Every address is tried at most once.
        let mut seen: Vec<SocketAddr> = r.starts.iter().map(|s| s.1).collect();
        seen.sort();
        seen.dedup();
        prop_assert_eq!(seen.len(), r.starts.len());
    }
}

proptest! {
    /// Resolve-only mode, for any answers: it never starts an attempt, ends by the
    /// timeout with every family reported once, and orders exactly the usable addresses.
    #[test]
    fn resolve_only_ends_and_reports_every_family(
        v6 in answer_strategy(true),
        v4 in answer_strategy(false),
        timeout in 1u64..4000,
    ) {
        let mut s = Script::default();
        if let Some((d, r)) = v6 { s.dns.push((Family::V6, d, r)); }
        if let Some((d, r)) = v4 { s.dns.push((Family::V4, d, r)); }
        let mut cfg = Config::default();
        cfg.timeout = ms(timeout);
        let r = simulate(&cfg, Mode::Resolve, Target::Name, None, &s);
        prop_assert!(r.starts.is_empty());
        match r.outcome {
            Some((at, Outcome::Resolved(res))) => {
                prop_assert!(at <= ms(timeout));
                let mut fams: Vec<Family> = res.answers.iter().map(|a| a.family).collect();
                fams.sort();
                prop_assert_eq!(fams, vec![Family::V4, Family::V6]);
                let mut usable: Vec<IpAddr> = res.answers.iter().flat_map(|a| a.addrs.clone()).collect();
                usable.sort();
                usable.dedup();
                let mut order = res.order.clone();
                order.sort();
                prop_assert_eq!(order, usable);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }
}

/// A caller driving the machine directly with absurd durations gets no panic
/// (`Instant + Duration` overflows): the deadlines saturate and the run still works.
#[test]
fn absurd_durations_do_not_overflow() {
    let mut cfg = Config::default();
    cfg.timeout = Duration::MAX;
    cfg.resolution_delay = Duration::MAX;
    let t0 = Instant::now();
    let mut he = HappyEyeballs::new(&cfg, Mode::Connect, Target::Name, 443, None, t0);
    while he.poll_action(t0).is_some() {}
    he.handle(
        t0,
        Input::Answer {
            family: Family::V4,
            result: Ok(vec![ip("192.0.2.1")]),
        },
    );
    while he.poll_action(t0).is_some() {}
    assert!(he.poll_timeout().is_some_and(|t| t > t0));
    assert!(!he.is_done());
}
