//! TLB maintenance for a guest's stage 2 (Arm ARM, TLB maintenance instructions): after a partition's table changes
//! at run time, every CPU must forget the translations cached for its VMID.

use aarch64_cpu::registers::VTTBR_EL2;
use core::arch::asm;
use tock_registers::interfaces::{Readable, Writeable};

/// Invalidates, on every CPU of the inner shareable domain, the stage 1 and stage 2 TLB
/// entries of the VMID in `vttbr_el2` (`TLBI VMALLS12E1IS` acts on the current VMID, so this
/// CPU's VTTBR_EL2 names it for the moment and is put back).
///
/// The switch leaves this CPU's own guest (the vCPU whose EL1 registers it holds, if any)
/// as it was: this CPU runs at EL2 throughout and enters no guest before VTTBR_EL2 is put
/// back; the TLBI removes only entries tagged with the other VMID, never its own guest's; and
/// an entry this CPU might cache meanwhile for the other VMID (a walk of the EL1&0 regime
/// with its own guest's stage-1 registers over the other table) is tagged with the other
/// VMID, so it can only be used while that VMID is current here, that is by a vCPU of the
/// other partition, whose `guest::configure` invalidates the VMID's entries on this CPU
/// before it runs.
///
/// # Safety
/// `vttbr_el2` must be a partition's VTTBR_EL2 (its table and VMID); no guest runs on this CPU
/// during the call (it runs at EL2 with interrupts masked).
pub unsafe fn invalidate_guest(vttbr_el2: u64) {
    let current = VTTBR_EL2.get();
    VTTBR_EL2.set(vttbr_el2);
    // SAFETY: TLB maintenance and barriers have no memory-safety effect; the table writes
    // before it are made visible to the walkers by the DSB.
    unsafe { asm!("dsb ishst", "isb", "tlbi vmalls12e1is", "dsb ish", "isb", options(nostack, preserves_flags)) };
    VTTBR_EL2.set(current);
    // SAFETY: as above.
    unsafe { asm!("isb", options(nostack, preserves_flags)) };
}
