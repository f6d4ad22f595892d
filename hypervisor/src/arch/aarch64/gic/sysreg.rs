//! GICv3 system registers that `aarch64-cpu` lacks or has read-only, and index-selected
//! access to the numbered `ICH_LR<n>_EL2` and `ICH_AP0R<n>_EL2` / `ICH_AP1R<n>_EL2`.
//!
//! None of these writes can break memory safety: they change which interrupts are signalled
//! or what a guest sees of its virtual interrupts, never a translation or a return address.

use aarch64_cpu::registers::{
    ICH_AP0R0_EL2, ICH_AP0R1_EL2, ICH_AP0R2_EL2, ICH_AP0R3_EL2, ICH_AP1R0_EL2, ICH_AP1R1_EL2,
    ICH_AP1R2_EL2, ICH_AP1R3_EL2, ICH_LR0_EL2, ICH_LR10_EL2, ICH_LR11_EL2, ICH_LR12_EL2,
    ICH_LR13_EL2, ICH_LR14_EL2, ICH_LR15_EL2, ICH_LR1_EL2, ICH_LR2_EL2, ICH_LR3_EL2, ICH_LR4_EL2,
    ICH_LR5_EL2, ICH_LR6_EL2, ICH_LR7_EL2, ICH_LR8_EL2, ICH_LR9_EL2,
};
use core::arch::asm;
use tock_registers::interfaces::{Readable, Writeable};

/// `ICC_CTLR_EL1.EOImode` (bit 1): an `ICC_EOIR1_EL1` write only drops the running priority;
/// `ICC_DIR_EL1` deactivates (`ICC_CTLR_EL1`, IHI 0069H.b §12.2.6).
pub const ICC_CTLR_EOIMODE: u64 = 1 << 1;
/// `ICC_CTLR_EL1.RSS` (bit 18): the CPU interface accepts SGI targets with Aff0 above 15.
pub const ICC_CTLR_RSS: u64 = 1 << 18;

/// Reads `ICC_CTLR_EL1`, the physical CPU interface control seen from EL2.
pub fn icc_ctlr_el1() -> u64 {
    let value: u64;
    // SAFETY: reading the CPU interface control register has no side effects.
    unsafe {
        asm!("mrs {}, icc_ctlr_el1", out(reg) value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Writes `ICC_CTLR_EL1`.
pub fn set_icc_ctlr_el1(value: u64) {
    // SAFETY: the register selects EOI behaviour and binary-point sharing of this CPU's
    // interrupt handling; no memory is involved.
    unsafe {
        asm!("msr icc_ctlr_el1, {}", "isb", in(reg) value, options(nostack, preserves_flags))
    };
}

/// Writes `ICC_DIR_EL1`: deactivates `intid` (IHI 0069H.b §12.2.8).
pub fn write_icc_dir_el1(intid: u32) {
    // SAFETY: deactivating an interrupt changes GIC state only.
    unsafe {
        asm!("msr icc_dir_el1, {}", "isb", in(reg) intid as u64, options(nostack, preserves_flags))
    };
}

/// Writes `ICC_SGI1R_EL1`: sends a Group 1 SGI. Earlier stores are made visible to the other
/// CPUs first, since the system-register write is not ordered with memory accesses.
pub fn write_icc_sgi1r_el1(value: u64) {
    // SAFETY: a barrier and an SGI request change no memory this code relies on.
    unsafe {
        asm!("dsb ishst", "msr icc_sgi1r_el1, {}", "isb", in(reg) value, options(nostack, preserves_flags))
    };
}

/// Reads `ICH_EISR_EL2`: list registers whose EOI maintenance condition holds (IHI 0069H.b §12.4, `ICH_EISR_EL2`).
pub fn ich_eisr_el2() -> u64 {
    let value: u64;
    // SAFETY: a read-only status register; reading it has no side effects.
    unsafe {
        asm!("mrs {}, ich_eisr_el2", out(reg) value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Reads `ICH_ELRSR_EL2`: list registers holding no valid interrupt (IHI 0069H.b §12.4, `ICH_ELRSR_EL2`).
pub fn ich_elrsr_el2() -> u64 {
    let value: u64;
    // SAFETY: a read-only status register; reading it has no side effects.
    unsafe {
        asm!("mrs {}, ich_elrsr_el2", out(reg) value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Reads `ICH_LR<index>_EL2`. The caller checks `index` against `ICH_VTR_EL2.ListRegs`; an
/// index above 15 reads as zero.
pub fn ich_lr(index: usize) -> u64 {
    match index {
        0 => ICH_LR0_EL2.get(),
        1 => ICH_LR1_EL2.get(),
        2 => ICH_LR2_EL2.get(),
        3 => ICH_LR3_EL2.get(),
        4 => ICH_LR4_EL2.get(),
        5 => ICH_LR5_EL2.get(),
        6 => ICH_LR6_EL2.get(),
        7 => ICH_LR7_EL2.get(),
        8 => ICH_LR8_EL2.get(),
        9 => ICH_LR9_EL2.get(),
        10 => ICH_LR10_EL2.get(),
        11 => ICH_LR11_EL2.get(),
        12 => ICH_LR12_EL2.get(),
        13 => ICH_LR13_EL2.get(),
        14 => ICH_LR14_EL2.get(),
        15 => ICH_LR15_EL2.get(),
        _ => 0,
    }
}

/// Writes `ICH_LR<index>_EL2`. The caller checks `index`; an index above 15 is ignored.
pub fn set_ich_lr(index: usize, value: u64) {
    match index {
        0 => ICH_LR0_EL2.set(value),
        1 => ICH_LR1_EL2.set(value),
        2 => ICH_LR2_EL2.set(value),
        3 => ICH_LR3_EL2.set(value),
        4 => ICH_LR4_EL2.set(value),
        5 => ICH_LR5_EL2.set(value),
        6 => ICH_LR6_EL2.set(value),
        7 => ICH_LR7_EL2.set(value),
        8 => ICH_LR8_EL2.set(value),
        9 => ICH_LR9_EL2.set(value),
        10 => ICH_LR10_EL2.set(value),
        11 => ICH_LR11_EL2.set(value),
        12 => ICH_LR12_EL2.set(value),
        13 => ICH_LR13_EL2.set(value),
        14 => ICH_LR14_EL2.set(value),
        15 => ICH_LR15_EL2.set(value),
        _ => {}
    }
}

/// Reads `ICH_AP0R<index>_EL2` (Group 0 active priorities); the caller checks that it exists.
pub fn ich_ap0r(index: usize) -> u32 {
    (match index {
        0 => ICH_AP0R0_EL2.get(),
        1 => ICH_AP0R1_EL2.get(),
        2 => ICH_AP0R2_EL2.get(),
        3 => ICH_AP0R3_EL2.get(),
        _ => 0,
    }) as u32
}

/// Writes `ICH_AP0R<index>_EL2`; the caller checks that it exists.
pub fn set_ich_ap0r(index: usize, value: u32) {
    let value = value as u64;
    match index {
        0 => ICH_AP0R0_EL2.set(value),
        1 => ICH_AP0R1_EL2.set(value),
        2 => ICH_AP0R2_EL2.set(value),
        3 => ICH_AP0R3_EL2.set(value),
        _ => {}
    }
}

/// Reads `ICH_AP1R<index>_EL2` (Group 1 active priorities); the caller checks that it exists.
pub fn ich_ap1r(index: usize) -> u32 {
    (match index {
        0 => ICH_AP1R0_EL2.get(),
        1 => ICH_AP1R1_EL2.get(),
        2 => ICH_AP1R2_EL2.get(),
        3 => ICH_AP1R3_EL2.get(),
        _ => 0,
    }) as u32
}

/// Writes `ICH_AP1R<index>_EL2`; the caller checks that it exists.
pub fn set_ich_ap1r(index: usize, value: u32) {
    let value = value as u64;
    match index {
        0 => ICH_AP1R0_EL2.set(value),
        1 => ICH_AP1R1_EL2.set(value),
        2 => ICH_AP1R2_EL2.set(value),
        3 => ICH_AP1R3_EL2.set(value),
        _ => {}
    }
}
