//! The `reset` guest: reports which boot this is (the hypervisor counts restarts in
//! `/chosen` `bulkhead,boot-count`), checks that the secret an earlier boot wrote in its RAM is
//! gone, writes this boot's, and ends the boot until the last one (`reset.boots=N`, 3 if not
//! given), then switches itself off. It ends a boot with PSCI `SYSTEM_RESET`, or with
//! `reset.how=crash` by writing ICC_ASGI1R_EL1, which the hypervisor does not emulate (a
//! partition with `bulkhead,on-crash = "restart"` is then restarted). With
//! `reset.hold=MS` the second boot (the first after a restart) and the last wait MS
//! milliseconds (of its own counter) after their `boot N of M` line, printing `holding for
//! MS ms` first: time for the operator, or a test, to look at the hypervisor while the
//! partition is in the same state before and after its other restarts.
#![no_std]
#![no_main]

use core::arch::asm;

use test_guests::bootargs::{parse_number, value};
use test_guests::runtime::{cpu, Guest};
use test_guests::say;

test_guests::entry!(main);

/// The boot on which the guest stops resetting, unless `reset.boots=` says otherwise.
const BOOTS: u64 = 3;
/// Where the secret sits: this far into the guest's first RAM range (past its image).
const SECRET_OFFSET: u64 = 4 << 20;

fn main(guest: &'static Guest) -> ! {
    guest.report_psci_version();
    let boots = match value(guest.bootargs, "reset.boots").map(parse_number) {
        None => BOOTS,
        Some(Ok(n)) if n > 0 => n,
        Some(Ok(n)) => guest.fail(format_args!("reset.boots={n}: at least one boot")),
        Some(Err(error)) => guest.fail(format_args!("reset.boots: {error}")),
    };
    let crash = value(guest.bootargs, "reset.how") == Some("crash");
    let boot = u64::from(guest.boot_count);
    if boot == 0 || boot > boots {
        guest.fail(format_args!("boot {boot} of {boots}: the count should run from 1 to {boots}"));
    }
    let Some(ram) = guest.memory.ranges().first().filter(|r| r.size > SECRET_OFFSET + 8) else {
        guest.fail(format_args!("no RAM range of more than {SECRET_OFFSET:#x} bytes for the secret"));
    };
    let secret = (ram.start + SECRET_OFFSET) as *mut u64;
    // SAFETY: the guest's own RAM, past its image and stacks and below its device tree; only
    // this CPU uses it.
    let found = unsafe { secret.read_volatile() };
    if found != 0 {
        guest.fail(format_args!("boot {boot}: the secret of an earlier boot is still in RAM ({found:#x})"));
    }
    // SAFETY: as above.
    unsafe { secret.write_volatile(0x5ec2_e700_0000_0000 | boot) };
    say!(guest, "boot {boot} of {boots}");
    if let Some(hold) = value(guest.bootargs, "reset.hold") {
        let millis = match parse_number(hold) {
            Ok(millis) => millis,
            Err(error) => guest.fail(format_args!("reset.hold: {error}")),
        };
        if boot == 2 || boot == boots {
            say!(guest, "holding for {millis} ms");
            cpu::wait_until(millis.saturating_mul(1000), || false);
        }
    }
    if boot < boots {
        if crash {
            say!(guest, "crash");
            // SAFETY: a write to a GIC system register the hypervisor traps and does not
            // emulate: the partition's crash policy applies, and this boot ends here.
            unsafe { asm!("msr S3_0_C12_C11_6, xzr", options(nostack)) };
            guest.fail(format_args!("the crash came back"));
        }
        say!(guest, "system reset");
        guest.psci.system_reset()
    }
    say!(guest, "no earlier secret survived its reset");
    say!(guest, "done");
    guest.psci.system_off()
}
