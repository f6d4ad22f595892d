//! Xen hypercalls from the guest: `hvc #0xea1`, the number in x16, arguments in x0-x4, the
//! result in x0 (Xen's arm64 ABI, `xen/include/public/arch-arm.h`).

use core::arch::asm;

/// Makes hypercall `number` with `args`; returns x0 as a signed value.
///
/// # Safety
/// The hypervisor may write guest memory the arguments point at: every pointer among them
/// must be 0, point at memory the caller gives up for the call, or be an address the caller
/// expects to fault (nothing is written there).
pub unsafe fn hypercall(number: u64, args: [u64; 5]) -> i64 {
    let mut x0 = args[0];
    // SAFETY: the caller vouches for the call's memory effects; x1-x17 are declared clobbered
    // (a debug Xen overwrites the argument registers and x16).
    unsafe {
        asm!("hvc #0xea1", inout("x0") x0, inout("x1") args[1] => _, inout("x2") args[2] => _,
            inout("x3") args[3] => _, inout("x4") args[4] => _, inout("x16") number => _,
            out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _, out("x10") _,
            out("x11") _, out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x17") _,
            options(nostack))
    };
    x0 as i64
}

/// `SCHEDOP_block`: waits until an interrupt is pending for this vCPU, and returns with IRQs
/// still masked (Xen unmasks them for the guest on return; the boot code's IRQ vector masks
/// them again at the return point and leaves the interrupt pending). Call it with IRQs
/// masked and an interrupt that will become pending enabled at the GIC.
pub fn block() -> i64 {
    let x0: u64;
    // SAFETY: SCHEDOP_block takes no buffer and writes no guest memory; the routine and the
    // IRQ vector change only the registers declared here.
    unsafe {
        asm!("bl test_guest_xen_block", out("x0") x0, out("x1") _, out("x2") _, out("x3") _,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
            out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _, out("x15") _,
            out("x16") _, out("x17") _, out("x30") _, options(nostack))
    };
    x0 as i64
}
