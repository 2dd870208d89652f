//! The CLI's duration parser (`cli/args.rs`, compiled in here) on arbitrary text: never
//! panics; an accepted value lies within its range and can be added to an `Instant`;
//! the printed form of a value parses back to it.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/dualstack-cli/src/cli/args.rs"]
mod args;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for range in [
        args::TIMEOUT,
        args::SHUTDOWN_TIMEOUT,
        args::ATTEMPT_DELAY,
        args::RESOLUTION_DELAY,
    ] {
        if let Ok(d) = range.parse(s) {
            assert!(range.min <= d && d <= range.max, "{s:?} -> {d:?}");
            assert!(std::time::Instant::now().checked_add(d).is_some());
            let shown = humantime::format_duration(d).to_string();
            assert_eq!(range.parse(&shown), Ok(d), "{shown:?}");
        }
    }
});
