//! QUIC raced against TCP on the sans-IO machine (draft-ietf-happy-happyeyeballs-v3-04),
//! at made-up instants: which endpoints get a QUIC attempt (HTTPS record `h3`, or a
//! forced ALPN), their order (QUIC before TCP, families interleaved in each, one attempt
//! delay for all), what a black-holed UDP path costs, and the "QUIC broken" history.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use dualstack_eyeballs::v3::svcb::ServiceRecord;
use dualstack_eyeballs::{
    Action, Config, Family, HappyEyeballs, History, Input, Mode, Outcome, Protocol, Target,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const V6: &str = "2001:db8::10";
const V4: &str = "198.51.100.10";

#[derive(Clone, Copy, Debug)]
enum Conn {
    Accept(u64),
    Fail(u64),
    Hang,
}

#[derive(Default)]
struct Script {
    records: Option<Vec<ServiceRecord>>,
    conn: HashMap<(IpAddr, Protocol), Conn>,
}

#[derive(Debug, Default)]
struct Run {
    starts: Vec<(Duration, Protocol, IpAddr)>,
    outcome: Option<(Duration, Protocol, IpAddr)>,
    remember_quic: Vec<bool>,
}

fn record(alpn: &[&str]) -> ServiceRecord {
    ServiceRecord {
        priority: 1,
        target: "h.test".into(),
        alpn: alpn.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn quic_cfg() -> Config {
    let mut cfg = Config::default();
    cfg.quic = true;
    cfg
}

/// Run a connect to `h.test` port 443 (or a literal): AAAA and A answer at once with
/// [`V6`] and [`V4`], the HTTPS answer (when scripted) too; attempts end as scripted
/// (unscripted ones hang).
fn simulate(cfg: &Config, target: Target, history: Option<History>, s: &Script) -> Run {
    let t0 = Instant::now();
    let mut m = HappyEyeballs::new(cfg, Mode::Connect, target, 443, history, t0);
    if s.records.is_some() {
        m = m.with_svcb("h.test");
    }
    let mut run = Run::default();
    let mut now = t0;
    let mut pending: Vec<(Instant, Input)> = Vec::new();
    let mut ids = HashMap::new();
    for _ in 0..1000 {
        while let Some(a) = m.poll_action(now) {
            match a {
                Action::SendQuery { family } => {
                    let addr = if family == Family::V6 { V6 } else { V4 };
                    let result = Ok(vec![ip(addr)]);
                    pending.push((now, Input::Answer { family, result }));
                }
                Action::SendHttpsQuery => {
                    let result = Ok(s.records.clone().unwrap_or_default());
                    pending.push((now, Input::Https { result }));
                }
                Action::StartAttempt { id, addr, protocol } => {
                    run.starts.push((now - t0, protocol, addr.ip()));
                    ids.insert(id, (protocol, addr.ip()));
                    let c = s.conn.get(&(addr.ip(), protocol)).copied();
                    match c.unwrap_or(Conn::Hang) {
                        Conn::Accept(d) => pending.push((now + ms(d), Input::Connected { id })),
                        Conn::Fail(d) => pending.push((
                            now + ms(d),
                            Input::Failed {
                                id,
                                error: "refused".into(),
                            },
                        )),
                        Conn::Hang => {}
                    }
                }
                Action::RememberQuic { works } => run.remember_quic.push(works),
                Action::Done(Outcome::Connected { id, elapsed, .. }) => {
                    let (p, a) = ids[&id];
                    run.outcome = Some((elapsed, p, a));
                    return run;
                }
                Action::Done(o) => panic!("not connected: {o:?}"),
                _ => {}
            }
        }
        let due = pending.iter().map(|p| p.0).min();
        let wake = m.poll_timeout().expect("running");
        match due {
            Some(t) if t <= wake => {
                now = t;
                let i = pending.iter().position(|p| p.0 == t).unwrap();
                let (_, input) = pending.remove(i);
                m.handle(now, input);
            }
            _ => now = wake,
        }
    }
    panic!("the machine did not end: {run:?}");
}

fn starts(r: &Run) -> Vec<(u64, Protocol, IpAddr)> {
    r.starts
        .iter()
        .map(|(d, p, a)| (d.as_millis() as u64, *p, *a))
        .collect()
}

use Protocol::{Quic, Tcp};

#[test]
fn h3_record_puts_quic_first_families_interleaved_one_delay_for_all() {
    // Every attempt hangs but the last: the order and the pacing show alone.
    let mut s = Script {
        records: Some(vec![record(&["h3", "h2"])]),
        ..Script::default()
    };
    s.conn.insert((ip(V4), Tcp), Conn::Accept(1));
    let r = simulate(&quic_cfg(), Target::Name, None, &s);
    assert_eq!(
        starts(&r),
        [
            (0, Quic, ip(V6)),
            (250, Quic, ip(V4)),
            (500, Tcp, ip(V6)),
            (750, Tcp, ip(V4)),
        ]
    );
    assert_eq!(r.outcome, Some((ms(751), Tcp, ip(V4))));
    assert_eq!(r.remember_quic, [false], "TCP won after QUIC attempts");
}

#[test]
fn no_quic_without_h3_or_without_the_caller_asking() {
    // The record offers h2 only.
    let mut s = Script {
        records: Some(vec![record(&["h2"])]),
        ..Script::default()
    };
    s.conn.insert((ip(V6), Tcp), Conn::Accept(1));
    let r = simulate(&quic_cfg(), Target::Name, None, &s);
    assert_eq!(starts(&r), [(0, Tcp, ip(V6))]);
    assert!(
        r.remember_quic.is_empty(),
        "no QUIC attempt, nothing to say"
    );
    // h3 offered, but the caller makes no QUIC attempts.
    s.records = Some(vec![record(&["h3"])]);
    let r = simulate(&Config::default(), Target::Name, None, &s);
    assert_eq!(starts(&r), [(0, Tcp, ip(V6))]);
    // h3 offered, the caller forces an ALPN list without h3.
    let mut cfg = quic_cfg();
    cfg.alpn = vec!["h2".into()];
    let r = simulate(&cfg, Target::Name, None, &s);
    assert_eq!(starts(&r), [(0, Tcp, ip(V6))]);
}

#[test]
fn forced_h3_gives_every_address_a_quic_attempt_without_a_record() {
    let mut cfg = quic_cfg();
    cfg.alpn = vec!["h3".into(), "h2".into()];
    let mut s = Script::default();
    s.conn.insert((ip(V6), Quic), Conn::Accept(4));
    let r = simulate(&cfg, Target::Name, None, &s);
    assert_eq!(starts(&r), [(0, Quic, ip(V6))]);
    assert_eq!(r.outcome, Some((ms(4), Quic, ip(V6))));
    assert_eq!(r.remember_quic, [true]);
    // An IP literal: QUIC to it, then TCP to it one attempt delay later.
    let mut s = Script::default();
    s.conn.insert((ip(V4), Tcp), Conn::Accept(1));
    let lit = Target::Literal {
        ip: ip(V4),
        scope_id: 0,
    };
    cfg.nat64 = false; // no NAT64 discovery step for the IPv4 literal
    let r = simulate(&cfg, lit, None, &s);
    assert_eq!(starts(&r), [(0, Quic, ip(V4)), (250, Tcp, ip(V4))]);
    assert!(r.remember_quic.is_empty(), "literals keep no history");
}

#[test]
fn udp_black_holed_to_ipv6_costs_one_attempt_delay() {
    let mut s = Script {
        records: Some(vec![record(&["h3", "h2"])]),
        ..Script::default()
    };
    s.conn.insert((ip(V4), Quic), Conn::Accept(3));
    s.conn.insert((ip(V6), Tcp), Conn::Accept(1));
    let r = simulate(&quic_cfg(), Target::Name, None, &s);
    assert_eq!(starts(&r), [(0, Quic, ip(V6)), (250, Quic, ip(V4))]);
    assert_eq!(r.outcome, Some((ms(253), Quic, ip(V4))));
    assert_eq!(r.remember_quic, [true]);
}

#[test]
fn a_failed_quic_handshake_starts_the_next_endpoint_at_once() {
    let mut s = Script {
        records: Some(vec![record(&["h3"])]),
        ..Script::default()
    };
    s.conn.insert((ip(V6), Quic), Conn::Fail(10));
    s.conn.insert((ip(V4), Quic), Conn::Fail(5));
    s.conn.insert((ip(V6), Tcp), Conn::Accept(2));
    let r = simulate(&quic_cfg(), Target::Name, None, &s);
    assert_eq!(
        starts(&r),
        [(0, Quic, ip(V6)), (10, Quic, ip(V4)), (15, Tcp, ip(V6))]
    );
    assert_eq!(r.outcome, Some((ms(17), Tcp, ip(V6))));
    assert_eq!(r.remember_quic, [false]);
}

#[test]
fn quic_broken_in_history_goes_straight_to_tcp() {
    let mut s = Script {
        records: Some(vec![record(&["h3", "h2"])]),
        ..Script::default()
    };
    s.conn.insert((ip(V6), Tcp), Conn::Accept(1));
    let h = |quic_broken| History {
        prefer: Some(Family::V6),
        winner: Some((ip(V6), ms(1))),
        demoted: Vec::new(),
        age: ms(1000),
        quic_broken,
    };
    let r = simulate(&quic_cfg(), Target::Name, Some(h(true)), &s);
    assert_eq!(starts(&r), [(0, Tcp, ip(V6))]);
    assert!(r.remember_quic.is_empty());
    // History without the mark: QUIC is tried again.
    let r = simulate(&quic_cfg(), Target::Name, Some(h(false)), &s);
    assert_eq!(starts(&r)[0], (0, Quic, ip(V6)));
}

#[test]
fn quic_is_decided_per_record() {
    // The origin's own record offers h3 with an IPv6 hint; another target (h2 only)
    // has an IPv4 hint: only the h3 record's address gets a QUIC attempt.
    let mut other = record(&["h2"]);
    other.priority = 2;
    other.target = "b.test".into();
    other.ipv4hint = vec!["198.51.100.20".parse().unwrap()];
    let s = Script {
        records: Some(vec![record(&["h3"]), other]),
        conn: [((ip("198.51.100.20"), Tcp), Conn::Accept(1))].into(),
    };
    let r = simulate(&quic_cfg(), Target::Name, None, &s);
    let quic: Vec<IpAddr> = r
        .starts
        .iter()
        .filter(|s| s.1 == Quic)
        .map(|s| s.2)
        .collect();
    assert_eq!(quic, [ip(V6), ip(V4)], "{:?}", r.starts);
    assert!(r
        .starts
        .iter()
        .any(|s| s.1 == Tcp && s.2 == ip("198.51.100.20")));
    assert_eq!(r.starts[0], (ms(0), Quic, ip(V6)));
}
