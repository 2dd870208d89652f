//! Idle HTTP connections held by the accept loop: new ones that have sent nothing yet, and
//! keep-alive ones parked after a second without a request. No task, no runtime
//! registration, no timer entry each: a connection here is a slot of about a hundred
//! bytes and an entry in a private readiness set ([`Poller`]). When its bytes arrive the
//! accept loop answers a plain `Connection: close` request itself and closes, or hands
//! the connection to a task of its own.
//!
//! Timeouts are kept by sweeping: the earliest deadline is known (a new connection's is
//! never earlier than those already waiting; a parked one's may be, and moves the sweep
//! earlier), and a sweep closes what has expired. Sweeps run at most every
//! [`SWEEP_EVERY`], so a connection may be closed up to that much late.

use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::listen::RawAccepted;
use crate::sys::poller::Poller;

/// Slots kept while nothing waits (about 120 B each): beyond this many they are freed.
const SHRINK_ABOVE: usize = 1024;

/// Least time between two sweeps of expired connections.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// A connection waiting for its first bytes.
#[derive(Debug)]
pub(crate) struct Waiter {
    /// The connection (not registered with the runtime).
    pub(crate) acc: RawAccepted,
    /// Its place under the connection cap.
    pub(crate) permit: OwnedSemaphorePermit,
    /// When it is closed if nothing comes.
    pub(crate) deadline: Instant,
    /// A keep-alive connection parked after a response (its deadline is the idle
    /// timeout), not a new one (the header timeout).
    pub(crate) parked: bool,
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
    /// When to sweep next; `None`: nothing has waited since the last sweep (or since the
    /// slots were freed).
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

    /// Hold `w` until its next bytes arrive (a socket taken out by [`Waiting::take`]
    /// may come back). On failure (the kernel refused to watch it) `w` comes back, to be
    /// served another way.
    pub(crate) fn insert(&mut self, w: Waiter) -> Result<(), Waiter> {
        let index = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                self.slots.push(Slot::default());
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        if self
            .poller
            .watch(&w.acc.socket, key(index, slot.generation))
            .is_err()
        {
            self.free.push(index as u32);
            return Err(w);
        }
        // A parked keep-alive connection's deadline may come before a new one's.
        self.sweep_at = Some(self.sweep_at.map_or(w.deadline, |at| at.min(w.deadline)));
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
            self.free_slots();
        }
    }

    /// Give the slots' memory back when nothing waits and they are many (after a burst
    /// of idle connections), rather than at the next sweep. Only between batches of
    /// [`Waiting::ready`] keys: every key handed out has been taken by then, and a socket
    /// is reported once per arming, so no earlier key can come back.
    pub(crate) fn shrink_if_empty(&mut self) {
        if self.len == 0 && self.slots.capacity() > SHRINK_ABOVE {
            self.free_slots();
        }
    }

    /// Free the (empty) slots. No key of an earlier occupant can come back: every socket
    /// that was in the set has been reported (once) or closed.
    fn free_slots(&mut self) {
        debug_assert_eq!(self.len, 0);
        self.slots = Vec::new();
        self.free = Vec::new();
        self.sweep_at = None;
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::sync::Semaphore;

    /// A connected socket pair's server side, as a waiter due at `deadline`.
    fn waiter(
        l: &std::net::TcpListener,
        limit: &Arc<Semaphore>,
        deadline: Instant,
        parked: bool,
    ) -> (Waiter, std::net::TcpStream) {
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (socket, peer) = l.accept().unwrap();
        socket.set_nonblocking(true).unwrap();
        let w = Waiter {
            acc: RawAccepted {
                socket,
                peer,
                local: l.local_addr().unwrap(),
                deferred: false,
            },
            permit: limit.clone().try_acquire_owned().unwrap(),
            deadline,
            parked,
        };
        (w, c)
    }

    #[tokio::test]
    async fn sweeps_what_has_expired_and_plans_the_next_sweep() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let limit = Arc::new(Semaphore::new(8));
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut set = Waiting::new().unwrap();
        assert_eq!(set.sweep_at(), None);
        let mut clients = Vec::new();
        for (due, parked) in [(10, false), (11, false)] {
            let (w, c) = waiter(&l, &limit, t0 + due * s, parked);
            set.insert(w).unwrap();
            clients.push(c);
        }
        assert_eq!(set.sweep_at(), Some(t0 + 10 * s));
        // A parked connection due earlier moves the sweep earlier.
        let (w, c) = waiter(&l, &limit, t0 + 3 * s, true);
        set.insert(w).unwrap();
        clients.push(c);
        assert_eq!(set.sweep_at(), Some(t0 + 3 * s));
        assert_eq!(limit.available_permits(), 5);

        let mut gone = Vec::new();
        set.sweep(t0 + 3 * s, |w| gone.push((w.deadline, w.parked)));
        assert_eq!(gone, [(t0 + 3 * s, true)]);
        assert_eq!(limit.available_permits(), 6, "the expired one's permit");
        assert_eq!(set.sweep_at(), Some(t0 + 10 * s));
        // Never sooner than SWEEP_EVERY after a sweep.
        set.sweep(t0 + 10 * s - SWEEP_EVERY / 2, |_| panic!("nothing is due"));
        assert_eq!(set.sweep_at(), Some(t0 + 10 * s + SWEEP_EVERY / 2));
        gone.clear();
        set.sweep(t0 + 20 * s, |w| gone.push((w.deadline, w.parked)));
        assert_eq!(gone.len(), 2);
        assert_eq!(set.sweep_at(), None);
        assert_eq!(set.slots.capacity(), 0, "memory kept with nothing waiting");
        assert_eq!(limit.available_permits(), 8);
    }

    #[tokio::test]
    async fn many_slots_are_freed_once_nothing_waits() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let n = SHRINK_ABOVE + 1;
        let limit = Arc::new(Semaphore::new(n));
        let later = Instant::now() + Duration::from_secs(60);
        let mut set = Waiting::new().unwrap();
        let mut keys = Vec::new();
        let mut clients = Vec::new();
        for i in 0..n {
            let (w, c) = waiter(&l, &limit, later, false);
            set.insert(w).unwrap();
            keys.push(key(i, 0));
            clients.push(c);
        }
        set.shrink_if_empty();
        assert!(set.slots.capacity() > SHRINK_ABOVE, "freed while in use");
        for k in &keys[1..] {
            set.take(*k).unwrap();
        }
        set.shrink_if_empty();
        assert!(set.slots.capacity() > SHRINK_ABOVE, "freed while one waits");
        set.take(keys[0]).unwrap();
        set.shrink_if_empty();
        assert_eq!(set.slots.capacity(), 0);
        assert_eq!(set.sweep_at(), None);
        assert_eq!(limit.available_permits(), n);
    }

    #[tokio::test]
    async fn a_key_finds_only_its_own_connection() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let limit = Arc::new(Semaphore::new(8));
        let later = Instant::now() + Duration::from_secs(60);
        let mut set = Waiting::new().unwrap();
        let (w, mut c) = waiter(&l, &limit, later, false);
        set.insert(w).unwrap();
        std::io::Write::write_all(&mut c, b"x").unwrap();
        let mut keys = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), set.ready(&mut keys))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(keys.len(), 1);
        let w = set.take(keys[0]).unwrap();
        assert!(set.take(keys[0]).is_none(), "taken twice");
        // Back in the set (a spurious wake-up), in the same slot: the old key is stale.
        set.insert(w).unwrap();
        assert!(set.take(keys[0]).is_none(), "a stale key matched");
        // Reported again (the byte is still unread), under the new key.
        keys.clear();
        tokio::time::timeout(Duration::from_secs(5), set.ready(&mut keys))
            .await
            .unwrap()
            .unwrap();
        assert!(set.take(keys[0]).is_some());
        assert_eq!(set.drain().count(), 0);
    }
}
