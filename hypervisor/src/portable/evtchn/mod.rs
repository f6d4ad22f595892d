//! Xen event channels: each partition's port table, the guest operations of
//! `HYPERVISOR_event_channel_op` with Xen 4.17's arguments, results and errno values, and
//! delivery into guest memory in the 2-level and FIFO ABIs.
//!
//! Pure logic: guest memory is reached through [`EventMemory`], and delivery produces
//! [`Effects`] (raise the upcall PPI 31 on these vCPUs) instead of touching the vGIC.
//!
//! Locking (the runtime holds one lock per table):
//! - every operation takes only the caller's table, except `bind_interdomain`, which takes
//!   both tables, lower partition index first ([`Pair`]);
//! - an interdomain `send` returns a [`Delivery`]; the runtime releases the sender's table and
//!   takes the receiver's to call [`EventChannels::deliver`], which checks the port is still
//!   bound to the sender (and its epoch), so a close in between only drops the event;
//! - `close`, `reset` and `stop` return a [`PeerClosed`] or [`PeerReset`] notice that the
//!   runtime applies to the peer tables afterwards, one lock at a time.
//!
//! Effects are acted on with no table lock held: the vGIC lock is never taken inside one.

pub mod abi;
pub mod args;
pub mod effects;
pub mod error;
pub mod fifo;
pub mod interdomain;
pub mod memory;
pub mod ops;
pub mod runtime;
pub mod statics;
pub mod table;
pub mod two_level;

#[cfg(test)]
mod tests;

pub use effects::{Delivery, Effects, NewlyPending, PeerClosed, PeerReset, Route, Upcalls};
pub use error::{Errno, StaticChannelError};
pub use interdomain::{bind_interdomain, resolve_domid, Pair};
pub use memory::{EventMemory, MemoryError, NoMemory};
pub use ops::Status;
pub use statics::{bind_channel, bind_one, bind_static, build_tables};
pub use table::{Binding, EventChannels, Peers};
