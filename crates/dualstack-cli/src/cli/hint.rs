//! Hints that name command-line flags. The library's errors carry typed reasons and never
//! mention a flag; this module maps those reasons to the flag that helps, and `main`
//! prints each hint on its own line after the error (`dualstack: hint: ...`).

use std::error::Error;

use dualstack::listen::{InUseReason, ListenError};

/// The hints for `err` and its sources, in order, without repeats.
pub fn for_error(err: &(dyn Error + 'static)) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(h) = one(e) {
            if !out.contains(&h) {
                out.push(h);
            }
        }
        cur = e.source();
    }
    out
}

fn one(e: &(dyn Error + 'static)) -> Option<String> {
    let ListenError::AddrInUse { reason, .. } = e.downcast_ref::<ListenError>()? else {
        return None;
    };
    match reason {
        InUseReason::DualHoldsV4 { .. } => Some("use --listen-mode dual here".into()),
        InUseReason::V4HeldAgainstDual { .. } => Some("use --listen-mode separate".into()),
        _ => None,
    }
}
