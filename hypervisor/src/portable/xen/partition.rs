//! What a partition holds for the Xen interface: its shared_info page, whether its device
//! tree gets the `/hypervisor` node, and the state its hypercalls change.

use super::abi::layout::{EVENT_CHANNEL_PPI, GRANT_TABLE_BASE, GRANT_TABLE_SIZE};
use super::poll::Pollers;
use super::state::XenState;
use crate::portable::guest::dtb::{ExtraNode, GIC_PHANDLE};
use alloc::alloc::{alloc_zeroed, Layout};
use core::sync::atomic::AtomicU64;
use locks::Mutex;

const PAGE: Layout = match Layout::from_size_align(4096, 4096) {
    Ok(layout) => layout,
    Err(_) => panic!("a 4 KiB page layout"),
};

/// `shared_info.wc_version`'s offset on arm64: after vcpu_info[1] (48 bytes) and the
/// 2-level pending and mask bitmaps (512 bytes each).
const WC_VERSION: usize = 0x430;

/// A partition's Xen interface.
#[derive(Debug)]
pub struct XenPartition {
    /// Registrations, mappings and watchdogs. Lock order: after `run`, before `stage2` and
    /// `vgic`; never taken by `xen_version`.
    pub state: Mutex<XenState>,
    /// The host physical address of its shared_info page (4 KiB, zeroed at build, owned by
    /// the hypervisor, never freed: mapped into the guest's stage 2 where the guest asks).
    pub shared_info: u64,
    /// The guest's device tree gets the `/hypervisor` node (`xen,enhanced`).
    pub hypervisor_node: bool,
    /// Its RAM is mapped 1:1 (`XENFEAT_direct_mapped`).
    pub direct_mapped: bool,
    /// The earliest `SCHEDOP_watchdog` deadline (counter ticks), `u64::MAX` when none: read
    /// without the lock on the guest's interrupt exits.
    pub watchdog: AtomicU64,
    /// Its vCPUs waiting in `SCHEDOP_poll`, woken by its ports becoming pending.
    pub pollers: Pollers,
}

impl XenPartition {
    /// The interface of a new partition, with a fresh shared_info page; `None` if the heap
    /// has no page for it.
    pub fn new(hypervisor_node: bool, direct_mapped: bool) -> Option<Self> {
        // SAFETY: the layout has a non-zero size. The page is never freed: a partition lives
        // as long as the hypervisor.
        let page = unsafe { alloc_zeroed(PAGE) };
        if page.is_null() {
            return None;
        }
        let shared_info = page as u64;
        let this = Self { state: Mutex::new(XenState::new(shared_info)), shared_info, hypervisor_node, direct_mapped, watchdog: AtomicU64::new(u64::MAX), pollers: Pollers::new() };
        this.clear_shared_info();
        Some(this)
    }

    /// Puts the shared_info page back to what a new domain sees: zeros, except the wall
    /// clock's version, 2 (updated once, consistent; the clock itself reads 0, no RTC), as
    /// Xen 4.17 leaves it. Only while the partition does not run (build, restart).
    pub fn clear_shared_info(&self) {
        let page = self.shared_info as *mut u8;
        // SAFETY: the page was allocated in `new` for this partition alone, 4 KiB long and
        // never freed; its guest is not running, so nothing else accesses it now.
        unsafe {
            page.write_bytes(0, PAGE.size());
            page.add(WC_VERSION).cast::<u32>().write_volatile(2);
        }
    }
}

/// `compatible` of the `/hypervisor` node: the version we implement, then the generic name.
const COMPATIBLE: &[u8] = b"xen,xen-4.17\0xen,xen\0";
/// `reg`: the grant-table window (two cells each for address and size).
const REG: [u8; 16] = concat_be64(GRANT_TABLE_BASE, GRANT_TABLE_SIZE);
/// `interrupts`: PPI 31, on all CPUs (mask 0xf), level-sensitive active low, as Xen writes it.
const INTERRUPTS: [u8; 12] = concat_be32([1, EVENT_CHANNEL_PPI - 16, (0xf << 8) | 8]);
/// `interrupt-parent`: the guest's GIC.
const INTERRUPT_PARENT: [u8; 4] = GIC_PHANDLE.to_be_bytes();

const fn concat_be64(a: u64, b: u64) -> [u8; 16] {
    let (a, b) = (a.to_be_bytes(), b.to_be_bytes());
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 8 {
        out[i] = a[i];
        out[i + 8] = b[i];
        i += 1;
    }
    out
}

const fn concat_be32(cells: [u32; 3]) -> [u8; 12] {
    let mut out = [0u8; 12];
    let mut i = 0;
    while i < 12 {
        out[i] = cells[i / 4].to_be_bytes()[i % 4];
        i += 1;
    }
    out
}

/// The `/hypervisor` node Xen 4.17's dom0less gives a domU with `xen,enhanced` (Linux's
/// `Documentation/devicetree/bindings/arm/xen.txt`). Xen also lists "extended regions" (free
/// guest address space) after the grant-table window in `reg`; we list none.
pub const HYPERVISOR_NODE: ExtraNode<'static> = ExtraNode {
    name: "hypervisor",
    properties: &[("compatible", COMPATIBLE), ("reg", &REG), ("interrupts", &INTERRUPTS), ("interrupt-parent", &INTERRUPT_PARENT)],
    children: &[],
};
