//! Portable hypervisor logic: partitions, vCPUs, schedulers, virtual devices.
//! Nothing here uses assembly or system registers; all of it is tested on the host.
pub mod console;
pub mod evtchn;
pub mod gnttab;
pub mod guest;
pub mod memory;
pub mod operator;
pub mod partition;
pub mod psci;
pub mod sched;
#[cfg(test)]
pub mod test_rng;
pub mod trap;
pub mod vcpu;
pub mod vgic;
pub mod vpl011;
pub mod xen;
