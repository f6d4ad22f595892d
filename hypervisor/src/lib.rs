//! The hypervisor as a library: portable logic (host-testable) and the aarch64 layer.
//! The bare-metal binary (`main.rs`) only links it; `boot` is where it starts.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

extern crate alloc;

pub mod arch;
pub mod console;
pub mod log;
pub mod portable;
pub mod heap;
pub mod platform;

#[cfg(target_os = "none")]
pub mod boot;
#[cfg(target_os = "none")]
pub mod vm;
