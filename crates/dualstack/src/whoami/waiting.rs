//! HTTP connections that have sent nothing yet, held by the accept loop: no task, no
//! runtime registration, no timer entry each. A connection here is a slot of about a
//! hundred bytes and an entry in a private readiness set ([`Poller`]); when its first
//! bytes arrive the accept loop answers a plain `Connection: close` request itself and
//! closes, or hands the connection to a task of its own.
//!
//! The header timeout is kept by sweeping: every connection waits the same time, so the
//! earliest deadline is known and a sweep closes what has expired (sweeps at most every
//! [`SWEEP_EVERY`], so a connection may be closed up to that much late).

use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::listen::RawAccepted;
use crate::sys::poller::Poller;

/// Least time between two sweeps of expired connections.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// A connection waiting for its first bytes.
#[derive(Debug)]
pub(crate) struct Waiter {
    /// The connection (not registered with the runtime).
    pub(crate) acc: RawAccepted,
    /// Its place under the connection cap.
    pub(crate) permit: OwnedSemaphorePermit,
    /// When its header timeout ends.
    pub(crate) deadline: Instant,
}

#[derive(Debug, Default)]
struct Slot {
    /// Bumped each time the slot is emptied: a key of an earlier occupant never matches.
    generation: u32,
    waiter: Option<Waiter>,
}

/// The set of waiting connections (see the module docs).
#[derive(Debug)]
pub(crate) struct Waiting {
    poller: Poller,
    slots: Vec<Slot>,
    free: Vec<u32>,
    len: usize,
    /// When to sweep next; `None` while nothing waits.
    sweep_at: Option<Instant>,
}

impl Waiting {
    /// An empty set, on the current runtime.
    ///
    /// # Errors
    /// The platform has no private readiness set (only Linux has), or it could not be
    /// created.
    pub(crate) fn new() -> std::io::Result<Waiting> {
        Ok(Waiting {
            poller: Poller::new()?,
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            sweep_at: None,
        })
    }

    /// When [`Waiting::sweep`] has something to do, at the earliest.
    pub(crate) fn sweep_at(&self) -> Option<Instant> {
        self.sweep_at
    }

    /// Hold `w` until its first bytes arrive. On failure (the kernel refused to watch it)
    /// `w` comes back, to be served another way.
    pub(crate) fn insert(&mut self, w: Waiter) -> Result<(), Waiter> {
        self.place(w, false)
    }

    /// Watch once more a connection taken out by [`Waiting::take`] that had nothing to
    /// read after all. On failure `w` comes back.
    pub(crate) fn rearm(&mut self, w: Waiter) -> Result<(), Waiter> {
        self.place(w, true)
    }

    /// `again`: the socket is in the readiness set already (reported, so disarmed).
    fn place(&mut self, w: Waiter, again: bool) -> Result<(), Waiter> {
        let index = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                self.slots.push(Slot::default());
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        let key = key(index, slot.generation);
        let watched = if again {
            self.poller.rearm(&w.acc.socket, key)
        } else {
            self.poller.add(&w.acc.socket, key)
        };
        if watched.is_err() {
            self.free.push(index as u32);
            return Err(w);
        }
        if self.sweep_at.is_none() {
            self.sweep_at = Some(w.deadline);
        }
        slot.waiter = Some(w);
        self.len += 1;
        Ok(())
    }

    /// Wait until some connections have something to read; their keys are appended to
    /// `keys` (at most [`BATCH`](crate::sys::poller::BATCH)).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub(crate) async fn ready(&self, keys: &mut Vec<u64>) -> std::io::Result<()> {
        self.poller.ready(keys).await
    }

    /// The connection reported under `key`, out of the set; `None` if it has left since.
    pub(crate) fn take(&mut self, key: u64) -> Option<Waiter> {
        let (index, generation) = ((key & u64::from(u32::MAX)) as usize, (key >> 32) as u32);
        let slot = self.slots.get_mut(index)?;
        if slot.generation != generation {
            return None;
        }
        let w = slot.waiter.take()?;
        self.vacate(index);
        Some(w)
    }

    fn vacate(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index as u32);
        self.len -= 1;
    }

    /// Take out every connection whose deadline is `now` or earlier, passing each to
    /// `expired`, and plan the next sweep (not before [`SWEEP_EVERY`] from `now`). When
    /// nothing waits any more the slots' memory is freed.
    pub(crate) fn sweep(&mut self, now: Instant, mut expired: impl FnMut(Waiter)) {
        let mut earliest: Option<Instant> = None;
        for index in 0..self.slots.len() {
            let Some(deadline) = self.slots[index].waiter.as_ref().map(|w| w.deadline) else {
                continue;
            };
            if deadline <= now {
                if let Some(w) = self.slots[index].waiter.take() {
                    self.vacate(index);
                    expired(w);
                }
            } else {
                earliest = Some(earliest.map_or(deadline, |e| e.min(deadline)));
            }
        }
        self.sweep_at = earliest.map(|e| e.max(now + SWEEP_EVERY));
        if self.len == 0 {
            // No key of an earlier occupant can come back: every socket that was in the
            // set has been reported (once) or closed.
            self.slots = Vec::new();
            self.free = Vec::new();
        }
    }

    /// Take out every connection (the accept loop is stopping).
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = Waiter> + '_ {
        self.len = 0;
        self.sweep_at = None;
        self.free.clear();
        self.slots.drain(..).filter_map(|s| s.waiter)
    }
}

fn key(index: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | index as u64
}
