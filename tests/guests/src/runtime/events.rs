//! Xen event channels for guests that only need to signal and wait on one port: shared_info
//! and vCPU 0's vcpu_info registered in pages the guest gives up, the 2-level ABI, the upcall
//! (PPI 31) enabled at the GIC and waited for in WFI with IRQs masked. (The `evtchn` guest
//! drives the whole ABI, FIFO included, itself.)

use core::arch::asm;
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use super::gic::InterruptController;
use super::stage1::{check_normal, NotNormal};
use super::xen::hypercall;
use crate::config::Gic;

const MEMORY_OP: u64 = 12;
const VCPU_OP: u64 = 24;
const EVENT_CHANNEL_OP: u64 = 32;
const ADD_TO_PHYSMAP: u64 = 7;
const REGISTER_VCPU_INFO: u64 = 10;
const SEND: u64 = 4;
const DOMID_SELF: u32 = 0x7ff0;
const UPCALL_PPI: u32 = 31;
/// shared_info on arm64: one 48-byte vcpu_info, then the pending bitmap.
const PENDING: u64 = 0x30;
/// vcpu_info: `evtchn_upcall_pending` (byte 0), `evtchn_pending_sel` (bytes 8 to 15).
const SELECTOR: u64 = 8;

/// Three pages for the hypervisor: arguments, shared_info and vcpu_info.
#[repr(C, align(4096))]
pub struct EventPages(pub [[u8; 4096]; 3]);

/// Why event channels could not be set up.
#[derive(Debug, Clone, Copy)]
pub enum EventError {
    /// The device tree describes no GIC.
    NoGic,
    /// `XENMEM_add_to_physmap` of shared_info answered this.
    SharedInfo(i64),
    /// `VCPUOP_register_vcpu_info` answered this.
    VcpuInfo(i64),
    /// The pages are not Normal write-back memory, as the hypervisor maps shared_info and
    /// reads and writes the vcpu_info.
    NotNormal(NotNormal),
}

impl core::fmt::Display for EventError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EventError::NoGic => write!(f, "no GIC in the device tree: the upcall cannot be waited for"),
            EventError::SharedInfo(rc) => write!(f, "XENMEM_add_to_physmap of shared_info = {rc}"),
            EventError::VcpuInfo(rc) => write!(f, "VCPUOP_register_vcpu_info = {rc}"),
            EventError::NotNormal(error) => write!(f, "the event pages: {error}"),
        }
    }
}

/// Signals and waits on event-channel ports of this partition (vCPU 0 only).
pub struct Events {
    gic: InterruptController,
    /// The pages given to the hypervisor (their address).
    pages: u64,
    /// Events taken by [`Events::wait`].
    pub received: u64,
}

fn word(address: u64) -> &'static AtomicU32 {
    // SAFETY: callers pass 4-byte aligned addresses inside the event pages, which the guest
    // and the hypervisor share only through atomic accesses.
    unsafe { AtomicU32::from_ptr(address as *mut u32) }
}

impl Events {
    /// Registers shared_info (page 1 of `pages`) and vcpu_info (page 2) and enables the
    /// upcall at the GIC. Call once, on vCPU 0, with IRQs masked.
    pub fn new(gic: Option<Gic>, pages: &'static mut EventPages) -> Result<Events, EventError> {
        let gic = gic.ok_or(EventError::NoGic)?;
        // SAFETY: the guest's own GIC, used only through this driver on this vCPU.
        let gic = unsafe { InterruptController::new(gic) };
        let base = pages as *mut EventPages as u64;
        check_normal(base, core::mem::size_of::<EventPages>() as u64).map_err(EventError::NotNormal)?;
        let args = base;
        // `struct xen_add_to_physmap`: domid u16, size u16, space u32, idx u64, gpfn u64.
        word(args).store(DOMID_SELF, Ordering::Relaxed);
        word(args + 4).store(0, Ordering::Relaxed);
        for at in (8..16).step_by(4) {
            word(args + at).store(0, Ordering::Relaxed);
        }
        word(args + 16).store(((base + 4096) >> 12) as u32, Ordering::Relaxed);
        word(args + 20).store(((base + 4096) >> 44) as u32, Ordering::Relaxed);
        // SAFETY: page 0 holds the arguments; page 1 is given up to shared_info.
        let rc = unsafe { hypercall(MEMORY_OP, [ADD_TO_PHYSMAP, args, 0, 0, 0]) };
        if rc != 0 {
            return Err(EventError::SharedInfo(rc));
        }
        // `struct vcpu_register_vcpu_info`: mfn u64, offset u32, pad u32.
        word(args).store(((base + 8192) >> 12) as u32, Ordering::Relaxed);
        word(args + 4).store(((base + 8192) >> 44) as u32, Ordering::Relaxed);
        word(args + 8).store(0, Ordering::Relaxed);
        word(args + 12).store(0, Ordering::Relaxed);
        // SAFETY: page 2 is given up to the vcpu_info.
        let rc = unsafe { hypercall(VCPU_OP, [REGISTER_VCPU_INFO, 0, args, 0, 0]) };
        if rc != 0 {
            return Err(EventError::VcpuInfo(rc));
        }
        gic.enable_private(UPCALL_PPI, 0x80);
        Ok(Events { gic, pages: base, received: 0 })
    }

    /// `EVTCHNOP_send` on `port`; the hypervisor's answer.
    pub fn send(&self, port: u32) -> i64 {
        word(self.pages).store(port, Ordering::Relaxed);
        // SAFETY: the argument page belongs to this call only; a barrier first, so that
        // everything written before the event is seen by whoever takes it.
        unsafe {
            asm!("dsb ish", options(nostack, preserves_flags));
            hypercall(EVENT_CHANNEL_OP, [SEND, self.pages, 0, 0, 0])
        }
    }

    /// Takes `port`'s pending bit, if set.
    fn take(&self, port: u32) -> bool {
        let pending = word(self.pages + 4096 + PENDING + 4 * u64::from(port / 32));
        let bit = 1 << (port % 32);
        pending.fetch_and(!bit, Ordering::AcqRel) & bit != 0
    }

    /// Waits for the next event on `port`: clears the upcall flag and the selector, takes the
    /// port's pending bit if set, else acknowledges the upcall at the GIC and sleeps in WFI
    /// until the next one.
    pub fn wait(&mut self, port: u32) {
        let vcpu_info = self.pages + 8192;
        loop {
            // SAFETY: byte 0 of the vcpu_info page, shared with the hypervisor atomically.
            let upcall = unsafe { AtomicU8::from_ptr(vcpu_info as *mut u8) };
            upcall.store(0, Ordering::Release);
            word(vcpu_info + SELECTOR).store(0, Ordering::Release);
            word(vcpu_info + SELECTOR + 4).store(0, Ordering::Release);
            if self.take(port) {
                self.received = self.received.wrapping_add(1);
                return;
            }
            if let Some((raw, _)) = self.gic.acknowledge() {
                self.gic.end(raw);
                continue;
            }
            if upcall.load(Ordering::Acquire) == 0 {
                // SAFETY: waits for an interrupt; IRQs stay masked.
                unsafe { asm!("wfi", options(nomem, nostack, preserves_flags)) };
            }
        }
    }
}
