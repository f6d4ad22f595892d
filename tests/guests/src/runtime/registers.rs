//! Register round trips through hypervisor traps: fill general and FP/SIMD registers with a
//! pattern, trap many times, and read them back (the `regs` guest compares).

use core::arch::{asm, global_asm};

/// General registers the round trip carries: x4 to x17 and x19 to x28 (x0 to x3 carry the
/// calls, x18 is the platform register, x29 and x30 the frame).
pub const GENERAL: usize = 24;

/// FP/SIMD state in the layout the routine uses: `V0`..`V31`, then FPCR and FPSR.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FpState {
    pub v: [u128; 32],
    pub fpcr: u64,
    pub fpsr: u64,
}

unsafe extern "C" {
    fn test_guest_trap_round_trip(general_in: *const u64, general_out: *mut u64, fp_in: *const FpState, fp_out: *mut FpState, traps: u64, hvc: u64);
}

/// Loads the registers from `general_in` and `fp_in`, makes `traps` PSCI_VERSION calls (over
/// HVC, or SMC when `hvc` is false) and stores the registers to the outputs.
pub fn trap_round_trip(general_in: &[u64; GENERAL], general_out: &mut [u64; GENERAL], fp_in: &FpState, fp_out: &mut FpState, traps: u64, hvc: bool) {
    // SAFETY: the routine reads and writes only the four buffers, which are exclusively
    // borrowed or shared as their types say; it saves and restores the callee-saved registers
    // it uses, and the FP/SIMD registers belong to no Rust code (softfloat target).
    unsafe { test_guest_trap_round_trip(general_in.as_ptr(), general_out.as_mut_ptr(), fp_in, fp_out, traps, u64::from(hvc)) }
}

/// Lets EL1 and EL0 use FP/SIMD (CPACR_EL1.FPEN = 0b11).
pub fn enable_fp() {
    // SAFETY: CPACR_EL1.FPEN only stops FP/SIMD instructions from trapping to EL1.
    unsafe {
        asm!("mrs {t}, cpacr_el1", "orr {t}, {t}, #(3 << 20)", "msr cpacr_el1, {t}", "isb",
            t = out(reg) _, options(nostack, preserves_flags))
    };
}

/// The EL1 and EL0 system registers the round trip also checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemRegisters {
    pub tpidr_el0: u64,
    pub tpidrro_el0: u64,
    pub tpidr_el1: u64,
    pub contextidr_el1: u64,
    pub sp_el0: u64,
    pub cntv_cval_el0: u64,
}

/// Writes the registers.
pub fn set_system_registers(r: &SystemRegisters) {
    // SAFETY: these registers hold thread IDs, a context ID, the unused EL0 stack pointer and
    // a compare value of a disabled timer: nothing in this guest depends on them.
    unsafe {
        asm!("msr tpidr_el0, {}", "msr tpidrro_el0, {}", "msr tpidr_el1, {}", "msr contextidr_el1, {}",
            "msr sp_el0, {}", "msr cntv_cval_el0, {}", "isb",
            in(reg) r.tpidr_el0, in(reg) r.tpidrro_el0, in(reg) r.tpidr_el1, in(reg) r.contextidr_el1,
            in(reg) r.sp_el0, in(reg) r.cntv_cval_el0, options(nostack, preserves_flags))
    };
}

/// Reads the registers.
pub fn system_registers() -> SystemRegisters {
    let (a, b, c, d, e, f): (u64, u64, u64, u64, u64, u64);
    // SAFETY: reading these registers has no side effects.
    unsafe {
        asm!("mrs {}, tpidr_el0", "mrs {}, tpidrro_el0", "mrs {}, tpidr_el1", "mrs {}, contextidr_el1",
            "mrs {}, sp_el0", "mrs {}, cntv_cval_el0",
            out(reg) a, out(reg) b, out(reg) c, out(reg) d, out(reg) e, out(reg) f, options(nomem, nostack, preserves_flags))
    };
    SystemRegisters { tpidr_el0: a, tpidrro_el0: b, tpidr_el1: c, contextidr_el1: d, sp_el0: e, cntv_cval_el0: f }
}

// Module-level assembly goes on in whatever section the assembly before it left open (the
// boot code's ends in the stacks' NOLOAD section): name the section.
global_asm!(
    ".section .text.test_guest_trap_round_trip, \"ax\"",
    ".arch_extension fp",
    ".arch_extension simd",
    ".global test_guest_trap_round_trip",
    "test_guest_trap_round_trip:",
    "    stp x29, x30, [sp, #-96]!",
    "    stp x19, x20, [sp, #16]",
    "    stp x21, x22, [sp, #32]",
    "    stp x23, x24, [sp, #48]",
    "    stp x25, x26, [sp, #64]",
    "    stp x27, x28, [sp, #80]",
    "    sub sp, sp, #32",
    "    stp x1, x3, [sp, #0]",
    "    stp x4, x5, [sp, #16]",
    "    ldp q0, q1, [x2, #0]",
    "    ldp q2, q3, [x2, #32]",
    "    ldp q4, q5, [x2, #64]",
    "    ldp q6, q7, [x2, #96]",
    "    ldp q8, q9, [x2, #128]",
    "    ldp q10, q11, [x2, #160]",
    "    ldp q12, q13, [x2, #192]",
    "    ldp q14, q15, [x2, #224]",
    "    ldp q16, q17, [x2, #256]",
    "    ldp q18, q19, [x2, #288]",
    "    ldp q20, q21, [x2, #320]",
    "    ldp q22, q23, [x2, #352]",
    "    ldp q24, q25, [x2, #384]",
    "    ldp q26, q27, [x2, #416]",
    "    ldp q28, q29, [x2, #448]",
    "    ldp q30, q31, [x2, #480]",
    "    add x2, x2, #512",
    "    ldp x1, x3, [x2]",
    "    msr fpcr, x1",
    "    msr fpsr, x3",
    "    ldp x19, x20, [x0, #112]",
    "    ldp x21, x22, [x0, #128]",
    "    ldp x23, x24, [x0, #144]",
    "    ldp x25, x26, [x0, #160]",
    "    ldp x27, x28, [x0, #176]",
    "    ldp x4, x5, [x0, #0]",
    "    ldp x6, x7, [x0, #16]",
    "    ldp x8, x9, [x0, #32]",
    "    ldp x10, x11, [x0, #48]",
    "    ldp x12, x13, [x0, #64]",
    "    ldp x14, x15, [x0, #80]",
    "    ldp x16, x17, [x0, #96]",
    "1:  ldr x1, [sp, #16]",
    "    cbz x1, 3f",
    "    sub x1, x1, #1",
    "    str x1, [sp, #16]",
    "    ldr x1, [sp, #24]",
    "    movz x0, #0x8400, lsl #16",
    "    cbz x1, 2f",
    "    hvc #0",
    "    b 1b",
    "2:  smc #0",
    "    b 1b",
    "3:  ldp x0, x1, [sp, #0]",
    "    stp x4, x5, [x0, #0]",
    "    stp x6, x7, [x0, #16]",
    "    stp x8, x9, [x0, #32]",
    "    stp x10, x11, [x0, #48]",
    "    stp x12, x13, [x0, #64]",
    "    stp x14, x15, [x0, #80]",
    "    stp x16, x17, [x0, #96]",
    "    stp x19, x20, [x0, #112]",
    "    stp x21, x22, [x0, #128]",
    "    stp x23, x24, [x0, #144]",
    "    stp x25, x26, [x0, #160]",
    "    stp x27, x28, [x0, #176]",
    "    stp q0, q1, [x1, #0]",
    "    stp q2, q3, [x1, #32]",
    "    stp q4, q5, [x1, #64]",
    "    stp q6, q7, [x1, #96]",
    "    stp q8, q9, [x1, #128]",
    "    stp q10, q11, [x1, #160]",
    "    stp q12, q13, [x1, #192]",
    "    stp q14, q15, [x1, #224]",
    "    stp q16, q17, [x1, #256]",
    "    stp q18, q19, [x1, #288]",
    "    stp q20, q21, [x1, #320]",
    "    stp q22, q23, [x1, #352]",
    "    stp q24, q25, [x1, #384]",
    "    stp q26, q27, [x1, #416]",
    "    stp q28, q29, [x1, #448]",
    "    stp q30, q31, [x1, #480]",
    "    add x1, x1, #512",
    "    mrs x2, fpcr",
    "    mrs x3, fpsr",
    "    stp x2, x3, [x1]",
    "    add sp, sp, #32",
    "    ldp x19, x20, [sp, #16]",
    "    ldp x21, x22, [sp, #32]",
    "    ldp x23, x24, [sp, #48]",
    "    ldp x25, x26, [sp, #64]",
    "    ldp x27, x28, [sp, #80]",
    "    ldp x29, x30, [sp], #96",
    "    ret",
);
