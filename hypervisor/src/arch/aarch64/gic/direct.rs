//! The physical GICv3 CPU interface a direct-delivery partition shares with EL2 (IHI 0069H.b
//! §4.6 and §12.2; ARCHITECTURE.md, "Direct interrupt delivery").
//!
//! On a CPU whose guest takes its interrupts directly, HCR_EL2.IMO is 0 and FMO is 1: the
//! guest's `ICC_IAR1_EL1`, `ICC_EOIR1_EL1`, `ICC_HPPIR1_EL1`, `ICC_BPR1_EL1`,
//! `ICC_AP1R<n>_EL1` and `ICC_IGRPEN1_EL1` are the physical Group 1 registers, while its Group 0
//! registers and the common ones (`ICC_PMR_EL1`, `ICC_CTLR_EL1`, `ICC_RPR_EL1`, `ICC_DIR_EL1`)
//! are the virtual `ICV_*` ones, because FMO is set. EL2 takes its own interrupts as Group 0
//! (FIQ): these accessors are the physical Group 0 registers seen from EL2, and the Group 1
//! state a guest leaves behind, which EL2 clears before the next run.

use core::arch::asm;

/// `ICC_CTLR_EL1.PRIbits` (bits 10:8): implemented priority bits minus one.
const PRIBITS_SHIFT: u64 = 8;

/// Acknowledges the most urgent pending Group 0 interrupt (`ICC_IAR0_EL1`): its INTID, or
/// `None` for a special INTID (1020 to 1023: nothing pending).
pub fn acknowledge_group0() -> Option<u32> {
    let value: u64;
    // SAFETY: reading ICC_IAR0_EL1 acknowledges an interrupt at the GIC; no memory is involved.
    unsafe { asm!("mrs {}, S3_0_C12_C8_0", out(reg) value, options(nomem, nostack, preserves_flags)) };
    let intid = (value & 0xff_ffff) as u32;
    (!(1020..1024).contains(&intid)).then_some(intid)
}

/// Ends a Group 0 interrupt (`ICC_EOIR0_EL1`). On a direct CPU EOImode is 0, so this drops
/// the priority and deactivates.
pub fn end_group0(intid: u32) {
    // SAFETY: ending an interrupt changes GIC state only.
    unsafe { asm!("msr S3_0_C12_C8_1, {}", "isb", in(reg) u64::from(intid), options(nostack, preserves_flags)) };
}

/// Sends Group 0 SGI `value` (`ICC_SGI0R_EL1`, the same layout as `ICC_SGI1R_EL1`), after
/// making earlier stores visible to the other CPUs.
pub fn send_sgi0(value: u64) {
    // SAFETY: a barrier and an SGI request change no memory this code relies on.
    unsafe { asm!("dsb ishst", "msr S3_0_C12_C11_7, {}", "isb", in(reg) value, options(nostack, preserves_flags)) };
}

/// Enables or disables Group 0 on this CPU's interface (`ICC_IGRPEN0_EL1`).
pub fn enable_group0(enable: bool) {
    // SAFETY: the enable only changes which interrupts this CPU is signalled.
    unsafe { asm!("msr S3_0_C12_C12_6, {}", "isb", in(reg) u64::from(enable), options(nostack, preserves_flags)) };
}

/// Sets this CPU's `ICC_CTLR_EL1.EOImode`: true splits priority drop and deactivation.
pub fn set_eoi_split(split: bool) {
    let ctlr = super::sysreg::icc_ctlr_el1();
    let mode = super::sysreg::ICC_CTLR_EOIMODE;
    super::sysreg::set_icc_ctlr_el1(if split { ctlr | mode } else { ctlr & !mode });
}

/// Puts back the Group 1 state a direct guest may have left in this CPU's interface: Group 1
/// disabled (`ICC_IGRPEN1_EL1`), no active priority claimed (`ICC_AP1R<n>_EL1`, as many as the
/// priority bits implement: one for 5 bits, two for 6, four for 7 or 8) and the binary point
/// at its reset value (`ICC_BPR1_EL1`, the minimum: writes below it read back as it).
pub fn reset_group1() {
    let pribits = ((super::sysreg::icc_ctlr_el1() >> PRIBITS_SHIFT) & 7) + 1;
    // SAFETY: these registers only change which Group 1 interrupts this CPU signals and
    // how; a guest that runs here next starts with them at their reset values.
    unsafe {
        asm!("msr S3_0_C12_C12_7, xzr", "msr S3_0_C12_C9_0, xzr", "msr S3_0_C12_C12_3, xzr", options(nostack, preserves_flags));
        if pribits >= 6 {
            asm!("msr S3_0_C12_C9_1, xzr", options(nostack, preserves_flags));
        }
        if pribits >= 7 {
            asm!("msr S3_0_C12_C9_2, xzr", "msr S3_0_C12_C9_3, xzr", options(nostack, preserves_flags));
        }
        asm!("isb", options(nostack, preserves_flags));
    }
}
