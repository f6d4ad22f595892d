//! The world switch: runs a vCPU on this CPU until its next exit (`vectors.s` saves its
//! general registers and returns here), and moves the rest of its registers (EL1, FP/SIMD,
//! the GIC virtual CPU interface's VMCR and active priorities) in and out of the CPU when the
//! vCPU arrives or leaves.

use core::arch::global_asm;

use aarch64_cpu::registers::{ESR_EL2, FAR_EL2, HPFAR_EL2};
use tock_registers::interfaces::Readable;

use super::context::{ExitVector, FpRegisters, GuestRegisters, FP_REGISTERS_FPCR};

/// Why the guest stopped running, read right after the exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestExit {
    /// The vector the exception came through.
    pub vector: ExitVector,
    /// `ESR_EL2` (meaningful for synchronous exits and SErrors).
    pub esr: u64,
    /// `FAR_EL2`.
    pub far: u64,
    /// `HPFAR_EL2`.
    pub hpfar: u64,
}

unsafe extern "C" {
    fn bulkhead_vcpu_run(regs: *mut GuestRegisters) -> u64;
    fn bulkhead_fp_save(fp: *mut FpRegisters);
    fn bulkhead_fp_restore(fp: *const FpRegisters);
}

/// Runs the guest from `regs` until its next exception to EL2, and returns why it stopped,
/// with `regs` holding its general registers, PC and PSTATE at that point.
///
/// # Safety
/// This CPU's EL2 guest configuration (`guest::configure`) must be for the vCPU whose
/// registers these are: a stage 2 that maps only its partition's memory, HCR_EL2 routing its
/// exceptions and interrupts here, and its EL1 state loaded. `regs.pstate` must name EL1 or
/// EL0 in AArch64 state (an exception return to EL2 would run guest-chosen code at EL2).
pub unsafe fn run(regs: &mut GuestRegisters) -> GuestExit {
    // SAFETY: the caller vouches for the configuration; the assembly saves and restores every
    // callee-saved register and SP, and writes only `regs`, which it is given exclusively.
    let index = unsafe { bulkhead_vcpu_run(regs) };
    GuestExit {
        vector: ExitVector::from_index(index),
        esr: ESR_EL2.get(),
        far: FAR_EL2.get(),
        hpfar: HPFAR_EL2.get(),
    }
}

/// Saves this CPU's FP/SIMD registers (the vCPU's that ran here).
pub fn save_fp(fp: &mut FpRegisters) {
    // SAFETY: the routine stores exactly the 528 bytes of `FpRegisters` (alignment 16) and
    // changes only x1 to x3, which the call clobbers anyway (the hypervisor has no FP code).
    unsafe { bulkhead_fp_save(fp) }
}

/// Loads a vCPU's FP/SIMD registers into this CPU.
pub fn restore_fp(fp: &FpRegisters) {
    // SAFETY: the routine reads `FpRegisters` and writes only FP/SIMD registers, FPCR and
    // FPSR, none of which hypervisor code uses.
    unsafe { bulkhead_fp_restore(fp) }
}

global_asm!(
    ".arch_extension fp",
    ".arch_extension simd",
    ".global bulkhead_fp_save",
    "bulkhead_fp_save:",
    "    stp q0, q1, [x0, #0]",
    "    stp q2, q3, [x0, #32]",
    "    stp q4, q5, [x0, #64]",
    "    stp q6, q7, [x0, #96]",
    "    stp q8, q9, [x0, #128]",
    "    stp q10, q11, [x0, #160]",
    "    stp q12, q13, [x0, #192]",
    "    stp q14, q15, [x0, #224]",
    "    stp q16, q17, [x0, #256]",
    "    stp q18, q19, [x0, #288]",
    "    stp q20, q21, [x0, #320]",
    "    stp q22, q23, [x0, #352]",
    "    stp q24, q25, [x0, #384]",
    "    stp q26, q27, [x0, #416]",
    "    stp q28, q29, [x0, #448]",
    "    stp q30, q31, [x0, #480]",
    "    mrs x1, fpcr",
    "    mrs x2, fpsr",
    "    add x3, x0, #{fpcr}",
    "    stp x1, x2, [x3]",
    "    ret",
    ".global bulkhead_fp_restore",
    "bulkhead_fp_restore:",
    "    ldp q0, q1, [x0, #0]",
    "    ldp q2, q3, [x0, #32]",
    "    ldp q4, q5, [x0, #64]",
    "    ldp q6, q7, [x0, #96]",
    "    ldp q8, q9, [x0, #128]",
    "    ldp q10, q11, [x0, #160]",
    "    ldp q12, q13, [x0, #192]",
    "    ldp q14, q15, [x0, #224]",
    "    ldp q16, q17, [x0, #256]",
    "    ldp q18, q19, [x0, #288]",
    "    ldp q20, q21, [x0, #320]",
    "    ldp q22, q23, [x0, #352]",
    "    ldp q24, q25, [x0, #384]",
    "    ldp q26, q27, [x0, #416]",
    "    ldp q28, q29, [x0, #448]",
    "    ldp q30, q31, [x0, #480]",
    "    add x3, x0, #{fpcr}",
    "    ldp x1, x2, [x3]",
    "    msr fpcr, x1",
    "    msr fpsr, x2",
    "    ret",
    fpcr = const FP_REGISTERS_FPCR,
);
