//! The Linux bench's first process (`rdinit=/bin/bench_init`): marks the moment Linux hands
//! over to init, reports the guest's own clock at that moment, and powers off.
//!
//! It executes the marker `hint #0x7f` (a NOP on every CPU) first, for the bench's QEMU
//! plugin, which prints how many instructions every CPU executed from reset up to it; then
//! reads the virtual counter (`CNTVCT_EL0`, which Linux lets EL0 read: the guest's own
//! clock, counting from the moment its hypervisor started it, or from reset on bare Linux)
//! and prints, on the console Linux opened for init:
//!
//!     linux: bench.init cntvct=N
//!     linux: bench.counter F
//!     linux: bench.done
//!
//! then switches the machine (or the partition) off with `reboot(POWER_OFF)`. Built by
//! `cargo xtask guests` for aarch64-unknown-linux-musl, static, like the other programs here.

use std::arch::asm;
use std::io::Write;

/// `reboot(2)`'s magic numbers and its power-off command (Linux `include/uapi/linux/reboot.h`).
const REBOOT_MAGIC1: u64 = 0xfee1_dead;
const REBOOT_MAGIC2: u64 = 0x2812_1969;
const REBOOT_POWER_OFF: u64 = 0x4321_fedc;
/// `reboot`'s system-call number on arm64 (the generic table, `asm-generic/unistd.h`).
const SYS_REBOOT: u64 = 142;

fn main() {
    let (counter, frequency): (u64, u64);
    // SAFETY: `hint #0x7f` is a NOP; reading CNTVCT_EL0 and CNTFRQ_EL0 at EL0 is allowed by
    // Linux (CNTKCTL_EL1.EL0VCTEN) and touches no memory.
    unsafe {
        asm!(
            "hint #0x7f",
            "isb",
            "mrs {counter}, cntvct_el0",
            "mrs {frequency}, cntfrq_el0",
            counter = out(reg) counter,
            frequency = out(reg) frequency,
            options(nomem, nostack),
        );
    }
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "linux: bench.init cntvct={counter}\nlinux: bench.counter {frequency}\nlinux: bench.done\n");
    let _ = out.flush();
    drop(out);
    let result: i64;
    // SAFETY: the reboot system call with the power-off command takes no pointer; if it
    // fails (it cannot for PID 1 with CAP_SYS_BOOT), it returns an error in x0.
    unsafe {
        asm!(
            "svc #0",
            in("x8") SYS_REBOOT,
            inlateout("x0") REBOOT_MAGIC1 => result,
            in("x1") REBOOT_MAGIC2,
            in("x2") REBOOT_POWER_OFF,
            in("x3") 0u64,
            options(nostack),
        );
    }
    eprintln!("linux: FAIL reboot(POWER_OFF) returned {result}");
    // Init must not exit (the kernel would panic): wait for the bench to end QEMU.
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
