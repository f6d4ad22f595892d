//! What a partition's guest is given at its start: the Xen-compatible guest physical layout,
//! arm64 Image headers, module placement and the guest device tree (with the passthrough
//! nodes copied into it).
//!
//! Images built for Xen dom0less domUs boot unchanged: the guest sees RAM, the GIC, the SBSA UART
//! and the grant-table window where Xen puts them, and its modules where Xen places them.
//!
//! A crate of its own so that it builds for size (`opt-level = "z"` in the workspace's release
//! profile): it runs when a partition starts or restarts, never on a trap. The hypervisor
//! re-exports its modules as `portable::guest::*` beside its own `guest::boot`, which loads
//! the modules into the partition's RAM.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod dtb;
pub mod image;
pub mod layout;
pub mod passthrough;
pub mod placement;
