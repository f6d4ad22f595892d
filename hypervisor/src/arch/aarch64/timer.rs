//! The running guest's virtual timer (CNTV) as the hypervisor handles it.

use aarch64_cpu::registers::CNTV_CTL_EL0;
use tock_registers::interfaces::ReadWriteable;

/// Masks the running vCPU's virtual timer output (`CNTV_CTL_EL0.IMASK`, Arm ARM D13.8.17),
/// so its interrupt line drops until the guest writes `CNTV_CTL_EL0` again to re-arm it.
/// The hypervisor does this when the timer fires and delivers the interrupt as one latched
/// event, as Xen does.
pub fn mask_virtual_timer() {
    CNTV_CTL_EL0.modify(CNTV_CTL_EL0::IMASK::SET);
}
