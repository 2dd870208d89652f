//! `whoami::proxy::inspect` (the PROXY v1/v2 header reader's decision) on arbitrary bytes:
//! never panics, a complete header lies within the input and the limits, and what a
//! prefix decides never changes with more bytes (the reader consumes the bytes of an
//! incomplete prefix, so a header may never end inside one).
#![no_main]

use dualstack::whoami::proxy::{inspect, Inspect, MAX_V2_HEADER};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Beyond the v2 limit nothing new can happen; keep the prefix loop cheap.
    let data = &data[..data.len().min(MAX_V2_HEADER + 64)];
    let whole = inspect(data);
    if let Inspect::Complete { len, .. } = whole {
        assert!(len <= data.len() && len <= MAX_V2_HEADER, "{whole:?}");
        assert_eq!(
            inspect(&data[..len]),
            whole,
            "the header alone decides alike"
        );
    }
    for cut in 0..=data.len() {
        match inspect(&data[..cut]) {
            Inspect::Incomplete => {
                if let Inspect::Complete { len, .. } = whole {
                    assert!(len > cut, "complete at {len}, yet incomplete at {cut}");
                }
            }
            Inspect::Malformed { version, .. } => assert!(
                matches!(whole, Inspect::Malformed { version: v, .. } if v == version),
                "malformed at {cut}, whole {whole:?}"
            ),
            decided => assert_eq!(decided, whole, "prefix {cut} decided differently"),
        }
    }
});
