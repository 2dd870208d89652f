//! HTTPS records on the machine (draft-ietf-happy-happyeyeballs-v3-04 §4, RFC 9460 §7),
//! with made-up instants: hints start attempts while A/AAAA are late, a late HTTPS answer
//! costs at most the Resolution Delay, the record's port is used, hints give way to the
//! real answers, and the record of the winner (ALPN, ECH) can be asked for.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use dualstack_eyeballs::v3::svcb::ServiceRecord;
use dualstack_eyeballs::{
    Action, AttemptId, Config, Family, HappyEyeballs, Input, Mode, Outcome, Target,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A record like `1 . port=P alpn=h2 ipv4hint=.. ipv6hint=..` for the origin `h.test`.
fn rec(target: &str, port: Option<u16>, v4: &[&str], v6: &[&str]) -> ServiceRecord {
    ServiceRecord {
        priority: 1,
        target: target.into(),
        port,
        alpn: vec!["h2".into()],
        ech: true,
        ipv4hint: v4.iter().map(|s| s.parse().unwrap()).collect(),
        ipv6hint: v6.iter().map(|s| s.parse().unwrap()).collect(),
        ..ServiceRecord::default()
    }
}

enum Ev {
    Aaaa(&'static [&'static str]),
    A(&'static [&'static str]),
    Https(Vec<ServiceRecord>),
}

struct Run {
    m: HappyEyeballs,
    t0: Instant,
    starts: Vec<(Duration, SocketAddr, AttemptId)>,
    first_action: Option<Action>,
    done: Option<Outcome>,
}

impl Run {
    fn new(svcb: bool) -> Run {
        let t0 = Instant::now();
        let mut m = HappyEyeballs::new(
            &Config::default(),
            Mode::Connect,
            Target::Name,
            443,
            None,
            t0,
        );
        if svcb {
            m = m.with_svcb("h.test");
        }
        let mut r = Run {
            m,
            t0,
            starts: Vec::new(),
            first_action: None,
            done: None,
        };
        r.drain(t0);
        r
    }

    fn drain(&mut self, now: Instant) {
        while let Some(a) = self.m.poll_action(now) {
            if self.first_action.is_none() {
                self.first_action = Some(a.clone());
            }
            match a {
                Action::StartAttempt { id, addr } => self.starts.push((now - self.t0, addr, id)),
                Action::Done(o) => self.done = Some(o),
                _ => {}
            }
        }
    }

    /// Play `events` at their offsets, stepping through the machine's own timers, until
    /// `until`.
    fn play(&mut self, mut events: Vec<(u64, Ev)>, until: u64) {
        events.sort_by_key(|e| e.0);
        let end = self.t0 + ms(until);
        let mut events = events.into_iter().peekable();
        for _ in 0..1000 {
            let next_ev = events.peek().map(|e| self.t0 + ms(e.0));
            let timer = self.m.poll_timeout();
            let t = match (next_ev, timer) {
                (Some(e), Some(t)) => e.min(t),
                (Some(e), None) => e,
                (None, Some(t)) => t,
                (None, None) => break,
            };
            if t > end {
                break;
            }
            if next_ev == Some(t) {
                let (_, ev) = events.next().unwrap();
                let input = match ev {
                    Ev::Aaaa(v) => Input::Answer {
                        family: Family::V6,
                        result: Ok(v.iter().map(|s| ip(s)).collect()),
                    },
                    Ev::A(v) => Input::Answer {
                        family: Family::V4,
                        result: Ok(v.iter().map(|s| ip(s)).collect()),
                    },
                    Ev::Https(r) => Input::Https { result: Ok(r) },
                };
                self.m.handle(t, input);
            }
            self.drain(t);
        }
    }

    fn connect(&mut self, addr: &str, at: u64) {
        let (_, _, id) = *self
            .starts
            .iter()
            .find(|s| s.1 == sa(addr))
            .expect("attempt started");
        let t = self.t0 + ms(at);
        self.m.handle(t, Input::Connected { id });
        self.drain(t);
    }
}

#[test]
fn the_https_query_goes_first_only_when_asked() {
    let r = Run::new(true);
    assert_eq!(r.first_action, Some(Action::SendHttpsQuery));
    let r = Run::new(false);
    assert_ne!(r.first_action, Some(Action::SendHttpsQuery));
}

#[test]
fn hints_start_attempts_while_a_and_aaaa_are_late() {
    let mut r = Run::new(true);
    r.play(
        vec![
            (
                5,
                Ev::Https(vec![rec(
                    "h.test",
                    Some(8443),
                    &["198.51.100.10"],
                    &["2001:db8::10"],
                )]),
            ),
            (2000, Ev::Aaaa(&["2001:db8::10"])),
            (2000, Ev::A(&["198.51.100.10"])),
        ],
        300,
    );
    assert_eq!(r.starts[0].0, ms(5), "no wait once the hints are there");
    assert_eq!(r.starts[0].1, sa("[2001:db8::10]:8443"));
    assert_eq!(
        r.starts[1].0,
        ms(255),
        "the IPv4 hint after the attempt delay"
    );
    assert_eq!(r.starts[1].1, sa("198.51.100.10:8443"));
    r.connect("[2001:db8::10]:8443", 6);
    assert!(matches!(r.done, Some(Outcome::Connected { .. })));
    let s = r.m.service_of(ip("2001:db8::10")).unwrap();
    assert_eq!((s.alpn.clone(), s.ech), (vec!["h2".to_string()], true));
}

#[test]
fn a_late_https_answer_costs_at_most_the_resolution_delay() {
    let mut r = Run::new(true);
    r.play(
        vec![
            (1, Ev::Aaaa(&["2001:db8::10"])),
            (1, Ev::A(&["198.51.100.10"])),
            (2000, Ev::Https(vec![])),
        ],
        100,
    );
    assert_eq!(r.starts[0].0, ms(51));
    assert_eq!(r.starts[0].1, sa("[2001:db8::10]:443"));
    // Without SVCB: at once.
    let mut r = Run::new(false);
    r.play(
        vec![
            (1, Ev::Aaaa(&["2001:db8::10"])),
            (1, Ev::A(&["198.51.100.10"])),
        ],
        100,
    );
    assert_eq!(r.starts[0].0, ms(1));
}

#[test]
fn an_early_https_answer_is_not_waited_for_longer() {
    let mut r = Run::new(true);
    r.play(
        vec![
            (1, Ev::Aaaa(&["2001:db8::10"])),
            (1, Ev::A(&["198.51.100.10"])),
            (20, Ev::Https(vec![rec("h.test", Some(8080), &[], &[])])),
        ],
        100,
    );
    assert_eq!(r.starts[0].0, ms(20));
    assert_eq!(
        r.starts[0].1,
        sa("[2001:db8::10]:8080"),
        "the record's port"
    );
}

#[test]
fn hints_give_way_to_the_real_answers() {
    let mut r = Run::new(true);
    r.play(
        vec![
            (1, Ev::Aaaa(&["2001:db8::10"])),
            (1, Ev::A(&["198.51.100.10"])),
            (
                2,
                Ev::Https(vec![rec(
                    "h.test",
                    None,
                    &["198.51.100.66"],
                    &["2001:db8::66"],
                )]),
            ),
        ],
        1000,
    );
    let tried: Vec<SocketAddr> = r.starts.iter().map(|s| s.1).collect();
    assert_eq!(
        tried,
        [sa("[2001:db8::10]:443"), sa("198.51.100.10:443")],
        "dead hints never tried"
    );

    // A hint tried before the answer stays tried; the other family's hint goes when its
    // answer comes.
    let mut r = Run::new(true);
    r.play(
        vec![
            (
                1,
                Ev::Https(vec![rec(
                    "h.test",
                    None,
                    &["198.51.100.66"],
                    &["2001:db8::66"],
                )]),
            ),
            (100, Ev::A(&["198.51.100.10"])),
            (2000, Ev::Aaaa(&["2001:db8::10"])),
        ],
        600,
    );
    let tried: Vec<(Duration, SocketAddr)> = r.starts.iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(
        tried,
        [
            (ms(1), sa("[2001:db8::66]:443")),
            (ms(251), sa("198.51.100.10:443")),
        ]
    );
}

#[test]
fn other_targets_are_reached_through_their_hints_and_port() {
    let mut r = Run::new(true);
    r.play(
        vec![
            (
                1,
                Ev::Https(vec![rec(
                    "svc.pool.test",
                    Some(9000),
                    &[],
                    &["2001:db8::20"],
                )]),
            ),
            (2000, Ev::Aaaa(&["2001:db8::10"])),
            (2000, Ev::A(&["198.51.100.10"])),
        ],
        100,
    );
    assert_eq!(r.starts[0].0, ms(1));
    assert_eq!(r.starts[0].1, sa("[2001:db8::20]:9000"));
    // The origin's own addresses keep the origin's port.
    let mut r = Run::new(true);
    r.play(
        vec![
            (
                1,
                Ev::Https(vec![rec(
                    "svc.pool.test",
                    Some(9000),
                    &[],
                    &["2001:db8::20"],
                )]),
            ),
            (2, Ev::Aaaa(&["2001:db8::10"])),
            (2, Ev::A(&["198.51.100.10"])),
        ],
        600,
    );
    assert!(
        r.starts.iter().any(|s| s.1 == sa("198.51.100.10:443")),
        "{:?}",
        r.starts
    );
}

#[test]
fn a_failed_https_query_changes_nothing_but_the_wait() {
    let mut r = Run::new(true);
    r.m.handle(
        r.t0 + ms(1),
        Input::Https {
            result: Err("SERVFAIL".into()),
        },
    );
    r.play(
        vec![
            (3, Ev::Aaaa(&["2001:db8::10"])),
            (3, Ev::A(&["198.51.100.10"])),
        ],
        100,
    );
    assert_eq!(
        r.starts[0],
        (ms(3), sa("[2001:db8::10]:443"), r.starts[0].2)
    );
}

#[test]
fn no_addresses_yet_waits_for_the_https_answer() {
    // The name itself has no A/AAAA (an AliasMode origin): the service's hints carry it.
    let mut r = Run::new(true);
    r.play(
        vec![
            (1, Ev::Aaaa(&[])),
            (1, Ev::A(&[])),
            (
                30,
                Ev::Https(vec![rec("svc.test", Some(9000), &[], &["2001:db8::20"])]),
            ),
        ],
        100,
    );
    assert!(r.done.is_none(), "{:?}", r.done);
    assert_eq!(r.starts[0].0, ms(30));
    assert_eq!(r.starts[0].1, sa("[2001:db8::20]:9000"));
}
