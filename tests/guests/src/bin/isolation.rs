//! The `isolation` guest: reads its own RAM, then each address given in the boot argument
//! `isolation.probe=0xADDR,0xADDR` (another partition's RAM, an unmapped address); each of
//! those reads must fault inside the guest. With `isolation.fetch=0xADDR` (an address its own
//! stage 1 maps as executable memory and the hypervisor maps nothing at), it then branches
//! there, and the fetch must raise a prefetch abort inside the guest.
#![no_std]
#![no_main]

use test_guests::bootargs::{number_list, value};
use test_guests::format::Span;
use test_guests::runtime::{probe_fetch, probe_read, Guest, IDENTITY_MAP_LIMIT};
use test_guests::say;

test_guests::entry!(main);

fn main(guest: &'static Guest) -> ! {
    guest.report_psci_version();
    check_own_ram(guest);
    let Some(probes) = value(guest.bootargs, "isolation.probe") else {
        guest.fail(format_args!(
            "no addresses to probe: boot with isolation.probe=0xADDR,..."
        ));
    };
    let mut count = 0;
    for address in number_list(probes) {
        let address = match address {
            Ok(address) => address,
            Err(error) => guest.fail(format_args!("isolation.probe: {error}")),
        };
        check_probe(guest, address);
        count += 1;
    }
    if count == 0 {
        guest.fail(format_args!("isolation.probe lists no address"));
    }
    say!(guest, "all probes faulted");
    if let Some(fetch) = value(guest.bootargs, "isolation.fetch") {
        match number_list(fetch).next() {
            Some(Ok(address)) => check_fetch(guest, address),
            Some(Err(error)) => guest.fail(format_args!("isolation.fetch: {error}")),
            None => guest.fail(format_args!("isolation.fetch names no address")),
        }
    }
    say!(guest, "done");
    guest.psci.system_off()
}

/// Reads the first, middle and last aligned words of each RAM range: none may fault.
fn check_own_ram(guest: &Guest) {
    for &span in guest.memory.ranges() {
        let end = span
            .start
            .checked_add(span.size)
            .filter(|end| end - span.start >= 16);
        let Some(end) = end else {
            guest.fail(format_args!("ram range {span} is too small or wraps"));
        };
        let first = span.start.next_multiple_of(8);
        let last = (end - 8) & !7;
        let middle = (first + (last - first) / 2) & !7;
        for address in [first, middle, last] {
            // SAFETY: the address is aligned RAM of this guest, which holds no device
            // registers; reading it changes nothing.
            if let Err(fault) = unsafe { probe_read(address) } {
                guest.fail(format_args!(
                    "own ram read {address:#x} in {span} faulted ({}, FAR {:#x})",
                    fault.esr, fault.far
                ));
            }
        }
    }
    say!(guest, "own ram ok");
}

/// Reads `address`, which must be outside the guest's RAM and must fault.
fn check_probe(guest: &Guest, address: u64) {
    if !address.is_multiple_of(8) {
        guest.fail(format_args!("probe {address:#x} is not 8-byte aligned"));
    }
    if address >= IDENTITY_MAP_LIMIT {
        guest.fail(format_args!(
            "probe {address:#x} is beyond this guest's identity map"
        ));
    }
    let inside = |span: &&Span| address >= span.start && address - span.start < span.size;
    if let Some(span) = guest.memory.ranges().iter().find(inside) {
        guest.fail(format_args!(
            "probe {address:#x} is inside this guest's own ram {span}"
        ));
    }
    // SAFETY: the address is aligned and outside the guest's RAM; by the test's design it is
    // RAM of another partition or nothing at all, not a device of this guest.
    match unsafe { probe_read(address) } {
        Err(fault) if fault.esr.is_data_abort() => {
            say!(
                guest,
                "read {address:#x} faulted ({}, FAR {:#x})",
                fault.esr,
                fault.far
            );
        }
        Err(fault) => guest.fail(format_args!(
            "read {address:#x} raised {} (FAR {:#x}), not a data abort",
            fault.esr, fault.far
        )),
        Ok(value) => guest.fail(format_args!("read {address:#x} returned {value:#x}")),
    }
}

/// Branches to `address`, outside the guest's RAM: the fetch must raise a prefetch abort.
fn check_fetch(guest: &Guest, address: u64) {
    let inside = |span: &&Span| address >= span.start && address - span.start < span.size;
    if let Some(span) = guest.memory.ranges().iter().find(inside) {
        guest.fail(format_args!("fetch {address:#x} is inside this guest's own ram {span}"));
    }
    if !address.is_multiple_of(4) || address >= IDENTITY_MAP_LIMIT {
        guest.fail(format_args!("fetch {address:#x} is misaligned or beyond the identity map"));
    }
    // SAFETY: the address is outside the guest's RAM and, by the test's design, has nothing
    // mapped by the hypervisor: the fetch faults before anything there runs.
    match unsafe { probe_fetch(address) } {
        Err(fault) if fault.esr.is_instruction_abort() => {
            say!(guest, "fetch from {address:#x} faulted ({}, FAR {:#x})", fault.esr, fault.far);
        }
        Err(fault) => guest.fail(format_args!(
            "fetch from {address:#x} raised {} (FAR {:#x}), not a prefetch abort",
            fault.esr, fault.far
        )),
        Ok(()) => guest.fail(format_args!("fetch from {address:#x} returned without a fault")),
    }
}
