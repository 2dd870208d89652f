//! The text form of the history kept across runs: connect outcomes per destination and
//! smoothed RTTs per network, like curl's `--alt-svc` and `--hsts` files.
//!
//! ```text
//! dualstack-history 1
//! # dest HOST PORT SAVED WINNER RTT_US DEMOTED   (SAVED: Unix seconds; - for none)
//! dest h.test 443 1764540000 2001:db8::10 412 -
//! dest v6dead.test 80 1764540003 198.51.100.10 380 2001:db8::66,2001:db8::67
//! dest h3dead.test 443 1764540004 2001:db8::10 395 - noquic
//! # rtt PREFIX SAVED SRTT_US RTTVAR_US SAMPLES
//! rtt 198.51.100.0/24 1764540003 395 120 7
//! ```
//!
//! A `dest` line may end with `noquic`: QUIC lost to TCP there (the next connect makes no
//! QUIC attempt while the entry lasts).
//!
//! The first line names the format and its version; a file of another version, a file over
//! [`MAX_FILE_BYTES`], or any line that does not parse is refused as a whole
//! ([`HistoryFileError`]) so the caller can warn and start afresh: files are written
//! atomically (temporary file + rename, in the library), so a partial line means someone
//! else wrote it. Entries older than the caller's maximum age, or saved in the future
//! (clock stepped back), are dropped without error. Parsing is pure, bounded and never
//! panics (a property test feeds it arbitrary bytes).

use std::fmt;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use super::rtt::{Prefix, RttEstimate, MAX_SAMPLE};

/// The first line of the format, version 1.
pub const HEADER: &str = "dualstack-history 1";
/// Largest file accepted (and written): 256 KiB.
pub const MAX_FILE_BYTES: usize = 256 * 1024;
/// Most destinations written and read.
pub const MAX_DESTS: usize = 1024;
/// Most networks written and read.
pub const MAX_RTTS: usize = 1024;
/// Most demoted addresses per destination.
pub const MAX_DEMOTED: usize = 16;
/// Longest host name (RFC 1035 §2.3.4: 253 characters in text form).
pub const MAX_HOST_LEN: usize = 253;

/// One destination's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestEntry {
    /// The host name, lower case, without the final dot.
    pub host: String,
    /// The port.
    pub port: u16,
    /// How old the outcome is.
    pub age: Duration,
    /// The address that won, with its handshake time.
    pub winner: Option<(IpAddr, Duration)>,
    /// Addresses that failed or were slower.
    pub demoted: Vec<IpAddr>,
    /// QUIC lost to TCP (`noquic` at the end of the line).
    pub quic_broken: bool,
}

/// What a history file holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Outcomes per destination.
    pub dests: Vec<DestEntry>,
    /// Smoothed RTTs per network.
    pub rtts: Vec<RttEstimate>,
}

/// Why a history file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HistoryFileError {
    /// Bigger than [`MAX_FILE_BYTES`].
    TooLarge {
        /// Its size, or at least how much was read.
        bytes: usize,
    },
    /// Not UTF-8 text.
    NotText,
    /// The first line is not [`HEADER`] (another program's file, or a newer version).
    BadHeader {
        /// The first line, cut to 40 characters.
        found: String,
    },
    /// A line does not parse.
    BadLine {
        /// Its number, from 1.
        line: usize,
        /// What is wrong.
        what: String,
    },
}

impl fmt::Display for HistoryFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryFileError::TooLarge { bytes } => write!(
                f,
                "history file too large ({bytes} bytes, at most {MAX_FILE_BYTES})"
            ),
            HistoryFileError::NotText => f.write_str("history file is not UTF-8 text"),
            HistoryFileError::BadHeader { found } => write!(
                f,
                "not a history file of this version (first line {found:?}, expected {HEADER:?})"
            ),
            HistoryFileError::BadLine { line, what } => {
                write!(f, "history file line {line}: {what}")
            }
        }
    }
}

impl std::error::Error for HistoryFileError {}

/// Write `snap` as of `now_unix` (seconds since the Unix epoch): youngest entries first,
/// at most [`MAX_DESTS`] and [`MAX_RTTS`], so the text stays under [`MAX_FILE_BYTES`].
/// Hosts that could not be read back (empty, too long, with spaces or control
/// characters) are left out.
pub fn encode(snap: &Snapshot, now_unix: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{HEADER}");
    let mut dests: Vec<&DestEntry> = snap.dests.iter().filter(|d| host_ok(&d.host)).collect();
    dests.sort_by_key(|d| d.age);
    let saved = |age: Duration| now_unix.saturating_sub(age.as_secs());
    if !dests.is_empty() {
        out.push_str("# dest HOST PORT SAVED WINNER RTT_US DEMOTED\n");
    }
    for d in dests.into_iter().take(MAX_DESTS) {
        let (winner, rtt) = match d.winner {
            Some((ip, rtt)) => (ip.to_string(), micros(rtt).to_string()),
            None => ("-".into(), "-".into()),
        };
        let demoted: Vec<String> = d
            .demoted
            .iter()
            .take(MAX_DEMOTED)
            .map(|ip| ip.to_string())
            .collect();
        let demoted = if demoted.is_empty() {
            "-".to_owned()
        } else {
            demoted.join(",")
        };
        let _ = writeln!(
            out,
            "dest {} {} {} {winner} {rtt} {demoted}{}",
            d.host.to_ascii_lowercase(),
            d.port,
            saved(d.age),
            if d.quic_broken { " noquic" } else { "" }
        );
    }
    let mut rtts: Vec<&RttEstimate> = snap.rtts.iter().collect();
    rtts.sort_by_key(|r| r.age);
    if !rtts.is_empty() {
        out.push_str("# rtt PREFIX SAVED SRTT_US RTTVAR_US SAMPLES\n");
    }
    for r in rtts.into_iter().take(MAX_RTTS) {
        let _ = writeln!(
            out,
            "rtt {} {} {} {} {}",
            r.prefix,
            saved(r.age),
            micros(r.srtt),
            micros(r.rttvar),
            r.samples
        );
    }
    out
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn host_ok(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= MAX_HOST_LEN
        && h.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'#' && b != b',')
}

/// Read a history file's bytes as of `now_unix`, dropping entries older than `max_age`
/// (and ones saved in the future). Anything malformed refuses the whole file.
///
/// # Errors
/// [`HistoryFileError`]: too large, not text, wrong header, or the first bad line.
pub fn decode(
    bytes: &[u8],
    now_unix: u64,
    max_age: Duration,
) -> Result<Snapshot, HistoryFileError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(HistoryFileError::TooLarge { bytes: bytes.len() });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| HistoryFileError::NotText)?;
    let mut lines = text.lines().enumerate();
    let first = lines.next().map_or("", |(_, l)| l);
    if first.trim_end() != HEADER {
        return Err(HistoryFileError::BadHeader {
            found: first.chars().take(40).collect(),
        });
    }
    let mut snap = Snapshot::default();
    // Lines are counted, not kept entries: expired lines are bounded too.
    let (mut n_dests, mut n_rtts) = (0usize, 0usize);
    for (i, line) in lines {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: String| HistoryFileError::BadLine { line: i + 1, what };
        let words: Vec<&str> = line.split_ascii_whitespace().take(8).collect();
        let (words, noquic) = match words.as_slice() {
            [w @ .., "noquic"] if w.first() == Some(&"dest") => (w, true),
            w => (w, false),
        };
        match words {
            ["dest", host, port, saved, winner, rtt, demoted] => {
                n_dests += 1;
                if n_dests > MAX_DESTS {
                    return Err(bad(format!("more than {MAX_DESTS} destinations")));
                }
                let entry = dest(host, port, saved, winner, rtt, demoted, now_unix, max_age)
                    .map_err(bad)?;
                snap.dests.extend(entry.map(|e| DestEntry {
                    quic_broken: noquic,
                    ..e
                }));
            }
            ["rtt", prefix, saved, srtt, rttvar, samples] => {
                n_rtts += 1;
                if n_rtts > MAX_RTTS {
                    return Err(bad(format!("more than {MAX_RTTS} networks")));
                }
                let entry =
                    rtt(prefix, saved, srtt, rttvar, samples, now_unix, max_age).map_err(bad)?;
                snap.rtts.extend(entry);
            }
            [kind, ..] => {
                let kind: String = kind.chars().take(20).collect();
                return Err(bad(format!("unknown or incomplete entry {kind:?}")));
            }
            [] => {}
        }
    }
    Ok(snap)
}

/// The age of an entry saved at `saved`; `None` when too old or in the future.
fn age(saved: &str, now_unix: u64, max_age: Duration) -> Result<Option<Duration>, String> {
    let saved: u64 = saved
        .parse()
        .map_err(|_| format!("bad time {:?}", cut(saved)))?;
    let Some(age) = now_unix.checked_sub(saved) else {
        return Ok(None);
    };
    let age = Duration::from_secs(age);
    Ok((age <= max_age).then_some(age))
}

fn cut(s: &str) -> String {
    s.chars().take(40).collect()
}

fn ip(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| format!("bad address {:?}", cut(s)))
}

fn us(s: &str) -> Result<Duration, String> {
    let v: u64 = s
        .parse()
        .map_err(|_| format!("bad microseconds {:?}", cut(s)))?;
    let d = Duration::from_micros(v);
    if d > MAX_SAMPLE {
        return Err(format!("time {v} µs is over {} s", MAX_SAMPLE.as_secs()));
    }
    Ok(d)
}

#[allow(clippy::too_many_arguments)]
fn dest(
    host: &str,
    port: &str,
    saved: &str,
    winner: &str,
    rtt: &str,
    demoted: &str,
    now_unix: u64,
    max_age: Duration,
) -> Result<Option<DestEntry>, String> {
    if !host_ok(host) {
        return Err(format!("bad host {:?}", cut(host)));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("bad port {:?}", cut(port)))?;
    let age = age(saved, now_unix, max_age)?;
    let winner = match (winner, rtt) {
        ("-", "-") => None,
        (w, r) => Some((ip(w)?, us(r)?)),
    };
    let demoted = if demoted == "-" {
        Vec::new()
    } else {
        let list: Vec<&str> = demoted.split(',').take(MAX_DEMOTED + 1).collect();
        if list.len() > MAX_DEMOTED {
            return Err(format!("more than {MAX_DEMOTED} demoted addresses"));
        }
        list.into_iter().map(ip).collect::<Result<_, _>>()?
    };
    Ok(age.map(|age| DestEntry {
        host: host.to_ascii_lowercase(),
        port,
        age,
        winner,
        demoted,
        quic_broken: false,
    }))
}

fn rtt(
    prefix: &str,
    saved: &str,
    srtt: &str,
    rttvar: &str,
    samples: &str,
    now_unix: u64,
    max_age: Duration,
) -> Result<Option<RttEstimate>, String> {
    let prefix: Prefix = prefix.parse()?;
    let age = age(saved, now_unix, max_age)?;
    let srtt = us(srtt)?;
    let rttvar = us(rttvar)?;
    let samples: u32 = samples
        .parse()
        .map_err(|_| format!("bad sample count {:?}", cut(samples)))?;
    Ok(age.map(|age| RttEstimate {
        prefix,
        srtt,
        rttvar,
        samples,
        age,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_540_000;
    const DAY: Duration = Duration::from_secs(86_400);

    fn sample() -> Snapshot {
        Snapshot {
            dests: vec![
                DestEntry {
                    host: "v6dead.test".into(),
                    port: 80,
                    age: Duration::from_secs(3),
                    winner: Some(("198.51.100.10".parse().unwrap(), Duration::from_micros(380))),
                    demoted: vec!["2001:db8::66".parse().unwrap()],
                    quic_broken: false,
                },
                DestEntry {
                    host: "gone.test".into(),
                    port: 443,
                    age: Duration::from_secs(1),
                    winner: None,
                    demoted: vec![],
                    quic_broken: true,
                },
            ],
            rtts: vec![RttEstimate {
                prefix: "198.51.100.0/24".parse().unwrap(),
                srtt: Duration::from_micros(395),
                rttvar: Duration::from_micros(120),
                samples: 7,
                age: Duration::from_secs(3),
            }],
        }
    }

    #[test]
    fn round_trip() {
        let text = encode(&sample(), NOW);
        assert!(text.starts_with("dualstack-history 1\n"));
        assert!(text.contains("dest v6dead.test 80 1764539997 198.51.100.10 380 2001:db8::66\n"));
        assert!(text.contains("rtt 198.51.100.0/24 1764539997 395 120 7\n"));
        assert!(text.contains("dest gone.test 443 1764539999 - - - noquic\n"));
        let back = decode(text.as_bytes(), NOW, DAY).unwrap();
        let mut want = sample();
        want.dests.sort_by_key(|d| d.age);
        assert_eq!(back, want);
    }

    #[test]
    fn old_and_future_entries_are_dropped_quietly() {
        let text = encode(&sample(), NOW);
        let later = decode(text.as_bytes(), NOW + 2, Duration::from_secs(4)).unwrap();
        assert_eq!(later.dests.len(), 1, "the 3 s old entry is now 5 s old");
        assert!(later.rtts.is_empty());
        let earlier = decode(text.as_bytes(), NOW - 100, DAY).unwrap();
        assert_eq!(earlier, Snapshot::default());
    }

    #[test]
    fn refuses_what_is_not_ours() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "first line"),
            (b"dualstack-history 2\n", "first line"),
            (
                b"dualstack-history 1\ndest h 1 2\n",
                "line 2: unknown or incomplete",
            ),
            (b"dualstack-history 1\ndest h 99999 1 - - -\n", "bad port"),
            (b"dualstack-history 1\ndest h 1 x - - -\n", "bad time"),
            (
                b"dualstack-history 1\ndest h 1 1 - - - quic\n",
                "unknown or incomplete",
            ),
            (
                b"dualstack-history 1\nrtt 1 1 1 1 1 noquic\n",
                "unknown or incomplete",
            ),
            (
                b"dualstack-history 1\ndest h 1 1 1.2.3.4 99999999999 -\n",
                "over 60 s",
            ),
            (
                b"dualstack-history 1\n\n# c\nrtt 1.2.3.4/24 1 1 1 1\n",
                "line 4",
            ),
            (b"dualstack-history 1\nbogus\n", "\"bogus\""),
            (b"\xff\xfe", "not UTF-8"),
        ];
        for (bytes, want) in cases {
            let e = decode(bytes, NOW, DAY).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} lacks {want:?}");
        }
        let big = vec![b'#'; MAX_FILE_BYTES + 1];
        assert!(matches!(
            decode(&big, NOW, DAY),
            Err(HistoryFileError::TooLarge { .. })
        ));
    }

    #[test]
    fn bounded_when_written_and_read() {
        let many = Snapshot {
            dests: (0..MAX_DESTS + 10)
                .map(|i| DestEntry {
                    host: format!("{}.{}", "h".repeat(200), i),
                    port: 65535,
                    age: Duration::from_secs(i as u64),
                    winner: Some((
                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap(),
                        MAX_SAMPLE,
                    )),
                    demoted: vec!["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap(); 40],
                    quic_broken: true,
                })
                .collect(),
            rtts: Vec::new(),
        };
        let text = encode(&many, NOW);
        assert!(
            text.len() > MAX_FILE_BYTES,
            "worst case: too big to read back"
        );
        let many = Snapshot {
            dests: many
                .dests
                .into_iter()
                .map(|mut d| {
                    d.host = format!("host-{}.example.test", d.port);
                    d.demoted.truncate(2);
                    d
                })
                .collect(),
            rtts: Vec::new(),
        };
        let text = encode(&many, NOW);
        assert!(text.len() <= MAX_FILE_BYTES, "{}", text.len());
        assert_eq!(
            decode(text.as_bytes(), NOW, DAY).unwrap().dests.len(),
            MAX_DESTS
        );
        let too_many = format!(
            "{HEADER}\n{}",
            "rtt 1.2.3.0/24 1 1 1 1\n".repeat(MAX_RTTS + 1)
        );
        assert!(decode(too_many.as_bytes(), NOW, DAY).is_err());
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = decode(&bytes, 1_764_540_000, Duration::from_secs(86_400));
            }

            #[test]
            fn never_panics_on_mangled_files(lines in proptest::collection::vec("(dest|rtt|#)?[ -~]{0,80}", 0..20)) {
                let text = format!("{HEADER}\n{}", lines.join("\n"));
                let _ = decode(text.as_bytes(), u64::MAX, Duration::MAX);
                let _ = decode(text.as_bytes(), 0, Duration::ZERO);
            }
        }
    }
}
