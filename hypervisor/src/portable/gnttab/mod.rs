//! Xen grant tables (v1) and the reservation calls: each partition's table, the guest
//! operations of `HYPERVISOR_grant_table_op` and the grant-table and reservation parts of
//! `HYPERVISOR_memory_op`, with Xen 4.17's checks, order and `GNTST_*` status codes.
//!
//! Pure logic: the v1 entries live in grant-table frames reached through [`GrantMemory`];
//! mapping and unmapping produce [`Stage2`] changes the runtime performs. A page reaches a
//! stage 2 only as a [`HostFrame`], which only a partition's [`Physmap`] makes from its own
//! RAM banks, and only once the granter's entry grants it to the mapper.
//!
//! Locking: every table sits behind one lock ([`Grants`]); the runtime takes it with no lock
//! but a partition's `run` held, and takes a partition's stage-2 lock inside it to perform the
//! changes before letting it go (order: `run`, grants, stage 2). The guest's half of the
//! protocol needs no lock: the entries are updated by compare-exchange.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod abi;
pub mod args;
pub mod control;
pub mod copy;
mod entry;
pub mod lifecycle;
pub mod memory;
pub mod ops;
pub mod physmap;
pub mod reservation;
pub mod table;

#[cfg(test)]
pub(crate) mod tests;

pub use abi::GrantStatus;
pub use control::Size;
pub use copy::{CopyPtr, CopyRequest};
pub use lifecycle::Revoked;
pub use memory::{Access, GrantMemory, HostFrame, MemoryError, Span, Stage2, Stage2Error};
pub use ops::{Grants, MapRequest, UnmapRequest};
pub use physmap::{Bank, BankError, Page, Physmap, Refusal};
pub use reservation::{Direction, Progress};
pub use table::{GrantTable, Limits, Mapping, TableError};
