//! The `hello` guest: reports its name, memory, CPUs and PSCI version from its device tree,
//! then switches itself off. With `hello.beats=N` it first prints a heartbeat, `beat K` every
//! 10 ms N times, and then the longest time between two beats (what a noisy neighbour cost it).
#![no_std]
#![no_main]

use test_guests::bootargs::{parse_number, value};
use test_guests::format::Span;
use test_guests::runtime::cpu::micros;
use test_guests::runtime::Guest;
use test_guests::say;

test_guests::entry!(main);

/// The heartbeat's period.
const PERIOD_MICROS: u64 = 10_000;

fn main(guest: &'static Guest) -> ! {
    say!(guest, "hello from {}", guest.name);
    for &Span { start, size } in guest.memory.ranges() {
        say!(guest, "memory {}", Span { start, size });
    }
    say!(guest, "{} cpus", guest.cpus.mpidrs().len());
    guest.report_psci_version();
    if let Some(text) = value(guest.bootargs, "hello.beats") {
        match parse_number(text) {
            Ok(beats) => heartbeat(guest, beats),
            Err(error) => guest.fail(format_args!("hello.beats: {error}")),
        }
    }
    say!(guest, "done");
    guest.psci.system_off()
}

fn heartbeat(guest: &Guest, beats: u64) {
    let start = micros();
    let mut last = start;
    let mut longest = 0;
    for beat in 1..=beats {
        let due = start + beat * PERIOD_MICROS;
        while micros() < due {
            core::hint::spin_loop();
        }
        say!(guest, "beat {beat}");
        let now = micros();
        longest = longest.max(now - last);
        last = now;
    }
    say!(guest, "{beats} beats every {} ms, longest gap {} us", PERIOD_MICROS / 1000, longest);
}
