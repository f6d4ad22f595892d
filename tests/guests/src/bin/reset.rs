//! The `reset` guest: reports which boot this is (the hypervisor counts restarts in
//! `/chosen` `bulkhead,boot-count`), asks for `SYSTEM_RESET` until the third boot, and then
//! switches itself off.
#![no_std]
#![no_main]

use test_guests::runtime::Guest;
use test_guests::say;

test_guests::entry!(main);

/// The boot on which the guest stops resetting.
const BOOTS: u32 = 3;

fn main(guest: &'static Guest) -> ! {
    guest.report_psci_version();
    let boot = guest.boot_count;
    if boot == 0 || boot > BOOTS {
        guest.fail(format_args!(
            "boot {boot} of {BOOTS}: the count should run from 1 to {BOOTS}"
        ));
    }
    say!(guest, "boot {boot} of {BOOTS}");
    if boot < BOOTS {
        say!(guest, "system reset");
        guest.psci.system_reset()
    }
    say!(guest, "done");
    guest.psci.system_off()
}
