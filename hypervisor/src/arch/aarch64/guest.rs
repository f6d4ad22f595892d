//! A vCPU's EL2 configuration on this CPU (stage 2, traps, the identity it reads, its counter
//! offset) and the EL1 exception registers an injected exception writes.

use aarch64_cpu::registers::*;
use core::arch::asm;
use tock_registers::interfaces::{Readable, Writeable};

/// HCR_EL2 while a guest runs (Arm ARM, HCR_EL2): VM (stage 2), SWIO, FMO/IMO/AMO (physical
/// interrupts and SErrors to EL2), FB and BSU inner shareable (broadcast maintenance), TSC (SMC
/// traps: PSCI is answered here), RW (EL1 is AArch64), APK/API (no pointer-auth traps).
const HCR_GUEST: u64 = 1 | (1 << 1) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 9) | (1 << 10) | (1 << 19) | (1 << 31) | (1 << 40) | (1 << 41);
/// HCR_EL2.IMO: physical IRQs (Group 1) to EL2. Clear for a direct-delivery partition, whose
/// Group 1 interrupts are taken at its EL1 while Group 0 (FMO) stays EL2's.
const HCR_IMO: u64 = 1 << 4;
/// HCR_EL2.TWI and TWE: trap WFI and WFE (a partition's `bulkhead,trap-wfi`).
const HCR_TWI_TWE: u64 = HCR_TWI | (1 << 14);
/// HCR_EL2.TWI: a guest's WFI traps to EL2 (Arm ARM, HCR_EL2).
const HCR_TWI: u64 = 1 << 13;
/// CPTR_EL2 with E2H = 0: RES1 bits only, so FP/SIMD is not trapped. The hypervisor's code
/// uses no FP/SIMD registers (softfloat target), so a guest's stay live in the registers; only
/// the Non-cacheable scrub (`cpu::zero_uncached`) uses four, which it saves and restores.
const CPTR_EL2_NO_TRAPS: u64 = 0x33ff;

/// Lets this CPU use FP/SIMD at EL2 (CPTR_EL2.TFP, whose value at reset is unknown), for the
/// Non-cacheable scrub before any vCPU has run here; the same value every vCPU runs with.
pub fn untrap_fp_simd() {
    CPTR_EL2.set(CPTR_EL2_NO_TRAPS);
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("isb", options(nostack, preserves_flags)) };
}
/// CNTHCTL_EL2 with E2H = 0: EL1PCTEN (the guest may read the physical counter) without
/// EL1PCEN, so the EL1 physical timer's registers trap: guests get the virtual timer, and the
/// hypervisor answers CNTP_* accesses (they read as zero).
const CNTHCTL_EL2_GUEST: u64 = 0b01;

/// How this CPU must be configured at EL2 to run one vCPU.
#[derive(Clone, Copy, Debug)]
pub struct VcpuConfig {
    pub vttbr_el2: u64,
    pub vtcr_el2: u64,
    pub vmpidr_el2: u64,
    /// The partition's counter offset: its virtual counter starts near zero at its boot.
    pub cntvoff_el2: u64,
    /// The guest has a GICv3: its ICC_* system registers are the virtual CPU interface.
    pub gic_v3: bool,
    /// WFI and WFE trap to the hypervisor.
    pub trap_wfi: bool,
    /// The guest takes Group 1 interrupts from the physical GIC itself (HCR_EL2.IMO clear).
    pub direct_irqs: bool,
}

/// Configures this CPU's EL2 for a vCPU that arrives on it: stage 2, traps, the identity the
/// guest reads, its counter offset, and a TLB clean for the VMID.
///
/// # Safety
/// `config.vttbr_el2` must point at a stage-2 table that maps only memory owned by this
/// vCPU's partition, built for `config.vtcr_el2`, and it must live as long as the vCPU runs.
pub unsafe fn configure(config: &VcpuConfig) {
    VTCR_EL2.set(config.vtcr_el2);
    VTTBR_EL2.set(config.vttbr_el2);
    // SAFETY: VPIDR_EL2 only changes what the guest reads as MIDR_EL1 (aarch64-cpu has no
    // accessor for it).
    unsafe { asm!("msr vpidr_el2, {}", in(reg) MIDR_EL1.get(), options(nostack, preserves_flags)) };
    VMPIDR_EL2.set(config.vmpidr_el2);
    CPTR_EL2.set(CPTR_EL2_NO_TRAPS);
    CNTHCTL_EL2.set(CNTHCTL_EL2_GUEST);
    CNTVOFF_EL2.set(config.cntvoff_el2);
    if config.gic_v3 {
        // SAFETY: ICC_SRE_EL1 only selects the guest's system-register GIC interface (SRE, and
        // FIQ/IRQ bypass disabled); the hypervisor uses ICC_SRE_EL2.
        unsafe { asm!("msr S3_0_C12_C12_5, {}", in(reg) 0b111u64, options(nostack, preserves_flags)) };
    }
    let hcr = if config.trap_wfi { HCR_GUEST | HCR_TWI_TWE } else { HCR_GUEST };
    HCR_EL2.set(if config.direct_irqs { hcr & !HCR_IMO } else { hcr });
    // SAFETY: TLB maintenance for the new VMID on this CPU; no memory-safety effect.
    unsafe { asm!("isb", "tlbi vmalls12e1", "dsb nsh", "isb", options(nostack, preserves_flags)) };
}

/// Sets whether the guest's WFI traps (HCR_EL2.TWI) from its next entry, leaving every other
/// trap as `configure` set it (the `eret` that enters the guest synchronizes the change).
///
/// # Safety
/// This CPU must be configured for a vCPU (`configure`); only the WFI trap changes.
pub unsafe fn set_trap_wfi(trap: bool) {
    let hcr = HCR_EL2.get();
    HCR_EL2.set(if trap { hcr | HCR_TWI } else { hcr & !HCR_TWI });
}

/// What an injected exception needs to know of the guest's EL1 state.
#[derive(Clone, Copy, Debug)]
pub struct El1ExceptionContext {
    pub vbar_el1: u64,
    pub sctlr_el1: u64,
    /// FEAT_PAN is implemented (ID_AA64MMFR1_EL1.PAN).
    pub pan: bool,
}

/// The running vCPU's EL1 state an injected exception depends on.
pub fn el1_exception_context() -> El1ExceptionContext {
    El1ExceptionContext {
        vbar_el1: VBAR_EL1.get(),
        sctlr_el1: SCTLR_EL1.get(),
        pan: ID_AA64MMFR1_EL1.read(ID_AA64MMFR1_EL1::PAN) != 0,
    }
}

/// Writes the running vCPU's EL1 exception registers for an exception the hypervisor injects
/// (the caller points the guest's PC and PSTATE at the vector).
pub fn set_el1_exception(esr_el1: u64, far_el1: u64, elr_el1: u64, spsr_el1: u64) {
    ESR_EL1.set(esr_el1);
    FAR_EL1.set(far_el1);
    ELR_EL1.set(elr_el1);
    SPSR_EL1.set(spsr_el1);
}

/// Stage-2 parameters this CPU supports, for `Stage2Config::from_id_aa64mmfr0_el1`.
pub fn id_aa64mmfr0_el1() -> u64 {
    ID_AA64MMFR0_EL1.get()
}
