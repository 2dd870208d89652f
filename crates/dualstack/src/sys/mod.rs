//! Platform code: every `unsafe` block, `libc` call and `#[cfg(target_os)]` of the crate
//! lives below this module, behind small safe functions (socket2's layout).
//!
//! Submodules are added as features need them (pktinfo control messages, sysctl reads,
//! errno mapping, /proc socket owners).

#[cfg(feature = "server")]
pub(crate) mod activation;
#[cfg(feature = "server")]
pub(crate) mod alloc;
pub(crate) mod errno;
pub(crate) mod getnameinfo;
pub(crate) mod listener;
pub(crate) mod netinfo;
pub(crate) mod owner;
pub(crate) mod pktinfo;
#[cfg(feature = "server")]
pub(crate) mod poller;
#[cfg(feature = "server")]
pub(crate) mod socket;
