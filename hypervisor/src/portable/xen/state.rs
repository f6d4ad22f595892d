//! What the Xen interface remembers per partition: where its shared_info page is mapped, each
//! vCPU's registered vcpu_info, its watchdogs. Reset when the partition restarts.

use super::abi::sched::WATCHDOGS;
use crate::portable::vgic::MAX_VCPUS;

/// A vCPU's vcpu_info as registered with `VCPUOP_register_vcpu_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuInfo {
    /// The guest frame and the offset in it.
    pub gfn: u64,
    pub offset: u32,
    /// The host physical address of the structure (inside the partition's RAM).
    pub host: u64,
}

/// A partition's Xen interface state. Lock order: after the partition's `run`, before its
/// `stage2` and `vgic`.
#[derive(Debug)]
pub struct XenState {
    /// The host physical address of the partition's shared_info page: one zeroed 4 KiB page
    /// the hypervisor allocated when it built the partition (not from the partition's RAM).
    pub shared_info_page: u64,
    /// The guest frame the shared_info page is mapped at, if the guest mapped it.
    pub shared_info_gfn: Option<u64>,
    /// Per vCPU: its registered vcpu_info. Before registration, vCPU 0's is the first
    /// slot of shared_info (`XEN_LEGACY_MAX_VCPUS` is 1 on Arm) and the others have none.
    pub vcpu_info: [Option<VcpuInfo>; MAX_VCPUS],
    /// Per vCPU: the guest virtual address of its runstate area, if registered. Nothing is
    /// written there yet (a guest reads zeros: no time stolen).
    pub runstate_area: [Option<u64>; MAX_VCPUS],
    /// `SCHEDOP_watchdog` timers: the counter value at which each expires.
    pub watchdogs: [Option<u64>; WATCHDOGS],
}

impl XenState {
    /// The state of a partition that has not run yet, with its shared_info page.
    pub const fn new(shared_info_page: u64) -> Self {
        Self { shared_info_page, shared_info_gfn: None, vcpu_info: [None; MAX_VCPUS], runstate_area: [None; MAX_VCPUS], watchdogs: [None; WATCHDOGS] }
    }

    /// Forgets everything the guest registered (a restart); returns the frame shared_info was
    /// mapped at, which the caller unmaps (and gives back to RAM).
    pub fn reset(&mut self) -> Option<u64> {
        let mapped = self.shared_info_gfn.take();
        *self = Self::new(self.shared_info_page);
        mapped
    }

    /// The host address of vCPU `vcpu`'s vcpu_info: registered, or (vCPU 0) shared_info's.
    pub fn vcpu_info_host(&self, vcpu: usize) -> Option<u64> {
        match self.vcpu_info.get(vcpu).copied().flatten() {
            Some(info) => Some(info.host),
            None if vcpu < super::abi::vcpu::LEGACY_MAX_VCPUS => Some(self.shared_info_page),
            None => None,
        }
    }

    /// The first watchdog whose deadline is at or before `now`, if any.
    pub fn expired_watchdog(&self, now: u64) -> Option<usize> {
        self.watchdogs.iter().position(|d| d.is_some_and(|deadline| deadline <= now))
    }
}
