//! Guest virtual addresses as the running vCPU sees them, for hypercall buffers: the address
//! translation instructions `AT S12E1R` and `AT S12E1W` (Arm ARM, "A64 system
//! instructions for address translation"), which walk the guest's stage 1 and its stage 2 as
//! an EL1 access would, on the CPU that holds the vCPU (its EL1 registers and VTTBR_EL2 are
//! the live ones).

use core::arch::asm;

/// PAR_EL1.F: the translation failed (Arm ARM, PAR_EL1).
const PAR_FAILED: u64 = 1;
/// PAR_EL1.PA, bits [51:12] of the output address.
const PAR_ADDRESS: u64 = 0x000f_ffff_ffff_f000;

/// The host physical address of the page holding guest virtual address `va` for an EL1 read
/// (or, with `write`, a write) by the vCPU running on this CPU, or `None` if its stage 1 or
/// stage 2 faults. PAR_EL1, the guest's register, is saved and restored around the walk.
pub fn guest_page(va: u64, write: bool) -> Option<u64> {
    let saved: u64;
    let par: u64;
    if write {
        // SAFETY: AT writes only PAR_EL1, which is restored before returning; the walk reads
        // the guest's tables through its own stage 2 and changes no memory.
        unsafe {
            asm!("mrs {saved}, par_el1", "at s12e1w, {va}", "isb", "mrs {par}, par_el1", "msr par_el1, {saved}",
                saved = out(reg) saved, par = out(reg) par, va = in(reg) va, options(nostack, preserves_flags))
        };
    } else {
        // SAFETY: as above, for a read.
        unsafe {
            asm!("mrs {saved}, par_el1", "at s12e1r, {va}", "isb", "mrs {par}, par_el1", "msr par_el1, {saved}",
                saved = out(reg) saved, par = out(reg) par, va = in(reg) va, options(nostack, preserves_flags))
        };
    }
    let _ = saved;
    if par & PAR_FAILED != 0 {
        None
    } else {
        Some(par & PAR_ADDRESS)
    }
}
