//! Xen's event-channel guest ABI on arm64: operation numbers, status codes, VIRQs, the FIFO
//! event word and control block, and where the 2-level bitmaps sit in `shared_info` and
//! `vcpu_info` (Xen 4.17 `public/event_channel.h`, `public/event_fifo.h`, `public/xen.h`).

/// `EVTCHNOP_*`: the first argument of `HYPERVISOR_event_channel_op`.
pub mod op {
    pub const BIND_INTERDOMAIN: u32 = 0;
    pub const BIND_VIRQ: u32 = 1;
    pub const BIND_PIRQ: u32 = 2;
    pub const CLOSE: u32 = 3;
    pub const SEND: u32 = 4;
    pub const STATUS: u32 = 5;
    pub const ALLOC_UNBOUND: u32 = 6;
    pub const BIND_IPI: u32 = 7;
    pub const BIND_VCPU: u32 = 8;
    pub const UNMASK: u32 = 9;
    pub const RESET: u32 = 10;
    pub const INIT_CONTROL: u32 = 11;
    pub const EXPAND_ARRAY: u32 = 12;
    pub const SET_PRIORITY: u32 = 13;
    pub const RESET_CONT: u32 = 14;
}

/// `EVTCHNSTAT_*`: what `EVTCHNOP_status` reports.
pub mod stat {
    pub const CLOSED: u32 = 0;
    pub const UNBOUND: u32 = 1;
    pub const INTERDOMAIN: u32 = 2;
    pub const PIRQ: u32 = 3;
    pub const VIRQ: u32 = 4;
    pub const IPI: u32 = 5;
}

/// Virtual interrupts (`VIRQ_*`) a guest may bind.
pub mod virq {
    /// Per vCPU: timer (Xen on Arm never raises it: it has no single-shot timer op there).
    pub const TIMER: u32 = 0;
    /// Per vCPU: asks the guest to dump its state.
    pub const DEBUG: u32 = 1;
    /// Global: bytes arrived on the console.
    pub const CONSOLE: u32 = 2;
    pub const XENOPROF: u32 = 7;
    pub const XENPMU: u32 = 13;
    pub const ARCH_0: u32 = 16;
    pub const ARCH_7: u32 = 23;
    /// `NR_VIRQS`: a VIRQ number at or above it is -EINVAL.
    pub const COUNT: u32 = 24;

    /// Whether a VIRQ is global (bound on vCPU 0 only, retargetable with `bind_vcpu`) rather than
    /// per vCPU. On Arm the architectural VIRQs are global.
    pub const fn is_global(virq: u32) -> bool {
        !matches!(virq, TIMER | DEBUG | XENOPROF | XENPMU)
    }
}

/// `DOMID_SELF`.
pub const DOMID_SELF: u16 = 0x7ff0;

/// Ports of the 2-level ABI on a 64-bit guest: 64 selector bits, each for a 64-bit word.
pub const TWO_LEVEL_PORTS: u32 = 64 * 64;
/// Ports of the FIFO ABI (`EVTCHN_FIFO_NR_CHANNELS`).
pub const FIFO_PORTS: u32 = 1 << 17;
/// The highest port a dom0less DomU may use in Xen 4.17 (`max_evtchn_port`, as libxl's default).
pub const DEFAULT_MAX_PORT: u32 = 1023;
/// Xen grows a domain's valid port range by this many ports at a time (a 4 KiB page of its
/// 64-byte channel structures); a port past the range is -EINVAL rather than "closed".
pub const PORTS_PER_BUCKET: u32 = 64;

/// Guest page size of the ABI.
pub const PAGE_SIZE: u64 = 4096;

/// `vcpu_info` on arm64: `evtchn_upcall_pending` (u8) at 0, `evtchn_upcall_mask` (u8) at 1,
/// `evtchn_pending_sel` (u64) at 8, then the 32-byte `vcpu_time_info`.
pub mod vcpu_info {
    pub const UPCALL_PENDING: u64 = 0;
    pub const PENDING_SEL: u64 = 8;
    /// Size of the structure.
    pub const SIZE: u64 = 48;
}

/// `shared_info` on arm64: one legacy `vcpu_info`, then `evtchn_pending[64]` and
/// `evtchn_mask[64]` (64-bit words).
pub mod shared_info {
    pub const EVTCHN_PENDING: u64 = super::vcpu_info::SIZE;
    pub const EVTCHN_MASK: u64 = EVTCHN_PENDING + 64 * 8;
}

/// The FIFO ABI's event word and control block.
pub mod fifo {
    /// Bits of an event word.
    pub const PENDING: u32 = 31;
    pub const MASKED: u32 = 30;
    pub const LINKED: u32 = 29;
    pub const BUSY: u32 = 28;
    /// Width of the LINK field, returned by `init_control`.
    pub const LINK_BITS: u8 = 17;
    pub const LINK_MASK: u32 = (1 << LINK_BITS) - 1;
    /// Priorities: 0 is the highest, 15 the lowest, 7 the default.
    pub const PRIORITY_MAX: u8 = 0;
    pub const PRIORITY_DEFAULT: u8 = 7;
    pub const PRIORITY_MIN: u8 = 15;
    pub const QUEUES: usize = 16;
    /// Event words in one array page.
    pub const WORDS_PER_PAGE: u32 = 1024;
    /// Most event array pages (`EVTCHN_FIFO_NR_CHANNELS` / words per page).
    pub const MAX_ARRAY_PAGES: usize = 128;
    /// Control block: `ready` (u32) at 0, 4 reserved bytes, `head[16]` (u32) from 8.
    pub const CONTROL_READY: u64 = 0;
    pub const CONTROL_HEAD: u64 = 8;
    pub const CONTROL_BLOCK_SIZE: u64 = CONTROL_HEAD + 4 * QUEUES as u64;
}
