//! The order in which addresses are tried (RFC 8305 §4): the preferred family first, DNS
//! order kept within a family, addresses that failed before last in their family, and the
//! families interleaved after the "First Address Family Count" preferred ones.

use std::collections::VecDeque;
use std::net::IpAddr;

use crate::{unmap, Family};

fn idx(f: Family) -> usize {
    match f {
        Family::V6 => 0,
        Family::V4 => 1,
    }
}

/// The addresses not yet tried, per family, and the interleaving rule that picks the next
/// one. Picking lazily (instead of building one list up front) is what lets a late answer
/// slot into its interleaved place.
#[derive(Debug, Clone)]
pub struct Order {
    queues: [VecDeque<IpAddr>; 2],
    prefer: Family,
    /// Preferred addresses still to pick before alternating (RFC 8305 §4).
    lead_left: usize,
    last: Option<Family>,
    seen: Vec<IpAddr>,
    demoted: Vec<IpAddr>,
}

impl Order {
    /// An empty order: `prefer` goes first, `first_family_count` (at least 1) of its
    /// addresses before the first of the other family; `demoted` addresses (history: they
    /// failed or were slow) go to the end of their family.
    pub fn new(prefer: Family, first_family_count: usize, demoted: Vec<IpAddr>) -> Order {
        Order {
            queues: [VecDeque::new(), VecDeque::new()],
            prefer,
            lead_left: first_family_count.max(1),
            last: None,
            seen: Vec::new(),
            demoted,
        }
    }

    /// The family that goes first.
    pub fn prefer(&self) -> Family {
        self.prefer
    }

    /// Add answers (DNS order kept). Mapped addresses count as IPv4; duplicates (also of
    /// addresses already picked) are dropped; demoted addresses go to the end of their
    /// family.
    pub fn add(&mut self, addrs: &[IpAddr]) {
        let mut late = Vec::new();
        for &ip in addrs {
            let ip = unmap(ip);
            if self.seen.contains(&ip) {
                continue;
            }
            self.seen.push(ip);
            if self.demoted.contains(&ip) {
                late.push(ip);
            } else {
                self.queues[idx(Family::of(ip))].push_back(ip);
            }
        }
        for ip in late {
            self.queues[idx(Family::of(ip))].push_back(ip);
        }
    }

    /// Take back addresses not tried yet (hints replaced by the real answer, RFC 9460
    /// §7.3); they may be added again. Addresses already tried stay known.
    pub fn withdraw(&mut self, ips: &[IpAddr]) {
        let queued: Vec<IpAddr> = self
            .queues
            .iter()
            .flatten()
            .copied()
            .filter(|ip| ips.contains(ip))
            .collect();
        for q in &mut self.queues {
            q.retain(|ip| !queued.contains(ip));
        }
        self.seen.retain(|ip| !queued.contains(ip));
    }

    /// Whether an address is left.
    pub fn has_next(&self) -> bool {
        self.queues.iter().any(|q| !q.is_empty())
    }

    /// Take the next address to try.
    #[allow(clippy::should_implement_trait)] // not an Iterator: `add` can refill it
    pub fn next(&mut self) -> Option<IpAddr> {
        let p = self.prefer;
        let fam = if self.lead_left > 0 && !self.queues[idx(p)].is_empty() {
            self.lead_left -= 1;
            p
        } else {
            // The leading run of preferred addresses is over for good: alternate.
            self.lead_left = 0;
            let want = if self.last == Some(p) { p.other() } else { p };
            if self.queues[idx(want)].is_empty() {
                want.other()
            } else {
                want
            }
        };
        let ip = self.queues[idx(fam)].pop_front()?;
        self.last = Some(fam);
        Some(ip)
    }

    /// The whole remaining order (from a copy; `self` is unchanged).
    pub fn preview(&self) -> Vec<IpAddr> {
        let mut o = self.clone();
        std::iter::from_fn(|| o.next()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ips(s: &[&str]) -> Vec<IpAddr> {
        s.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn interleaves_with_first_family_count_one() {
        let mut o = Order::new(Family::V6, 1, Vec::new());
        o.add(&ips(&["2001:db8::1", "2001:db8::2", "2001:db8::3"]));
        o.add(&ips(&["192.0.2.1", "192.0.2.2"]));
        assert_eq!(
            o.preview(),
            ips(&[
                "2001:db8::1",
                "192.0.2.1",
                "2001:db8::2",
                "192.0.2.2",
                "2001:db8::3"
            ])
        );
    }

    #[test]
    fn first_family_count_two() {
        let mut o = Order::new(Family::V6, 2, Vec::new());
        o.add(&ips(&[
            "2001:db8::1",
            "2001:db8::2",
            "2001:db8::3",
            "192.0.2.1",
            "192.0.2.2",
        ]));
        assert_eq!(
            o.preview(),
            ips(&[
                "2001:db8::1",
                "2001:db8::2",
                "192.0.2.1",
                "2001:db8::3",
                "192.0.2.2"
            ])
        );
    }

    #[test]
    fn late_answer_slots_into_its_interleaved_place() {
        let mut o = Order::new(Family::V6, 1, Vec::new());
        o.add(&ips(&["192.0.2.1", "192.0.2.2"]));
        assert_eq!(o.next(), Some("192.0.2.1".parse().unwrap()));
        o.add(&ips(&["2001:db8::1", "2001:db8::2"]));
        assert_eq!(
            o.preview(),
            ips(&["2001:db8::1", "192.0.2.2", "2001:db8::2"])
        );
    }

    #[test]
    fn prefer_ipv4_and_demoted_addresses_go_last() {
        let mut o = Order::new(Family::V4, 1, ips(&["192.0.2.1"]));
        o.add(&ips(&[
            "2001:db8::1",
            "192.0.2.1",
            "192.0.2.2",
            "192.0.2.2",
            "::ffff:192.0.2.2",
        ]));
        assert_eq!(o.preview(), ips(&["192.0.2.2", "2001:db8::1", "192.0.2.1"]));
    }

    fn addr(v6: bool, n: u8) -> IpAddr {
        if v6 {
            IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001,
                0xdb8,
                0,
                0,
                0,
                0,
                0,
                u16::from(n),
            ))
        } else {
            IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, n))
        }
    }

    proptest! {
        /// Whatever arrives, in whatever batches: every address is tried exactly once,
        /// DNS order is kept within a family, the preferred family goes first, and
        /// the families alternate once the leading run is over (RFC 8305 §4).
        #[test]
        fn order_invariants(
            batches in proptest::collection::vec(
                proptest::collection::vec((any::<bool>(), 0u8..16), 0..8), 1..4),
            prefer_v6 in any::<bool>(),
            fafc in 1usize..4,
        ) {
            let prefer = if prefer_v6 { Family::V6 } else { Family::V4 };
            let mut o = Order::new(prefer, fafc, Vec::new());
            let mut all: Vec<IpAddr> = Vec::new();
            for b in &batches {
                let ips: Vec<IpAddr> = b.iter().map(|(v6, n)| addr(*v6, *n)).collect();
                o.add(&ips);
                for ip in ips {
                    if !all.contains(&ip) {
                        all.push(ip);
                    }
                }
            }
            let got = o.preview();
            prop_assert_eq!(got.len(), all.len());
            for f in [Family::V4, Family::V6] {
                let want: Vec<IpAddr> = all.iter().copied().filter(|a| Family::of(*a) == f).collect();
                let have: Vec<IpAddr> = got.iter().copied().filter(|a| Family::of(*a) == f).collect();
                prop_assert_eq!(want, have);
            }
            if all.iter().any(|a| Family::of(*a) == prefer) {
                prop_assert_eq!(Family::of(got[0]), prefer);
            }
            // After the leading run, no two consecutive addresses share a family
            // while both families still have addresses left.
            let lead = got.iter().take_while(|a| Family::of(**a) == prefer).count().min(fafc);
            for i in lead.max(1)..got.len() {
                let rest_has_both = got[i..].iter().any(|a| Family::of(*a) == Family::V4)
                    && got[i..].iter().any(|a| Family::of(*a) == Family::V6);
                if rest_has_both {
                    prop_assert_ne!(Family::of(got[i]), Family::of(got[i - 1]));
                }
            }
        }
    }
}
