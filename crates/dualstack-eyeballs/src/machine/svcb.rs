//! The HTTPS-record inputs of the machine (draft-ietf-happy-happyeyeballs-v3-04 §4.2.1,
//! §5; RFC 9460 §2.4.1, §7.3): the HTTPS answer (shuffle, grouping, hints, the queries for
//! other TargetNames) and those targets' A/AAAA answers.

use std::net::IpAddr;
use std::time::Instant;

use super::HappyEyeballs;
use crate::io::{Action, TraceKind};
use crate::v3::svcb::{shuffle_equal_priority, ServiceRecord, MAX_TARGETS};
use crate::{unmap, Family};

impl HappyEyeballs {
    /// [`Input::Https`](crate::Input::Https).
    pub(super) fn on_https(&mut self, now: Instant, result: Result<Vec<ServiceRecord>, String>) {
        let Some(svc) = self.svcb.as_mut().filter(|s| s.pending) else {
            return;
        };
        let (mut records, error) = match result {
            Ok(r) => (r, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        shuffle_equal_priority(&mut records, self.shuffle_seed);
        let hints = svc.answer(records.clone(), &self.pending);
        // draft v3-04 §5: group by protocol class and service priority first. A
        // forced h3 stays on the stand-in record when there is no service.
        if !(self.quic_forced && svc.records().is_empty()) {
            self.endpoints
                .set_services(svc.records().to_vec(), svc.origin());
        }
        for (i, ip) in hints {
            self.endpoints.add_hints(i, &[ip]);
        }
        // RFC 9460 §7.3, draft v3-04 §4.2.1: hints only until the target's own
        // A/AAAA come, so ask for them (a bounded number of names).
        let pref = &self.cfg.protocols;
        let mut names: Vec<String> = Vec::new();
        for r in svc.records() {
            let used = (0..pref.classes.len()).any(|c| pref.accepts(c, r));
            if used
                && r.target != svc.origin()
                && !r.target.is_empty()
                && !names.contains(&r.target)
                && names.len() < MAX_TARGETS
            {
                names.push(r.target.clone());
            }
        }
        for name in names {
            for f in &self.allowed {
                self.targets_pending.push((name.clone(), *f));
            }
            let families = self.allowed.clone();
            self.queue
                .push_back(Action::ResolveTarget { name, families });
        }
        self.trace(
            now,
            TraceKind::HttpsAnswer {
                services: records,
                error,
            },
        );
    }

    /// [`Input::TargetAnswer`](crate::Input::TargetAnswer).
    pub(super) fn on_target_answer(
        &mut self,
        now: Instant,
        name: String,
        family: Family,
        result: Result<Vec<IpAddr>, String>,
    ) {
        let Some(pos) = self
            .targets_pending
            .iter()
            .position(|(n, f)| *n == name && *f == family)
        else {
            return;
        };
        self.targets_pending.remove(pos);
        let (addrs, error) = match result {
            Ok(v) => {
                let v: Vec<IpAddr> = v
                    .into_iter()
                    .map(unmap)
                    .filter(|ip| Family::of(*ip) == family)
                    .collect();
                // The answer replaces the hints of its family (RFC 9460 §7.3); a
                // failed query leaves them.
                self.endpoints.withdraw_target_hints(&name, family);
                (v, None)
            }
            Err(e) => (Vec::new(), Some(e)),
        };
        self.endpoints.add_target(&name, &addrs);
        let kind = TraceKind::TargetAnswer {
            name,
            family,
            addrs,
            error,
        };
        self.trace(now, kind);
    }
}
