//! Timed operations for the bench guest. Each is one `asm!` block that reads the virtual
//! counter, does the operation and reads the counter again, every read preceded by an ISB
//! (Arm ARM D12.1.2: without it the counter read may be taken early or late), so nothing the
//! compiler schedules lands inside the bracket.
//!
//! Inside the bracket, the operation sits between two markers, `hint #0x7f` (0xd5032fff): a
//! hint with no architectural effect (a NOP on any CPU and hypervisor), at which a QEMU TCG
//! plugin (`xtask/plugin/insn_marks.c`) counts what this CPU executed from the first marker
//! to the second: one sample in instructions, beside the one in ticks.

use core::arch::asm;

use crate::psci::Conduit;

/// One marker: starts or ends a sample the plugin counts (markers pair up on each CPU).
pub fn mark() {
    // SAFETY: an unallocated hint executes as a NOP (Arm ARM, A64 HINT instruction) and
    // touches no memory or register.
    unsafe { asm!("hint #0x7f", options(nomem, nostack, preserves_flags)) };
}

/// Ticks between two back-to-back bracketed counter reads: the cost of the bracket itself.
pub fn empty() -> u64 {
    let (start, end): (u64, u64);
    // SAFETY: reading the virtual counter has no side effects.
    unsafe {
        asm!("isb", "mrs {start}, cntvct_el0", "hint #0x7f", "hint #0x7f", "isb", "mrs {end}, cntvct_el0",
            start = out(reg) start, end = out(reg) end, options(nomem, nostack, preserves_flags))
    };
    end.wrapping_sub(start)
}

/// An SMC Calling Convention call with no arguments over `conduit` (immediate 0): the ticks
/// it took and what it returned in x0.
pub fn smccc_call(conduit: Conduit, function: u32) -> (u64, u64) {
    let (start, end): (u64, u64);
    let mut x0 = u64::from(function);
    match conduit {
        // SAFETY: the caller makes a call that changes no memory of the guest (a query such as
        // PSCI_VERSION); SMCCC 1.0 lets the callee change x0-x17, declared as outputs.
        Conduit::Hvc => unsafe {
            asm!("isb", "mrs {start}, cntvct_el0", "hint #0x7f", "hvc #0", "hint #0x7f", "isb",
                "mrs {end}, cntvct_el0",
                start = out(reg) start, end = out(reg) end, inout("x0") x0,
                out("x1") _, out("x2") _, out("x3") _, out("x4") _, out("x5") _, out("x6") _,
                out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
                out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _,
                out("x17") _, options(nostack))
        },
        // SAFETY: as for HVC.
        Conduit::Smc => unsafe {
            asm!("isb", "mrs {start}, cntvct_el0", "hint #0x7f", "smc #0", "hint #0x7f", "isb",
                "mrs {end}, cntvct_el0",
                start = out(reg) start, end = out(reg) end, inout("x0") x0,
                out("x1") _, out("x2") _, out("x3") _, out("x4") _, out("x5") _, out("x6") _,
                out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
                out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _,
                out("x17") _, options(nostack))
        },
    }
    (end.wrapping_sub(start), x0)
}

/// A Xen hypercall (`hvc #0xea1`, number in x16, arguments in x0 and x1): the ticks it took
/// and what it returned in x0.
///
/// # Safety
/// The hypercall must not write guest memory the compiler relies on: `arg1` must be 0 or
/// point at memory the caller gives up for the call (`xen_version` with `XENVER_version`
/// takes no buffer).
pub unsafe fn xen_hypercall(number: u64, arg0: u64, arg1: u64) -> (u64, u64) {
    let (start, end): (u64, u64);
    let mut x0 = arg0;
    // SAFETY: the caller vouches for the hypercall's memory effects; x0-x17 are declared
    // clobbered, as a debug Xen overwrites the argument registers and x16.
    unsafe {
        asm!("isb", "mrs {start}, cntvct_el0", "hint #0x7f", "hvc #0xea1", "hint #0x7f", "isb",
                "mrs {end}, cntvct_el0",
            start = out(reg) start, end = out(reg) end, inout("x0") x0,
            inout("x1") arg1 => _, inout("x16") number => _,
            out("x2") _, out("x3") _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
            out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _,
            out("x14") _, out("x15") _, out("x17") _, options(nostack))
    };
    (end.wrapping_sub(start), x0)
}

/// A Xen hypercall with three arguments (x0 to x2; number in x16): the ticks it took and what
/// it returned in x0.
///
/// # Safety
/// As for [`xen_hypercall`]: the hypercall may write only memory the caller gives up for it.
pub unsafe fn xen_hypercall3(number: u64, arg0: u64, arg1: u64, arg2: u64) -> (u64, u64) {
    let (start, end): (u64, u64);
    let mut x0 = arg0;
    // SAFETY: as in `xen_hypercall`.
    unsafe {
        asm!("isb", "mrs {start}, cntvct_el0", "hint #0x7f", "hvc #0xea1", "hint #0x7f", "isb",
                "mrs {end}, cntvct_el0",
            start = out(reg) start, end = out(reg) end, inout("x0") x0,
            inout("x1") arg1 => _, inout("x2") arg2 => _, inout("x16") number => _,
            out("x3") _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
            out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _,
            out("x14") _, out("x15") _, out("x17") _, options(nostack))
    };
    (end.wrapping_sub(start), x0)
}

/// `GNTTABOP_map_grant_ref` of the one request at `map`, then `GNTTABOP_unmap_grant_ref` of
/// the one at `unmap` with the handle the map returned (copied between the two calls, inside
/// the bracket: two instructions): the ticks both took and what each returned in x0.
///
/// # Safety
/// `map` must be a `gnttab_map_grant_ref` and `unmap` a `gnttab_unmap_grant_ref` the caller
/// gives up for the calls, and the page the map names must be one the guest does not use.
pub unsafe fn xen_grant_map_unmap(map: u64, unmap: u64) -> (u64, u64, u64) {
    let (start, end, mapped, unmapped): (u64, u64, u64, u64);
    // SAFETY: the caller vouches for both requests; the handle moves from the map's answer
    // (offset 20) to the unmap's request (offset 16) inside the memory it gave up. x0-x17
    // are declared clobbered; x20, x21 and x23 are preserved by the hypercalls (Xen's arm64
    // ABI keeps x19 and up).
    unsafe {
        asm!("isb", "mrs {start}, cntvct_el0", "hint #0x7f",
                "mov x16, #20", "mov x0, #0", "mov x1, x20", "mov x2, #1", "hvc #0xea1",
                "mov x23, x0", "ldr w9, [x20, #20]", "str w9, [x21, #16]",
                "mov x16, #20", "mov x0, #1", "mov x1, x21", "mov x2, #1", "hvc #0xea1",
                "hint #0x7f", "isb", "mrs {end}, cntvct_el0",
            start = out(reg) start, end = out(reg) end,
            in("x20") map, in("x21") unmap, out("x23") mapped, out("x0") unmapped,
            out("x1") _, out("x2") _, out("x3") _, out("x4") _, out("x5") _, out("x6") _,
            out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
            out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _, options(nostack))
    };
    (end.wrapping_sub(start), mapped, unmapped)
}

/// A 32-bit read of the register at `address`: the ticks it took and the value.
///
/// # Safety
/// `address` must be a 4-byte aligned register of one of the guest's devices, mapped as
/// Device memory, whose read has no side effect the guest relies on (a UART's flag register).
pub unsafe fn mmio_read32(address: usize) -> (u64, u32) {
    let (start, end): (u64, u64);
    let value: u32;
    // SAFETY: the caller vouches for the address; the load is the only memory access.
    unsafe {
        asm!("isb", "mrs {start}, cntvct_el0", "hint #0x7f", "ldr {value:w}, [{address}]",
            "hint #0x7f", "isb", "mrs {end}, cntvct_el0", start = out(reg) start, end = out(reg) end,
            value = out(reg) value, address = in(reg) address, options(nostack, readonly))
    };
    (end.wrapping_sub(start), value)
}

/// Waits for an interrupt with PSTATE.I masked (a pending interrupt ends the wait without
/// being taken) and returns the virtual counter right after the wake-up.
pub fn wait_for_interrupt_then_count() -> u64 {
    let count: u64;
    // SAFETY: masking IRQs, waiting and reading the counter only affect this CPU.
    unsafe {
        asm!("msr daifset, #2", "dsb sy", "wfi", "isb", "mrs {}, cntvct_el0", out(reg) count,
            options(nomem, nostack, preserves_flags))
    };
    count
}

/// The physical counter (CNTPCT_EL0). Under QEMU it counts from 0 at the machine's reset.
pub fn physical_count() -> u64 {
    let value: u64;
    // SAFETY: reading the physical counter has no side effects; both hypervisors the bench
    // runs on let EL1 read it (CNTHCTL_EL2.EL1PCTEN).
    unsafe { asm!("isb", "mrs {}, cntpct_el0", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

/// The counter frequency in Hz (CNTFRQ_EL0).
pub fn counter_frequency() -> u64 {
    let value: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effects.
    unsafe { asm!("mrs {}, cntfrq_el0", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}
