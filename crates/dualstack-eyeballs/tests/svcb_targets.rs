//! ServiceMode records whose TargetName is not the host (RFC 9460 §7.3,
//! draft-ietf-happy-happyeyeballs-v3-04 §4.2.1), on made-up instants: the machine asks the
//! target's own A/AAAA (a bounded number of names), uses the record's hints until those
//! answers come, then the answers instead; a target without hints is reached through its
//! answers; a failed query leaves the hints.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{ms, rec, sa, Ev, Run};
use dualstack_eyeballs::v3::svcb::MAX_TARGETS;
use dualstack_eyeballs::{Family, Outcome};

fn tried(r: &Run) -> Vec<(Duration, SocketAddr)> {
    r.starts.iter().map(|s| (s.0, s.1)).collect()
}

#[test]
fn the_target_is_asked_once_with_the_allowed_families() {
    let mut r = Run::new(true);
    r.play(
        vec![(
            3,
            Ev::Https(vec![
                rec("svc.test", Some(9000), &[], &[]),
                rec("svc.test", Some(9001), &[], &[]),
                rec("h.test", None, &[], &[]),
            ]),
        )],
        10,
    );
    assert_eq!(
        r.target_queries,
        [(ms(3), "svc.test".to_string(), vec![Family::V6, Family::V4])]
    );
    // Without HTTPS records no target is asked.
    let mut r = Run::new(false);
    r.play(vec![(3, Ev::Aaaa(&["2001:db8::1"]))], 10);
    assert!(r.target_queries.is_empty());
}

#[test]
fn hints_until_the_targets_answer_then_the_answer() {
    // The origin has no address (an alias-like origin); the record's hints start at once;
    // the target's answers replace the hints not tried yet.
    let mut r = Run::new(true);
    r.play(
        vec![
            (1, Ev::Aaaa(&[])),
            (1, Ev::A(&[])),
            (
                5,
                Ev::Https(vec![rec(
                    "svc.test",
                    Some(9000),
                    &["198.51.100.66"],
                    &["2001:db8::66"],
                )]),
            ),
            (
                6,
                Ev::Target("svc.test", Family::V4, Some(&["198.51.100.20"])),
            ),
            (
                7,
                Ev::Target("svc.test", Family::V6, Some(&["2001:db8::20"])),
            ),
        ],
        1000,
    );
    assert_eq!(
        tried(&r),
        [
            (ms(5), sa("[2001:db8::66]:9000")),
            (ms(255), sa("198.51.100.20:9000")),
            (ms(505), sa("[2001:db8::20]:9000")),
        ],
        "the IPv4 hint gave way to the answer; the IPv6 hint was tried before its answer"
    );
}

#[test]
fn a_target_without_hints_is_reached_through_its_answer() {
    let mut r = Run::new(true);
    r.play(
        vec![
            (1, Ev::Aaaa(&[])),
            (1, Ev::A(&["198.51.100.1"])),
            (2, Ev::Https(vec![rec("svc.test", Some(9000), &[], &[])])),
            (
                100,
                Ev::Target("svc.test", Family::V6, Some(&["2001:db8::20"])),
            ),
            (100, Ev::Target("svc.test", Family::V4, Some(&[]))),
        ],
        1000,
    );
    assert_eq!(
        tried(&r),
        [
            // The origin's own address (no record names it) while the target is asked.
            (ms(2), sa("198.51.100.1:443")),
            (ms(252), sa("[2001:db8::20]:9000")),
        ]
    );
}

#[test]
fn nothing_else_to_try_waits_for_the_target_not_fails() {
    let mut r = Run::new(true);
    r.play(
        vec![
            (1, Ev::Aaaa(&[])),
            (1, Ev::A(&[])),
            (2, Ev::Https(vec![rec("svc.test", None, &[], &[])])),
            (
                40,
                Ev::Target("svc.test", Family::V4, Some(&["198.51.100.20"])),
            ),
        ],
        45,
    );
    assert!(r.done.is_none(), "{:?}", r.done);
    assert_eq!(tried(&r), [(ms(40), sa("198.51.100.20:443"))]);
    // Every answer empty: the run ends (no addresses), it does not hang.
    let mut r = Run::new(true);
    r.play(
        vec![
            (1, Ev::Aaaa(&[])),
            (1, Ev::A(&[])),
            (2, Ev::Https(vec![rec("svc.test", None, &[], &[])])),
            (3, Ev::Target("svc.test", Family::V4, Some(&[]))),
            (4, Ev::Target("svc.test", Family::V6, None)),
        ],
        100,
    );
    assert!(matches!(r.done, Some(Outcome::Failed(_))), "{:?}", r.done);
}

#[test]
fn a_failed_target_query_keeps_the_hints() {
    let mut r = Run::new(true);
    r.play(
        vec![
            (1, Ev::Aaaa(&[])),
            (1, Ev::A(&[])),
            (
                2,
                Ev::Https(vec![rec(
                    "svc.test",
                    None,
                    &["198.51.100.10", "198.51.100.11"],
                    &[],
                )]),
            ),
            (3, Ev::Target("svc.test", Family::V4, None)),
        ],
        1000,
    );
    assert_eq!(
        tried(&r),
        [
            (ms(2), sa("198.51.100.10:443")),
            (ms(252), sa("198.51.100.11:443")),
        ]
    );
}

#[test]
fn the_number_of_targets_asked_is_bounded() {
    let names: Vec<String> = (0..3 * MAX_TARGETS).map(|i| format!("s{i}.test")).collect();
    let records = names
        .iter()
        .map(|n| rec(n, None, &[], &["2001:db8::1"]))
        .collect();
    let mut r = Run::new(true);
    r.play(vec![(1, Ev::Https(records))], 2);
    assert_eq!(r.target_queries.len(), MAX_TARGETS);
}
