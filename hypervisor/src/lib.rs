//! The hypervisor as a library: portable core logic (host-testable) and the aarch64 layer.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod arch;
pub mod core;
