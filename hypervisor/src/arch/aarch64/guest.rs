//! Entering guests: EL2 configuration for running a vCPU, its EL1 reset state, the first
//! `eret`, and injecting aborts (the world switch's arch half).

use super::exceptions::TrapFrame;
use crate::core::trap::{external_abort, EntryFeatures, GuestState, InjectError, Injection};
use aarch64_cpu::registers::*;
use core::arch::asm;
use tock_registers::interfaces::{Readable, Writeable};

/// HCR_EL2 while a guest runs (Arm ARM D24.2.48): VM (stage 2), SWIO, FMO/IMO/AMO (physical
/// interrupts and SErrors to EL2), FB and BSU inner shareable (broadcast maintenance), TSC (SMC
/// traps: PSCI is answered here), RW (EL1 is AArch64), APK/API (no pointer-auth traps).
const HCR_GUEST: u64 = 1 | (1 << 1) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 9) | (1 << 10) | (1 << 19) | (1 << 31) | (1 << 40) | (1 << 41);
/// HCR_EL2.TWI and TWE: trap WFI and WFE (a partition's `bulkhead,trap-wfi`).
const HCR_TWI_TWE: u64 = (1 << 13) | (1 << 14);
/// CPTR_EL2 with E2H = 0: RES1 bits only, so FP/SIMD is not trapped. The hypervisor never uses
/// FP/SIMD registers (softfloat target), so a guest's stay live in the registers.
const CPTR_EL2_NO_TRAPS: u64 = 0x33ff;
/// CNTHCTL_EL2 with E2H = 0: EL1PCTEN and EL1PCEN, the guest may use the physical counter
/// and timer.
const CNTHCTL_EL2_GUEST: u64 = 0b11;

/// What a vCPU starts with.
#[derive(Clone, Copy, Debug)]
pub struct VcpuStart {
    pub pc: u64,
    pub x0: u64,
    pub spsr_el2: u64,
    pub vttbr_el2: u64,
    pub vtcr_el2: u64,
    pub vmpidr_el2: u64,
    /// The partition's counter offset: its virtual counter starts near zero at its boot.
    pub cntvoff_el2: u64,
    /// The guest has a GICv3: its ICC_* system registers are the virtual CPU interface.
    pub gic_v3: bool,
    /// WFI and WFE trap to the hypervisor.
    pub trap_wfi: bool,
}

/// Starts a vCPU on this CPU from its reset state. Never returns: later traps come back
/// through the vectors.
///
/// # Safety
/// `start.vttbr_el2` must point at a stage-2 table that maps only memory owned by this
/// vCPU's partition, built for `start.vtcr_el2`, and it must live as long as the vCPU runs.
pub unsafe fn enter(start: &VcpuStart) -> ! {
    VTCR_EL2.set(start.vtcr_el2);
    VTTBR_EL2.set(start.vttbr_el2);
    // SAFETY: VPIDR_EL2 only changes what the guest reads as MIDR_EL1 (aarch64-cpu has no
    // accessor for it).
    unsafe { asm!("msr vpidr_el2, {}", in(reg) MIDR_EL1.get(), options(nostack, preserves_flags)) };
    VMPIDR_EL2.set(start.vmpidr_el2);
    CPTR_EL2.set(CPTR_EL2_NO_TRAPS);
    CNTHCTL_EL2.set(CNTHCTL_EL2_GUEST);
    CNTVOFF_EL2.set(start.cntvoff_el2);
    super::vcpu_context::El1Context::RESET.restore();
    if start.gic_v3 {
        // SAFETY: ICC_SRE_EL1 only selects the guest's system-register GIC interface (SRE, and
        // FIQ/IRQ bypass disabled); the hypervisor uses ICC_SRE_EL2.
        unsafe { asm!("msr S3_0_C12_C12_5, {}", in(reg) 0b111u64, options(nostack, preserves_flags)) };
    }
    HCR_EL2.set(if start.trap_wfi { HCR_GUEST | HCR_TWI_TWE } else { HCR_GUEST });
    // SAFETY: TLB maintenance for the new VMID on this CPU; no memory-safety effect.
    unsafe { asm!("isb", "tlbi vmalls12e1", "dsb nsh", "isb", options(nostack, preserves_flags)) };

    let top = super::entry::cpu_stack_top(super::cpu::index());
    let frame = (top - core::mem::size_of::<TrapFrame>() as u64) as *mut TrapFrame;
    // SAFETY: the frame is at the top of this CPU's own stack, below everything live: what is
    // above the current SP is dead once we jump away, and `exception_return` consumes it.
    unsafe {
        frame.write(TrapFrame::for_entry(start.pc, start.spsr_el2, start.x0));
        asm!("mov sp, {frame}", "b exception_return", frame = in(reg) frame, options(noreturn));
    }
}

/// Makes the guest take a synchronous external abort for the access that trapped: sets its
/// EL1 exception registers and points the frame at its vector (Arm ARM D1.10).
pub fn inject_external_abort(frame: &mut TrapFrame, trapped_esr: u64, far: u64) -> Result<Injection, InjectError> {
    let guest = GuestState { pstate: frame.spsr, pc: frame.elr, far, vbar_el1: VBAR_EL1.get(), sctlr_el1: SCTLR_EL1.get() };
    let features = EntryFeatures { pan: ID_AA64MMFR1_EL1.read(ID_AA64MMFR1_EL1::PAN) != 0, ssbs: false };
    let injection = external_abort(guest, crate::core::trap::Syndrome(trapped_esr), features)?;
    ESR_EL1.set(injection.esr_el1);
    FAR_EL1.set(injection.far_el1);
    ELR_EL1.set(injection.elr_el1);
    SPSR_EL1.set(injection.spsr_el1);
    frame.elr = injection.pc;
    frame.spsr = injection.pstate;
    Ok(injection)
}

/// ELR_EL2: where the guest resumes after the exception being handled.
pub fn elr_el2() -> u64 {
    ELR_EL2.get()
}

/// HPFAR_EL2: the faulting IPA's page of a stage-2 abort.
pub fn hpfar_el2() -> u64 {
    HPFAR_EL2.get()
}

/// Stage-2 parameters this CPU supports, for `Stage2Config::from_id_aa64mmfr0_el1`.
pub fn id_aa64mmfr0_el1() -> u64 {
    ID_AA64MMFR0_EL1.get()
}
