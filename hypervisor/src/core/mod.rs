//! Portable hypervisor logic: partitions, vCPUs, schedulers, virtual devices.
pub mod guest;
pub mod memory;
pub mod psci;
pub mod trap;
pub mod vgic;
pub mod vpl011;
pub mod console;
