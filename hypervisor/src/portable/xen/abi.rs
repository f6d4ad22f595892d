//! Numbers and layouts of Xen's public guest ABI (arm64) that the hypercalls use, from Xen
//! 4.17's `xen/include/public/` headers: `xen.h`, `errno.h`, `version.h`, `features.h`,
//! `memory.h`, `vcpu.h`, `sched.h`, `hvm/hvm_op.h`, `hvm/params.h`, `arch-arm.h`.

/// The `hvc` immediate of a Xen hypercall (`XEN_HYPERCALL_TAG`).
pub const HYPERCALL_IMMEDIATE: u16 = 0xea1;

/// Hypercall numbers (`__HYPERVISOR_*`, `xen.h`).
pub mod number {
    pub const MEMORY_OP: u64 = 12;
    pub const XEN_VERSION: u64 = 17;
    pub const CONSOLE_IO: u64 = 18;
    pub const GRANT_TABLE_OP: u64 = 20;
    pub const VCPU_OP: u64 = 24;
    pub const SCHED_OP: u64 = 29;
    pub const EVENT_CHANNEL_OP: u64 = 32;
    pub const PHYSDEV_OP: u64 = 33;
    pub const HVM_OP: u64 = 34;
    pub const SYSCTL: u64 = 35;
    pub const DOMCTL: u64 = 36;
}

/// Xen's errno values (`errno.h`), as the negative results hypercalls return.
pub mod errno {
    pub const EPERM: i64 = 1;
    pub const E2BIG: i64 = 7;
    pub const ENOENT: i64 = 2;
    pub const ESRCH: i64 = 3;
    pub const ENXIO: i64 = 6;
    pub const ENOMEM: i64 = 12;
    pub const EACCES: i64 = 13;
    pub const EFAULT: i64 = 14;
    pub const EBUSY: i64 = 16;
    pub const EINVAL: i64 = 22;
    pub const ENOSPC: i64 = 28;
    pub const EDOM: i64 = 33;
    pub const ENOSYS: i64 = 38;
    pub const EOPNOTSUPP: i64 = 95;
}

/// `DOMID_SELF`: the calling domain, wherever a domain id is taken.
pub const DOMID_SELF: u16 = 0x7ff0;
/// The guest page size (`XENVER_pagesize`); the ABI's frame numbers count these.
pub const PAGE_SIZE: u64 = 4096;
/// `INVALID_GFN` as a guest passes it (all ones).
pub const INVALID_GFN: u64 = u64::MAX;

/// `xen_version` sub-commands and buffer sizes (`version.h`).
pub mod version {
    pub const VERSION: u64 = 0;
    pub const EXTRAVERSION: u64 = 1;
    pub const COMPILE_INFO: u64 = 2;
    pub const CAPABILITIES: u64 = 3;
    pub const CHANGESET: u64 = 4;
    pub const PLATFORM_PARAMETERS: u64 = 5;
    pub const GET_FEATURES: u64 = 6;
    pub const PAGESIZE: u64 = 7;
    pub const GUEST_HANDLE: u64 = 8;
    pub const COMMANDLINE: u64 = 9;
    pub const BUILD_ID: u64 = 10;
    /// `xen_extraversion_t`.
    pub const EXTRAVERSION_SIZE: usize = 16;
    /// `xen_compile_info_t`: compiler[64], compile_by[16], compile_domain[32], compile_date[32].
    pub const COMPILE_INFO_FIELDS: [usize; 4] = [64, 16, 32, 32];
    /// `xen_capabilities_info_t`.
    pub const CAPABILITIES_SIZE: usize = 1024;
    /// `xen_changeset_info_t`.
    pub const CHANGESET_SIZE: usize = 64;
    /// `xen_commandline_t`.
    pub const COMMANDLINE_SIZE: usize = 1024;
    /// `xen_domain_handle_t`.
    pub const HANDLE_SIZE: usize = 16;
}

/// `XENFEAT_*` bit numbers (`features.h`).
pub mod feature {
    pub const WRITABLE_PAGE_TABLES: u32 = 0;
    pub const AUTO_TRANSLATED_PHYSMAP: u32 = 2;
    pub const MEMORY_OP_VNODE_SUPPORTED: u32 = 13;
    pub const ARM_SMCCC_SUPPORTED: u32 = 14;
    pub const NOT_DIRECT_MAPPED: u32 = 16;
    pub const DIRECT_MAPPED: u32 = 17;
}

/// `console_io` commands (`xen.h`).
pub mod console {
    pub const WRITE: u64 = 0;
    pub const READ: u64 = 1;
}

/// `memory_op` commands and map spaces (`memory.h`).
pub mod memory {
    pub const ADD_TO_PHYSMAP: u64 = 7;
    pub const ADD_TO_PHYSMAP_BATCH: u64 = 23;
    pub const REMOVE_FROM_PHYSMAP: u64 = 15;
    /// `struct xen_remove_from_physmap`: domid u16 @0, gpfn u64 @8.
    pub const REMOVE_FROM_PHYSMAP_SIZE: usize = 16;
    /// The low bits of the command; the rest is the continuation's start extent.
    pub const COMMAND_MASK: u64 = 0x3f;
    pub const EXTENT_SHIFT: u32 = 6;
    pub const SPACE_SHARED_INFO: u32 = 0;
    pub const SPACE_GRANT_TABLE: u32 = 1;
    pub const SPACE_GMFN: u32 = 2;
    pub const SPACE_GMFN_RANGE: u32 = 3;
    pub const SPACE_GMFN_FOREIGN: u32 = 4;
    pub const SPACE_DEV_MMIO: u32 = 5;
    /// `struct xen_add_to_physmap`: domid u16 @0, size u16 @2, space u32 @4, idx u64 @8,
    /// gpfn u64 @16.
    pub const ADD_TO_PHYSMAP_SIZE: usize = 24;
    /// `struct xen_add_to_physmap_batch`: domid u16 @0, space u16 @2, size u16 @4, the
    /// extra union (foreign_domid / res0, u16) @6, idxs @8, gpfns @16, errs @24.
    pub const ADD_TO_PHYSMAP_BATCH_SIZE: usize = 32;
}

/// `vcpu_op` commands and layouts (`vcpu.h`, `xen.h`).
pub mod vcpu {
    pub const IS_UP: u64 = 3;
    pub const GET_RUNSTATE_INFO: u64 = 4;
    pub const REGISTER_RUNSTATE_MEMORY_AREA: u64 = 5;
    pub const REGISTER_VCPU_INFO: u64 = 10;
    /// `struct vcpu_register_vcpu_info`: mfn u64 @0, offset u32 @8, rsvd u32 @12.
    pub const REGISTER_VCPU_INFO_SIZE: usize = 16;
    /// `struct vcpu_register_runstate_memory_area`: one guest handle.
    pub const RUNSTATE_AREA_SIZE: usize = 8;
    /// `struct vcpu_info` on arm64: upcall_pending u8 @0, (pad) @1, evtchn_pending_sel
    /// u64 @8, arch (empty), vcpu_time_info @16 (32 bytes).
    pub const VCPU_INFO_SIZE: u64 = 48;
    pub const VCPU_INFO_ALIGN: u64 = 8;
    pub const VCPU_INFO_PENDING_SEL: u64 = 8;
    /// `XEN_LEGACY_MAX_VCPUS` on Arm: vCPU 0's vcpu_info starts in shared_info.
    pub const LEGACY_MAX_VCPUS: usize = 1;
}

/// `sched_op` commands and shutdown reasons (`sched.h`).
pub mod sched {
    pub const YIELD: u64 = 0;
    pub const BLOCK: u64 = 1;
    pub const SHUTDOWN: u64 = 2;
    pub const POLL: u64 = 3;
    pub const REMOTE_SHUTDOWN: u64 = 4;
    pub const SHUTDOWN_CODE: u64 = 5;
    pub const WATCHDOG: u64 = 6;
    pub const PIN_OVERRIDE: u64 = 7;
    pub const REASON_POWEROFF: u32 = 0;
    pub const REASON_REBOOT: u32 = 1;
    pub const REASON_SUSPEND: u32 = 2;
    pub const REASON_CRASH: u32 = 3;
    pub const REASON_WATCHDOG: u32 = 4;
    /// `struct sched_poll`: ports handle @0, nr_ports u32 @8, timeout u64 @16.
    pub const POLL_SIZE: usize = 24;
    /// Most ports `SCHEDOP_poll` takes ("fairly arbitrary", as Xen says).
    pub const POLL_MAX_PORTS: u32 = 128;
    /// `NR_DOMAIN_WATCHDOG_TIMERS`.
    pub const WATCHDOGS: usize = 2;
}

/// `hvm_op` commands and parameters (`hvm/hvm_op.h`, `hvm/params.h`).
pub mod hvm {
    pub const SET_PARAM: u64 = 0;
    pub const GET_PARAM: u64 = 1;
    /// `struct xen_hvm_param`: domid u16 @0, index u32 @4, value u64 @8.
    pub const PARAM_SIZE: usize = 16;
    pub const CALLBACK_IRQ: u32 = 0;
    pub const STORE_PFN: u32 = 1;
    pub const STORE_EVTCHN: u32 = 2;
    pub const CONSOLE_PFN: u32 = 17;
    pub const CONSOLE_EVTCHN: u32 = 18;
    pub const MONITOR_RING_PFN: u32 = 28;
}

/// The guest address-space layout Xen gives a domU (`arch-arm.h`).
pub mod layout {
    /// `GUEST_GNTTAB_BASE` and `GUEST_GNTTAB_SIZE`: where the guest maps its grant table.
    pub const GRANT_TABLE_BASE: u64 = 0x3800_0000;
    pub const GRANT_TABLE_SIZE: u64 = 0x0100_0000;
    /// `GUEST_EVTCHN_PPI`: the event-channel upcall interrupt.
    pub const EVENT_CHANNEL_PPI: u32 = 31;
}
