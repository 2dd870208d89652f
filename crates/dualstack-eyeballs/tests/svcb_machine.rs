//! HTTPS records on the machine (draft-ietf-happy-happyeyeballs-v3-04 §4, RFC 9460 §7),
//! with made-up instants: hints start attempts while A/AAAA are late, a late HTTPS answer
//! costs at most the Resolution Delay, the record's port is used, hints give way to the
//! real answers, and the record of the winner (ALPN, ECH) can be asked for.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{ip, ms, rec, sa, Ev, Run};
use dualstack_eyeballs::v3::groups::{Group, ProtocolPreference};
use dualstack_eyeballs::v3::svcb::ServiceRecord;
use dualstack_eyeballs::{Action, Config, Input, Outcome};

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

// Grouping before interleaving (draft-ietf-happy-happyeyeballs-v3-04 §5, §6): every
// endpoint of the first group is started before the first of the next; the families are
// interleaved within a group only.

fn svc(priority: u16, target: &str, alpn: &[&str], v4: &[&str], v6: &[&str]) -> ServiceRecord {
    ServiceRecord {
        priority,
        alpn: alpn.iter().map(|a| a.to_string()).collect(),
        no_default_alpn: true,
        ech: false,
        ..rec(target, None, v4, v6)
    }
}

fn tried(r: &Run) -> Vec<(Duration, SocketAddr)> {
    r.starts.iter().map(|s| (s.0, s.1)).collect()
}

fn quic_then_tcp() -> ProtocolPreference {
    ProtocolPreference::new(vec![
        vec!["h3".into()],
        vec!["h2".into(), "http/1.1".into()],
    ])
}

fn cfg_with(protocols: ProtocolPreference) -> Config {
    let mut cfg = Config::default();
    cfg.protocols = protocols;
    cfg
}

#[test]
fn a_service_group_is_finished_before_the_next_and_unnamed_addresses_go_last() {
    // Priority 1 is another target (two IPv6 hints, one IPv4), priority 2 another one;
    // the origin's own A/AAAA belong to no record: last (§5.2).
    let mut r = Run::new(true);
    r.play(
        vec![
            (
                1,
                Ev::Https(vec![
                    svc(2, "b.test", &["h2"], &["198.51.100.20"], &["2001:db8::20"]),
                    svc(
                        1,
                        "a.test",
                        &["h2"],
                        &["198.51.100.10"],
                        &["2001:db8::10", "2001:db8::11"],
                    ),
                ]),
            ),
            (1, Ev::Aaaa(&["2001:db8::1"])),
            (1, Ev::A(&["198.51.100.1"])),
        ],
        5000,
    );
    assert_eq!(
        tried(&r),
        [
            (ms(1), sa("[2001:db8::10]:443")),
            (ms(251), sa("198.51.100.10:443")),
            (ms(501), sa("[2001:db8::11]:443")),
            (ms(751), sa("[2001:db8::20]:443")),
            (ms(1001), sa("198.51.100.20:443")),
            (ms(1251), sa("[2001:db8::1]:443")),
            (ms(1501), sa("198.51.100.1:443")),
        ]
    );
}

#[test]
fn the_origins_own_record_gives_its_addresses_its_priority_and_port() {
    // "2 . port=8443" makes the origin's A/AAAA the second group, after a.test's hint.
    let mut r = Run::new(true);
    let mut origin = svc(2, "h.test", &["h2"], &[], &[]);
    origin.port = Some(8443);
    r.play(
        vec![
            (
                1,
                Ev::Https(vec![
                    origin,
                    svc(1, "a.test", &["h2"], &["198.51.100.10"], &[]),
                ]),
            ),
            (2, Ev::Aaaa(&["2001:db8::1"])),
            (2, Ev::A(&["198.51.100.1"])),
        ],
        1000,
    );
    assert_eq!(
        tried(&r),
        [
            (ms(2), sa("198.51.100.10:443")),
            (ms(252), sa("[2001:db8::1]:8443")),
            (ms(502), sa("198.51.100.1:8443")),
        ]
    );
}

#[test]
fn a_late_answer_slots_into_its_own_group() {
    // The origin's AAAA comes late: it joins the origin's group (priority 1) and goes
    // before the priority-2 group's addresses not tried yet.
    let mut r = Run::new(true);
    r.play(
        vec![
            (
                1,
                Ev::Https(vec![
                    svc(1, "h.test", &["h2"], &[], &[]),
                    svc(
                        2,
                        "b.test",
                        &["h2"],
                        &["198.51.100.20", "198.51.100.21"],
                        &[],
                    ),
                ]),
            ),
            (1, Ev::A(&["198.51.100.1"])),
            (300, Ev::Aaaa(&["2001:db8::1"])),
        ],
        1000,
    );
    assert_eq!(
        tried(&r),
        [
            (ms(51), sa("198.51.100.1:443")),
            (ms(301), sa("[2001:db8::1]:443")),
            (ms(551), sa("198.51.100.20:443")),
            (ms(801), sa("198.51.100.21:443")),
        ]
    );
}

#[test]
fn protocol_classes_order_groups_within_a_priority_only() {
    // Default: the service's priorities win; within priority 1 the h3 class goes first.
    let records = vec![
        svc(1, "tcp.test", &["h2"], &[], &["2001:db8::2"]),
        svc(1, "quic.test", &["h3"], &[], &["2001:db8::3"]),
        svc(2, "quic2.test", &["h3"], &[], &["2001:db8::4"]),
        svc(3, "old.test", &["h3", "h2"], &[], &["2001:db8::5"]),
    ];
    let mut r = Run::with(&cfg_with(quic_then_tcp()), true);
    r.play(vec![(1, Ev::Https(records.clone()))], 5000);
    let got: Vec<(SocketAddr, usize)> = r
        .starts
        .iter()
        .map(|s| (s.1, r.m.group_of(s.2).expect("group").class))
        .collect();
    assert_eq!(
        got,
        [
            (sa("[2001:db8::3]:443"), 0),
            (sa("[2001:db8::2]:443"), 1),
            (sa("[2001:db8::4]:443"), 0),
            (sa("[2001:db8::5]:443"), 0),
            (sa("[2001:db8::5]:443"), 1),
        ],
        "a record in two classes is two endpoints"
    );

    // Outranking: every h3 group before any h2 group, each class in priority order.
    let mut r = Run::with(&cfg_with(quic_then_tcp().outranking_priority(true)), true);
    r.play(vec![(1, Ev::Https(records))], 5000);
    let got: Vec<SocketAddr> = r.starts.iter().map(|s| s.1).collect();
    assert_eq!(
        got,
        [
            sa("[2001:db8::3]:443"),
            sa("[2001:db8::4]:443"),
            sa("[2001:db8::5]:443"),
            sa("[2001:db8::2]:443"),
            sa("[2001:db8::5]:443"),
        ]
    );
}

#[test]
fn records_no_class_accepts_are_not_used() {
    // A TCP-only client: an h3-only record's hints are never tried.
    let tcp = ProtocolPreference::new(vec![vec!["h2".into(), "http/1.1".into()]]);
    let mut r = Run::with(&cfg_with(tcp), true);
    r.play(
        vec![
            (
                1,
                Ev::Https(vec![
                    svc(
                        1,
                        "quic.test",
                        &["h3"],
                        &["198.51.100.30"],
                        &["2001:db8::30"],
                    ),
                    svc(2, "h.test", &["h2"], &[], &[]),
                ]),
            ),
            (2, Ev::Aaaa(&["2001:db8::1"])),
            (2, Ev::A(&["198.51.100.1"])),
        ],
        1000,
    );
    assert_eq!(
        tried(&r),
        [
            (ms(2), sa("[2001:db8::1]:443")),
            (ms(252), sa("198.51.100.1:443")),
        ]
    );
    let (_, _, id) = r.starts[0];
    assert_eq!(
        r.m.group_of(id),
        Some(Group {
            class: 0,
            service: Some(1)
        })
    );
}

#[test]
fn equal_priorities_are_shuffled_and_different_ones_never_reordered() {
    // RFC 9460 §2.4.1: a.test and b.test share priority 1; c.test (priority 2) and the
    // origin's own addresses (no record names the origin) always come after them.
    let records = vec![
        svc(2, "c.test", &["h2"], &[], &["2001:db8::c"]),
        svc(1, "a.test", &["h2"], &[], &["2001:db8::a"]),
        svc(1, "b.test", &["h2"], &[], &["2001:db8::b"]),
    ];
    let play = |seed| {
        let mut r = Run::seeded(&Config::default(), true, Some(seed));
        r.play(
            vec![
                (1, Ev::Https(records.clone())),
                (1, Ev::Aaaa(&["2001:db8::1"])),
            ],
            5000,
        );
        r.starts.iter().map(|s| s.1).collect::<Vec<SocketAddr>>()
    };
    let mut firsts = Vec::new();
    for seed in 0..40 {
        let got = play(seed);
        assert_eq!(got.len(), 4, "seed {seed}: {got:?}");
        let mut head = got[..2].to_vec();
        head.sort();
        assert_eq!(
            head,
            [sa("[2001:db8::a]:443"), sa("[2001:db8::b]:443")],
            "seed {seed}"
        );
        assert_eq!(got[2..], [sa("[2001:db8::c]:443"), sa("[2001:db8::1]:443")]);
        assert_eq!(play(seed), got, "one seed, one order");
        firsts.push(got[0]);
    }
    assert!(firsts.contains(&sa("[2001:db8::a]:443")), "{firsts:?}");
    assert!(firsts.contains(&sa("[2001:db8::b]:443")), "{firsts:?}");
}
