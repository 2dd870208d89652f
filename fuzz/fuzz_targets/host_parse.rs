//! `host::parse` on arbitrary text: never panics; a name it accepts is ASCII, within
//! the length limits, and accepted again unchanged (IDNA output is stable).
#![no_main]

use dualstack::host::{parse, Host, MAX_LABEL, MAX_NAME};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match parse(s) {
        Ok(Host::Name(n)) => {
            assert!(n.is_ascii(), "{n:?}");
            let bare = n.strip_suffix('.').unwrap_or(&n);
            assert!(bare.len() <= MAX_NAME, "{n:?}");
            assert!(bare
                .split('.')
                .all(|l| !l.is_empty() && l.len() <= MAX_LABEL));
            assert_eq!(parse(&n), Ok(Host::Name(n.clone())), "not stable");
        }
        Ok(_) => {}
        Err(e) => {
            // Messages stay short whatever the input (it is cut to 40 characters, each
            // at most 10 when escaped, plus a zone of as many).
            assert!(e.to_string().len() < 1200, "{e}");
        }
    }
});
