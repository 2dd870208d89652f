//! `addr::parse` on arbitrary UTF-8: never panics, and whatever it accepts survives a
//! round trip through its canonical text and classifies without panicking.
#![no_main]

use dualstack::addr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let Ok(p) = addr::parse(input) else { return };
    // The canonical text of the IP parses back to the same IP.
    let again = addr::parse(&p.ip.to_string()).expect("canonical text must parse");
    assert_eq!(again.ip, p.ip);
    assert_eq!(again.port, None);
    // With its zone and port it parses back to the same thing.
    let mut text = match (p.ip, &p.zone) {
        (std::net::IpAddr::V6(v6), Some(z)) => format!("{v6}%{z}"),
        (ip, _) => ip.to_string(),
    };
    if let Some(port) = p.port {
        text = if p.ip.is_ipv6() {
            format!("[{text}]:{port}")
        } else {
            format!("{text}:{port}")
        };
    }
    if p.zone
        .as_deref()
        .is_none_or(|z| !z.contains(['[', ']', ':', '%']))
    {
        assert_eq!(addr::parse(&text).as_ref(), Ok(&p), "{text:?}");
    }
    // unmap is idempotent and keeps the family it reports.
    let u = addr::unmap(p.ip);
    assert_eq!(addr::unmap(u), u);
    assert_eq!(addr::Family::of(p.ip), addr::Family::of(u));
    let c = addr::classify(p.ip);
    assert_eq!(c.address, p.ip);
    assert!(!c.classes.is_empty());
    assert!(c.reverse_name.ends_with(".arpa."));
});
