//! Timers at EL2: this CPU's own deadline (the EL2 physical timer, CNTHP_CTL_EL2 and CNTHP_CVAL_EL2, on
//! PPI 26), its health deadline (the EL1 physical timer, CNTP, on PPI 30, which guests never
//! reach: their CNTP accesses trap), and the running guest's virtual timer registers (CNTV)
//! as the hypervisor reads and masks them.

use aarch64_cpu::registers::{CNTHP_CTL_EL2, CNTP_CTL_EL0, CNTP_CVAL_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0};
use core::arch::asm;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

/// The EL2 physical timer's interrupt.
pub const EL2_TIMER_PPI: u32 = 26;

/// Arms this CPU's EL2 timer to fire when the physical counter reaches `deadline`.
pub fn set_el2_deadline(deadline: u64) {
    // SAFETY: CNTHP_CVAL_EL2 only sets when this CPU's EL2 timer fires (aarch64-cpu has no
    // accessor for it).
    unsafe { asm!("msr cnthp_cval_el2, {}", "isb", in(reg) deadline, options(nostack, preserves_flags)) };
    CNTHP_CTL_EL2.write(CNTHP_CTL_EL2::ENABLE::SET);
}

/// Disarms this CPU's EL2 timer (its interrupt line drops); returns whether it had fired.
pub fn cancel_el2_deadline() -> bool {
    let fired = CNTHP_CTL_EL2.matches_all(CNTHP_CTL_EL2::ENABLE::SET + CNTHP_CTL_EL2::ISTATUS::SET);
    CNTHP_CTL_EL2.set(0);
    fired
}

/// The EL1 physical timer's interrupt: the hypervisor's health deadlines (heartbeats, restart
/// back-offs).
pub const HEALTH_TIMER_PPI: u32 = 30;

/// Arms this CPU's health timer (the EL1 physical timer, which no guest can reach: CNTHCTL_EL2
/// traps their accesses) to fire when the physical counter reaches `deadline`. It runs on
/// whatever guest this CPU enters, so a guest that masks its interrupts cannot hold it off.
pub fn set_health_deadline(deadline: u64) {
    CNTP_CVAL_EL0.set(deadline);
    CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::SET);
}

/// Disarms this CPU's health timer (its interrupt line drops).
pub fn cancel_health_deadline() {
    CNTP_CTL_EL0.set(0);
}

/// The running guest's virtual timer: `CNTV_CTL_EL0` and `CNTV_CVAL_EL0`.
pub fn virtual_timer() -> (u64, u64) {
    (CNTV_CTL_EL0.get(), CNTV_CVAL_EL0.get())
}

/// Switches the virtual timer of the vCPU leaving this CPU off (its registers were saved), so
/// it cannot fire for the next one; the next vCPU's load writes its own.
pub fn disable_virtual_timer() {
    CNTV_CTL_EL0.set(0);
}

/// Masks the running vCPU's virtual timer output (`CNTV_CTL_EL0.IMASK`, Arm ARM DDI 0487 M.c D24.10.28),
/// so its interrupt line drops until the guest writes `CNTV_CTL_EL0` again to re-arm it.
/// The hypervisor does this when the timer fires and delivers the interrupt as one latched
/// event, as Xen does.
pub fn mask_virtual_timer() {
    CNTV_CTL_EL0.modify(CNTV_CTL_EL0::IMASK::SET);
}
