//! The endpoints of one run, grouped (draft-ietf-happy-happyeyeballs-v3-04 §5): one lane
//! per [`Group`] from [`group_order`], each lane an RFC 8305 [`Order`] of its own (§5.3:
//! families interleaved within a group), and the lanes tried one after the other (§6:
//! every endpoint of a group before the first of the next).
//!
//! Without service records there is one lane, and the run behaves exactly as RFC 8305.
//! When the HTTPS answer comes, the lanes are rebuilt from it; addresses known by then go
//! to their lanes again, endpoints already tried are not tried twice.
//!
//! An endpoint is an address, a port (the record's `port`, RFC 9460 §7.2) and a protocol
//! class: the same address reached through two records with different ports, or through
//! two classes (TCP and QUIC), is two endpoints.

use std::net::IpAddr;

use super::groups::{group_order, Group, ProtocolPreference};
use super::svcb::ServiceRecord;
use crate::{Family, Order};

/// The next thing to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) ip: IpAddr,
    pub(crate) port: u16,
    pub(crate) group: Group,
}

#[derive(Debug, Clone)]
struct Lane {
    group: Group,
    port: u16,
    /// The origin's own A/AAAA addresses belong here (a record whose target is the
    /// origin, or the no-service group).
    own: bool,
    /// The record's TargetName (`None`: the no-service group).
    target: Option<String>,
    order: Order,
}

/// Every lane of a run and what was tried.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    prefer: Family,
    first_family_count: usize,
    demoted: Vec<IpAddr>,
    pref: ProtocolPreference,
    origin_port: u16,
    records: Vec<ServiceRecord>,
    lanes: Vec<Lane>,
    /// The origin's A/AAAA addresses so far, in arrival order.
    origin_addrs: Vec<IpAddr>,
    /// Endpoints started: (address, port, class).
    tried: Vec<(IpAddr, u16, usize)>,
}

impl Endpoints {
    /// One lane (no service records yet): RFC 8305 alone.
    pub(crate) fn new(
        prefer: Family,
        first_family_count: usize,
        demoted: Vec<IpAddr>,
        pref: ProtocolPreference,
        origin_port: u16,
    ) -> Endpoints {
        let mut e = Endpoints {
            prefer,
            first_family_count,
            demoted,
            pref,
            origin_port,
            records: Vec::new(),
            lanes: Vec::new(),
            origin_addrs: Vec::new(),
            tried: Vec::new(),
        };
        let g = group_order(&[], "", &e.pref);
        e.lanes = g.into_iter().map(|g| e.lane(g, "")).collect();
        e
    }

    fn lane(&self, group: Group, origin: &str) -> Lane {
        let rec = group.service.and_then(|i| self.records.get(i));
        Lane {
            group,
            port: rec.map_or(self.origin_port, |r| r.port_or(self.origin_port)),
            own: rec.is_none_or(|r| r.target == origin),
            target: rec.map(|r| r.target.clone()),
            order: Order::new(self.prefer, self.first_family_count, self.demoted.clone()),
        }
    }

    fn add_to(tried: &[(IpAddr, u16, usize)], lane: &mut Lane, ips: &[IpAddr]) {
        let fresh: Vec<IpAddr> = ips
            .iter()
            .copied()
            .filter(|ip| !tried.contains(&(*ip, lane.port, lane.group.class)))
            .collect();
        lane.order.add(&fresh);
    }

    /// The service records came (in tie-break order): rebuild the lanes for `origin`.
    pub(crate) fn set_services(&mut self, records: Vec<ServiceRecord>, origin: &str) {
        self.records = records;
        let groups = group_order(&self.records, origin, &self.pref);
        self.lanes = groups.into_iter().map(|g| self.lane(g, origin)).collect();
        for lane in self.lanes.iter_mut().filter(|l| l.own) {
            Self::add_to(&self.tried, lane, &self.origin_addrs);
        }
    }

    /// The origin's own A/AAAA addresses (DNS order).
    pub(crate) fn add_origin(&mut self, ips: &[IpAddr]) {
        for ip in ips {
            if !self.origin_addrs.contains(ip) {
                self.origin_addrs.push(*ip);
            }
        }
        for lane in self.lanes.iter_mut().filter(|l| l.own) {
            Self::add_to(&self.tried, lane, ips);
        }
    }

    /// Address hints of record `service` (RFC 9460 §7.3).
    pub(crate) fn add_hints(&mut self, service: usize, ips: &[IpAddr]) {
        for lane in &mut self.lanes {
            if lane.group.service == Some(service) {
                Self::add_to(&self.tried, lane, ips);
            }
        }
    }

    /// The A/AAAA answer of another TargetName (RFC 9460 §7.3): to the groups of the
    /// records that name it.
    pub(crate) fn add_target(&mut self, name: &str, ips: &[IpAddr]) {
        for lane in &mut self.lanes {
            if !lane.own && lane.target.as_deref() == Some(name) {
                Self::add_to(&self.tried, lane, ips);
            }
        }
    }

    /// Take back the `family` hints not tried yet of the records naming `name`: its own
    /// answer of that family replaces them.
    pub(crate) fn withdraw_target_hints(&mut self, name: &str, family: Family) {
        for lane in &mut self.lanes {
            if lane.own || lane.target.as_deref() != Some(name) {
                continue;
            }
            let Some(r) = lane.group.service.and_then(|i| self.records.get(i)) else {
                continue;
            };
            let hints: Vec<IpAddr> = r
                .hints()
                .into_iter()
                .filter(|ip| Family::of(*ip) == family)
                .collect();
            lane.order.withdraw(&hints);
        }
    }

    /// Take back the origin's hints not tried yet: its A/AAAA answer replaces them.
    pub(crate) fn withdraw_own(&mut self, ips: &[IpAddr]) {
        for lane in self.lanes.iter_mut().filter(|l| l.own) {
            lane.order.withdraw(ips);
        }
    }

    /// Whether an endpoint is left.
    pub(crate) fn has_next(&self) -> bool {
        self.lanes.iter().any(|l| l.order.has_next())
    }

    /// Take the next endpoint: the first lane's next address, then the next lane's.
    pub(crate) fn next(&mut self) -> Option<Endpoint> {
        for i in 0..self.lanes.len() {
            let lane = &mut self.lanes[i];
            if let Some(ip) = lane.order.next() {
                let (port, class) = (lane.port, lane.group.class);
                let group = lane.group;
                self.tried.push((ip, port, class));
                // The same endpoint in a later lane (two records with one address and
                // port) is not tried again.
                for other in &mut self.lanes[i + 1..] {
                    if other.port == port && other.group.class == class {
                        other.order.withdraw(&[ip]);
                    }
                }
                return Some(Endpoint { ip, port, group });
            }
        }
        None
    }

    /// The addresses in the order they would be tried (each once), from a copy.
    pub(crate) fn preview(&self) -> Vec<IpAddr> {
        let mut c = self.clone();
        let mut out = Vec::new();
        while let Some(e) = c.next() {
            if !out.contains(&e.ip) {
                out.push(e.ip);
            }
        }
        out
    }

    /// The record of a group, if it has one.
    pub(crate) fn record(&self, group: Group) -> Option<&ServiceRecord> {
        self.records.get(group.service?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(s: &[&str]) -> Vec<IpAddr> {
        s.iter().map(|a| a.parse().unwrap()).collect()
    }

    fn rec(priority: u16, target: &str, port: Option<u16>) -> ServiceRecord {
        ServiceRecord {
            priority,
            target: target.into(),
            port,
            ..ServiceRecord::default()
        }
    }

    fn drain(e: &mut Endpoints) -> Vec<(IpAddr, u16)> {
        std::iter::from_fn(|| e.next().map(|x| (x.ip, x.port))).collect()
    }

    #[test]
    fn without_records_one_rfc8305_lane() {
        let mut e = Endpoints::new(Family::V6, 1, vec![], ProtocolPreference::default(), 443);
        e.add_origin(&ips(&["2001:db8::1", "2001:db8::2", "192.0.2.1"]));
        assert_eq!(
            e.preview(),
            ips(&["2001:db8::1", "192.0.2.1", "2001:db8::2"])
        );
    }

    #[test]
    fn each_service_is_finished_before_the_next_and_unnamed_origin_last() {
        let mut e = Endpoints::new(Family::V6, 1, vec![], ProtocolPreference::default(), 443);
        e.add_origin(&ips(&["2001:db8::1", "192.0.2.1"]));
        e.set_services(
            vec![rec(1, "a.test", Some(8443)), rec(2, "b.test", None)],
            "h.test",
        );
        e.add_hints(1, &ips(&["2001:db8::b", "192.0.2.11"]));
        e.add_hints(0, &ips(&["2001:db8::a", "2001:db8::aa", "192.0.2.10"]));
        let a = |s: &str, p| (s.parse::<IpAddr>().unwrap(), p);
        assert_eq!(
            drain(&mut e),
            [
                a("2001:db8::a", 8443),
                a("192.0.2.10", 8443),
                a("2001:db8::aa", 8443),
                a("2001:db8::b", 443),
                a("192.0.2.11", 443),
                a("2001:db8::1", 443),
                a("192.0.2.1", 443),
            ]
        );
    }

    #[test]
    fn an_endpoint_is_tried_once_even_in_two_groups() {
        let mut e = Endpoints::new(Family::V6, 1, vec![], ProtocolPreference::default(), 443);
        e.add_origin(&ips(&["2001:db8::1"]));
        assert_eq!(e.next().map(|x| x.ip), Some(ips(&["2001:db8::1"])[0]));
        // The records arrive after the first attempt: the origin's record has the same
        // port, so 2001:db8::1:443 is not tried again; the other record's port is new.
        e.set_services(
            vec![rec(1, "h.test", None), rec(2, "h.test", Some(8443))],
            "h.test",
        );
        let a = |s: &str, p| (s.parse::<IpAddr>().unwrap(), p);
        assert_eq!(drain(&mut e), [a("2001:db8::1", 8443)]);
        assert!(!e.has_next());
    }
}
