//! The Happy Eyeballs history file reader (`dualstack_eyeballs::v3::history_file::decode`)
//! on arbitrary bytes: never panics, and what it accepts writes back to a text that reads
//! back to the same text (encode ∘ decode is stable after one round).
#![no_main]

use std::time::Duration;

use dualstack_eyeballs::v3::history_file::{decode, encode};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_800_000_000;
const MAX_AGE: Duration = Duration::from_secs(7 * 86_400);

fuzz_target!(|data: &[u8]| {
    let Ok(snap) = decode(data, NOW, MAX_AGE) else {
        return;
    };
    let once = encode(&snap, NOW);
    let again = decode(once.as_bytes(), NOW, MAX_AGE).expect("our own output reads back");
    assert_eq!(encode(&again, NOW), once, "not stable");
});
