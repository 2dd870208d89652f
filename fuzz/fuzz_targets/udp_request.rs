//! The UDP whoami's decision on one datagram (`whoami::udp::answer`) and its reply rate
//! limiter (`Limiter`) on arbitrary input: never panics; a reply is never larger than
//! the request; no reply goes to a service port or one of our ports; and a reply fed
//! back to any whoami (ours or another) is never answered, so no two whoamis can loop.
//! The limiter, driven by made-up instants, never admits more than its global burst
//! plus its rate times the time passed.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use dualstack::whoami::udp::{answer, Limiter, Rate, ReplyLimits, MIN_SOURCE_PORT};
use libfuzzer_sys::fuzz_target;

const OWN: [u16; 2] = [2323, 5353];

fn addr(b: &[u8], port: u16) -> SocketAddr {
    let ip = if b.first().is_some_and(|x| x & 1 == 1) {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(b[0])))
    } else {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, b.first().copied().unwrap_or(1)))
    };
    SocketAddr::new(ip, port)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let peer = addr(&data[0..1], u16::from_be_bytes([data[1], data[2]]));
    let local = addr(&data[3..4], OWN[usize::from(data[4] & 1)]);
    let request = &data[5..];
    // The full length may exceed what was read (MSG_TRUNC).
    let len = request.len() + usize::from(data[4] >> 1) * 16;
    if let Ok(reply) = answer(request, len, peer, local, &OWN) {
        assert!(reply.len() <= len, "amplification");
        assert!(peer.port() >= MIN_SOURCE_PORT && !OWN.contains(&peer.port()));
        // The reply arrives at another whoami (or ours, via an echo): refused.
        for their_port in [2323u16, 40000] {
            let back = answer(
                &reply,
                reply.len(),
                local,
                addr(&[9], their_port),
                &[their_port],
            );
            assert!(back.is_err(), "a reply was answered: loop");
        }
    }

    // The limiter: 3 bytes an event (source, milliseconds since the last event).
    let limits = ReplyLimits::default()
        .per_source(Rate {
            per_second: 3,
            burst: 5,
        })
        .global(Rate {
            per_second: 10,
            burst: 20,
        });
    let mut l = Limiter::new(limits);
    let t0 = Instant::now();
    let mut now = t0;
    let mut admitted = 0u64;
    for e in request.chunks_exact(3) {
        now += Duration::from_millis(u64::from(u16::from_be_bytes([e[1], e[2]])));
        if l.admit(addr(&e[0..1], 0).ip(), now).is_ok() {
            admitted += 1;
        }
        let elapsed_ms = now.duration_since(t0).as_millis() as u64;
        assert!(
            admitted <= 20 + 10 * elapsed_ms / 1000 + 1,
            "{admitted} replies in {elapsed_ms} ms"
        );
    }
});
