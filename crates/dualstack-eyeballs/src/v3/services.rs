//! What a run does with HTTPS records (draft-ietf-happy-happyeyeballs-v3-04 §4, RFC 9460
//! §7.2–§7.3), kept apart from the RFC 8305 machine that uses it:
//!
//! - a ServiceMode record whose target is the origin host lends its `port` to the host's
//!   own A/AAAA addresses, and its hints stand in for a family whose A/AAAA answer has not
//!   come; when that answer comes, the hints not yet tried are withdrawn (§7.3: the answer
//!   replaces them);
//! - a record whose target is another name is reached through its hints, with its port
//!   (this machine does not ask the A/AAAA of other targets: a target without hints is
//!   not used, a documented limitation);
//! - which group each address is tried in, and with which port, is
//!   [`Endpoints`](super::endpoints::Endpoints)' business (draft §5); here the first record
//!   (lowest priority value) names the service of an address that belongs to several.

use std::net::IpAddr;

use super::svcb::ServiceRecord;
use crate::Family;

/// The HTTPS state of one run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Services {
    /// The origin host, lower case, no final dot.
    origin: String,
    /// An HTTPS answer is still awaited.
    pub(crate) pending: bool,
    /// The records, in priority order.
    records: Vec<ServiceRecord>,
    /// Hints of the origin's own records, per family, still standing in for the answer.
    hinted: Vec<IpAddr>,
    /// Addresses that came from a record, with its index.
    from_record: Vec<(IpAddr, usize)>,
}

impl Services {
    pub(crate) fn new(origin: &str) -> Services {
        Services {
            origin: origin.trim_end_matches('.').to_ascii_lowercase(),
            pending: true,
            ..Services::default()
        }
    }

    fn origin_record(&self) -> Option<usize> {
        self.records.iter().position(|r| r.target == self.origin)
    }

    /// The HTTPS answer came: returns the hint addresses to add now, with the index of
    /// their record (origin hints only for families in `awaited`; other targets' hints
    /// always).
    pub(crate) fn answer(
        &mut self,
        records: Vec<ServiceRecord>,
        awaited: &[Family],
    ) -> Vec<(usize, IpAddr)> {
        self.pending = false;
        self.records = records;
        let mut add = Vec::new();
        for (i, r) in self.records.iter().enumerate() {
            let own = r.target == self.origin;
            for ip in r.hints() {
                if own && !awaited.contains(&Family::of(ip)) {
                    continue;
                }
                if own {
                    self.hinted.push(ip);
                }
                if !self.from_record.iter().any(|(a, _)| *a == ip) {
                    self.from_record.push((ip, i));
                }
                add.push((i, ip));
            }
        }
        add
    }

    /// The origin's `family` answer came: the hints of that family to withdraw.
    pub(crate) fn family_answered(&mut self, family: Family) -> Vec<IpAddr> {
        let (gone, keep): (Vec<IpAddr>, Vec<IpAddr>) = self
            .hinted
            .iter()
            .partition(|ip| Family::of(**ip) == family);
        self.hinted = keep;
        self.from_record.retain(|(ip, _)| !gone.contains(ip));
        gone
    }

    /// Whether hints of `family` are in use (they count as a positive answer of that
    /// family, draft v3-04 §4.2).
    pub(crate) fn hints_for(&self, family: Family) -> bool {
        self.from_record
            .iter()
            .any(|(ip, _)| Family::of(*ip) == family)
    }

    /// The record an address belongs to: the one that gave it as a hint, else (an
    /// address of the origin's own A/AAAA) the origin's record.
    pub(crate) fn record_of(&self, ip: IpAddr) -> Option<&ServiceRecord> {
        let i = self
            .from_record
            .iter()
            .find(|(a, _)| *a == ip)
            .map(|(_, i)| *i)
            .or_else(|| self.origin_record())?;
        self.records.get(i)
    }

    /// The origin host (lower case, no final dot).
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// The records, in the order the HTTPS answer gave them.
    pub(crate) fn records(&self) -> &[ServiceRecord] {
        &self.records
    }
}
