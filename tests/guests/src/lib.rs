//! Small bare-metal guests that test the hypervisor from inside a partition.
//!
//! The library holds what the guests share: the pure logic (device tree reading, boot
//! arguments, PSCI and exception decoding, output formatting) with host unit tests, and,
//! on the bare-metal target only, a small runtime (entry code, exception vectors, UART,
//! PSCI calls, panic handler) in [`runtime`].
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod bootargs;
pub mod config;
pub mod esr;
pub mod fdt;
pub mod format;
pub mod once;
pub mod psci;
pub mod stats;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod runtime;

#[cfg(test)]
mod dtb_builder;
