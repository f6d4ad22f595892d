//! The `hello` guest: reports its name, memory, CPUs and PSCI version from its device tree,
//! then switches itself off.
#![no_std]
#![no_main]

use test_guests::format::Span;
use test_guests::runtime::Guest;
use test_guests::say;

test_guests::entry!(main);

fn main(guest: &'static Guest) -> ! {
    say!(guest, "hello from {}", guest.name);
    for &Span { start, size } in guest.memory.ranges() {
        say!(guest, "memory {}", Span { start, size });
    }
    say!(guest, "{} cpus", guest.cpus.mpidrs().len());
    guest.report_psci_version();
    say!(guest, "done");
    guest.psci.system_off()
}
