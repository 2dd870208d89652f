//! Fuzz the SMTP reply parser and the line framing under it: no panics, and the
//! invariants the client relies on hold for any input.
#![no_main]

use bytes::BytesMut;
use dualstack::lines::LineCodec;
use dualstack::smtp::{parse_reply, parse_reply_line, Capabilities, DEFAULT_MAX_REPLY_LINES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A whole reply: a valid code, 1..=max lines, and capabilities parse without panic.
    if let Ok(reply) = parse_reply(data) {
        assert!((200..=559).contains(&reply.code));
        assert!(!reply.lines.is_empty() && reply.lines.len() <= DEFAULT_MAX_REPLY_LINES);
        let _ = reply.to_string();
        let caps = Capabilities::parse(&reply);
        assert!(caps.auth.iter().all(|m| !m.is_empty()));
    }
    if let Ok(line) = parse_reply_line(data) {
        assert!(line.text.len() + 3 <= data.len());
    }

    // The framing, fed in small chunks: lines never exceed the limit or contain LF, and
    // the buffer never holds more than max + 1 bytes while waiting.
    const MAX: usize = 64;
    let mut codec = LineCodec::new().with_max_length(MAX);
    let mut buf = BytesMut::new();
    for chunk in data.chunks(7) {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode_line(&mut buf) {
                Ok(Some(line)) => {
                    assert!(line.len() <= MAX);
                    assert!(!line.contains(&b'\n'));
                }
                Ok(None) => {
                    assert!(buf.len() <= MAX + 1);
                    break;
                }
                Err(_) => {}
            }
        }
    }
    let _ = codec.decode_line_eof(&mut buf);
});
