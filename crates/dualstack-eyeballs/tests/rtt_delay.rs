//! The RTT-based Connection Attempt Delay on the machine, with made-up instants: an RTT
//! learnt on a network shortens (or lengthens) the wait before the next family, with the
//! reason in the trace; no RTT, or the option off, keeps the configured delay.
#![allow(clippy::field_reassign_with_default)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use dualstack_eyeballs::v3::rtt::RttTable;
use dualstack_eyeballs::{Action, Config, Family, HappyEyeballs, Input, Mode, Target, TraceKind};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Both answers at t0 (AAAA 2001:db8::66 black-holed, A 198.51.100.10); returns the
/// offsets at which attempts start until the second one, and the delay reasons traced.
fn second_attempt_at(
    cfg: &Config,
    rtt: &RttTable,
    t0: Instant,
) -> (Vec<(Duration, SocketAddr)>, Vec<String>) {
    let mut m = HappyEyeballs::new(cfg, Mode::Connect, Target::Name, 443, None, t0)
        .with_rtt(rtt.export(t0));
    let mut starts = Vec::new();
    let mut reasons = Vec::new();
    let drain = |m: &mut HappyEyeballs,
                 now: Instant,
                 starts: &mut Vec<(Duration, SocketAddr)>,
                 reasons: &mut Vec<String>| {
        while let Some(a) = m.poll_action(now) {
            match a {
                Action::StartAttempt { addr, .. } => starts.push((now - t0, addr)),
                Action::Trace(t) => {
                    if let TraceKind::AttemptDelay { delay, .. } = t.kind {
                        reasons.push(delay.to_string());
                    }
                }
                _ => {}
            }
        }
    };
    drain(&mut m, t0, &mut starts, &mut reasons);
    m.handle(
        t0,
        Input::Answer {
            family: Family::V6,
            result: Ok(vec![ip("2001:db8::66")]),
        },
    );
    m.handle(
        t0,
        Input::Answer {
            family: Family::V4,
            result: Ok(vec![ip("198.51.100.10")]),
        },
    );
    drain(&mut m, t0, &mut starts, &mut reasons);
    // The black-holed attempt never answers: step through the machine's own timeouts.
    for _ in 0..10 {
        let Some(t) = m.poll_timeout() else { break };
        drain(&mut m, t, &mut starts, &mut reasons);
        if starts.len() >= 2 {
            break;
        }
    }
    (starts, reasons)
}

#[test]
fn no_history_keeps_the_configured_delay() {
    let t0 = Instant::now();
    let (starts, reasons) = second_attempt_at(&Config::default(), &RttTable::default(), t0);
    assert_eq!(starts[0].1.ip(), ip("2001:db8::66"));
    assert_eq!(starts[1], (ms(250), "198.51.100.10:443".parse().unwrap()));
    assert_eq!(
        reasons[0],
        "attempt delay 250 ms: no RTT history for 2001:db8::/64, default"
    );
}

#[test]
fn a_fast_network_gets_the_floor() {
    let t0 = Instant::now();
    let mut rtt = RttTable::default();
    // An earlier healthy connect to another host of the same /64.
    rtt.observe(t0, ip("2001:db8::10"), Duration::from_micros(400));
    let (starts, reasons) = second_attempt_at(&Config::default(), &rtt, t0 + ms(5));
    assert_eq!(starts[1].0, ms(100));
    assert_eq!(
        reasons[0],
        "attempt delay 100 ms: 2 × RTT 0.400 ms to 2001:db8::/64, floor 100 ms"
    );
    // The floor can go down to RFC 8305's 10 ms, not below.
    let mut cfg = Config::default();
    cfg.min_attempt_delay = ms(1);
    let (starts, _) = second_attempt_at(&cfg, &rtt, t0 + ms(5));
    assert_eq!(starts[1].0, ms(10));
    cfg.min_attempt_delay = ms(30);
    let (starts, _) = second_attempt_at(&cfg, &rtt, t0 + ms(5));
    assert_eq!(starts[1].0, ms(30));
}

#[test]
fn a_slow_network_waits_longer_up_to_two_seconds() {
    let t0 = Instant::now();
    let mut rtt = RttTable::default();
    rtt.observe(t0, ip("2001:db8::10"), ms(300));
    let (starts, reasons) = second_attempt_at(&Config::default(), &rtt, t0);
    assert_eq!(starts[1].0, ms(600));
    assert_eq!(
        reasons[0],
        "attempt delay 600 ms: 2 × RTT 300 ms to 2001:db8::/64"
    );
    rtt.observe(t0, ip("2001:db8::10"), ms(59_000));
    let (starts, _) = second_attempt_at(&Config::default(), &rtt, t0);
    assert_eq!(starts[1].0, ms(2000));
}

#[test]
fn other_networks_and_the_option_off_are_unaffected() {
    let t0 = Instant::now();
    let mut rtt = RttTable::default();
    rtt.observe(t0, ip("2001:db8:1::10"), Duration::from_micros(400)); // another /64
    rtt.observe(t0, ip("198.51.100.1"), Duration::from_micros(400)); // the other family
    let (starts, _) = second_attempt_at(&Config::default(), &rtt, t0);
    assert_eq!(starts[1].0, ms(250));
    rtt.observe(t0, ip("2001:db8::10"), Duration::from_micros(400));
    let mut cfg = Config::default();
    cfg.rtt_attempt_delay = false;
    let (starts, _) = second_attempt_at(&cfg, &rtt, t0);
    assert_eq!(starts[1].0, ms(250));
    // A configured fixed delay below the floor is kept when there is no RTT.
    cfg.attempt_delay = ms(50);
    let (starts, _) = second_attempt_at(&cfg, &RttTable::default(), t0);
    assert_eq!(starts[1].0, ms(50));
}

#[test]
fn stale_rtt_is_not_used() {
    let t0 = Instant::now();
    let mut rtt = RttTable::new(16, Duration::from_secs(60));
    rtt.observe(t0, ip("2001:db8::10"), Duration::from_micros(400));
    let (starts, _) = second_attempt_at(&Config::default(), &rtt, t0 + Duration::from_secs(61));
    assert_eq!(starts[1].0, ms(250));
}
