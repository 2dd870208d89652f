//! The harness of the HTTPS-record tests: a run of the machine driven by a script of
//! DNS events at made-up offsets, stepping through the machine's own timers.
#![allow(dead_code)] // each test file uses part of it

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use dualstack_eyeballs::v3::svcb::ServiceRecord;
use dualstack_eyeballs::{
    Action, AttemptId, Config, Family, HappyEyeballs, Input, Mode, Outcome, Target,
};

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A record like `1 . port=P alpn=h2 ipv4hint=.. ipv6hint=..` for the origin `h.test`.
pub fn rec(target: &str, port: Option<u16>, v4: &[&str], v6: &[&str]) -> ServiceRecord {
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

pub enum Ev {
    Aaaa(&'static [&'static str]),
    A(&'static [&'static str]),
    Https(Vec<ServiceRecord>),
    /// A TargetName's answer: (name, family, addresses; `None`: the query failed).
    Target(&'static str, Family, Option<&'static [&'static str]>),
}

pub struct Run {
    pub m: HappyEyeballs,
    pub t0: Instant,
    pub starts: Vec<(Duration, SocketAddr, AttemptId)>,
    pub first_action: Option<Action>,
    pub done: Option<Outcome>,
    /// Every ResolveTarget action: (offset, name, families).
    pub target_queries: Vec<(Duration, String, Vec<Family>)>,
}

impl Run {
    pub fn new(svcb: bool) -> Run {
        Run::with(&Config::default(), svcb)
    }

    pub fn with(cfg: &Config, svcb: bool) -> Run {
        Run::seeded(cfg, svcb, None)
    }

    pub fn seeded(cfg: &Config, svcb: bool, seed: Option<u64>) -> Run {
        let t0 = Instant::now();
        let mut m = HappyEyeballs::new(cfg, Mode::Connect, Target::Name, 443, None, t0);
        if let Some(seed) = seed {
            m = m.with_shuffle_seed(seed);
        }
        if svcb {
            m = m.with_svcb("h.test");
        }
        let mut r = Run {
            m,
            t0,
            starts: Vec::new(),
            first_action: None,
            done: None,
            target_queries: Vec::new(),
        };
        r.drain(t0);
        r
    }

    pub fn drain(&mut self, now: Instant) {
        while let Some(a) = self.m.poll_action(now) {
            if self.first_action.is_none() {
                self.first_action = Some(a.clone());
            }
            match a {
                Action::StartAttempt { id, addr, .. } => {
                    self.starts.push((now - self.t0, addr, id))
                }
                Action::Done(o) => self.done = Some(o),
                Action::ResolveTarget { name, families } => {
                    self.target_queries.push((now - self.t0, name, families))
                }
                _ => {}
            }
        }
    }

    /// Play `events` at their offsets, stepping through the machine's own timers, until
    /// `until`.
    pub fn play(&mut self, mut events: Vec<(u64, Ev)>, until: u64) {
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
                    Ev::Target(name, family, v) => Input::TargetAnswer {
                        name: name.into(),
                        family,
                        result: v
                            .map(|v| v.iter().map(|s| ip(s)).collect())
                            .ok_or_else(|| "SERVFAIL".to_string()),
                    },
                };
                self.m.handle(t, input);
            }
            self.drain(t);
        }
    }

    pub fn connect(&mut self, addr: &str, at: u64) {
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
