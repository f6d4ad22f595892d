//! Fatal errors of the hypervisor itself: a full report on the console, then power-off.

use super::esr::Esr;
use super::exceptions::{Kind, TrapFrame, Vector};
use super::{cpu, entry, power, uart};
use core::arch::asm;
use core::fmt::Write;

/// Prints one line of a fatal report on the console, whoever holds it.
macro_rules! emergency_println {
    ($($arg:tt)*) => {{
        let mut line = heapless::String::<256>::new();
        let _ = write!(line, $($arg)*);
        uart::emergency_write(&line);
        uart::emergency_write("\n");
    }};
}

/// Reports an exception the hypervisor did not expect, and stops.
pub fn exception_report(vector: Vector, esr: Esr, far: u64, sp: u64, frame: &TrapFrame) -> ! {
    let (what, kind) = match vector {
        Vector::CurrentSp0(k) | Vector::CurrentSpx(k) => ("at EL2", k),
        Vector::LowerAarch64(k) => ("from a lower exception level (AArch64)", k),
        Vector::LowerAarch32(k) => ("from a lower exception level (AArch32)", k),
    };
    let kind = match kind {
        Kind::Synchronous => "synchronous exception",
        Kind::Irq => "IRQ",
        Kind::Fiq => "FIQ",
        Kind::SError => "SError",
    };
    let image = entry::image_layout().start;
    emergency_println!("bulkhead: FATAL: {kind} {what} on cpu {}", cpu::index());
    let at_el2 = matches!(vector, Vector::CurrentSp0(_) | Vector::CurrentSpx(_));
    if let Some((slot, fault_stack)) = entry::guard_page_of(far).filter(|_| at_el2) {
        emergency_println!(
            "bulkhead: FATAL: EL2 stack overflow: {far:#x} is the guard page below {} stack slot {slot} (SP {sp:#x})",
            if fault_stack { "fault" } else { "cpu" }
        );
    }
    emergency_println!("  ESR_EL2  {esr}");
    emergency_println!("  FAR_EL2  {far:#018x}");
    emergency_println!("  ELR_EL2  {:#018x} (image offset {:#x})", frame.elr, frame.elr.wrapping_sub(image));
    emergency_println!("  SPSR_EL2 {:#010x}", frame.spsr);
    emergency_println!("  SP       {sp:#018x}");
    for row in 0..8 {
        let mut line = heapless::String::<128>::new();
        for i in row * 4..(row * 4 + 4).min(31) {
            let _ = core::fmt::write(&mut line, format_args!(" x{i:<2} {:#018x}", frame.x[i]));
        }
        emergency_println!(" {line}");
    }
    backtrace(frame.x[29], frame.x[30]);
    stop()
}

/// Reports a panic of the hypervisor, and stops.
pub fn panic_report(info: &core::panic::PanicInfo) -> ! {
    emergency_println!("bulkhead: FATAL: panic on cpu {}: {info}", cpu::index());
    let fp: u64;
    // SAFETY: reading the frame pointer register has no side effects.
    unsafe { asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags)) };
    backtrace(fp, 0);
    stop()
}

/// Prints the return addresses of the frame-record chain (AAPCS64 frame records: [fp] is the
/// caller's fp, [fp + 8] the return address), as offsets in the image for `addr2line`.
fn backtrace(mut fp: u64, lr: u64) {
    let image = entry::image_layout().start;
    emergency_println!("  backtrace (image offsets):");
    if lr != 0 {
        emergency_println!("    {:#x}", lr.wrapping_sub(image));
    }
    for _ in 0..32 {
        if !entry::in_stacks(fp, 16) || !fp.is_multiple_of(16) {
            break;
        }
        // SAFETY: `fp` is 16-byte aligned and inside one stack, outside its guard page: mapped
        // read-write.
        let (next, ret) = unsafe { (*(fp as *const u64), *((fp + 8) as *const u64)) };
        if ret == 0 {
            break;
        }
        emergency_println!("    {:#x}", ret.wrapping_sub(image));
        if next <= fp {
            break;
        }
        fp = next;
    }
}

/// Powers the board off; parks this CPU if that is not possible.
pub fn stop() -> ! {
    emergency_println!("bulkhead: powering off");
    power::power_off();
    cpu::park()
}
