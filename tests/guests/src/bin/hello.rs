//! The `hello` guest: reports its name, memory, CPUs and PSCI version from its device tree,
//! then switches itself off. With `hello.beats=N` it first prints a heartbeat, `beat K` every
//! 10 ms (`hello.period=MS`) N times, waiting for each in WFI on its virtual timer, and then
//! the longest time between two beats (what a noisy neighbour cost it) and how many were more
//! than twice the period apart; the first few of those each get a line saying where the time
//! went (the wake-up, the line, the RAM check).
//! With `hello.guard=1` it fills its RAM but the first and last 4 MiB with a pattern before
//! the heartbeat and checks it after: no other partition may have written there.
#![no_std]
#![no_main]

use test_guests::bootargs::{parse_number, value};
use test_guests::format::Span;
use test_guests::runtime::cpu::{self, micros, virtual_timer};
use test_guests::runtime::gic::InterruptController;
use test_guests::runtime::Guest;
use test_guests::say;

test_guests::entry!(main);

/// The heartbeat's period unless `hello.period=MS` says otherwise.
const PERIOD_MICROS: u64 = 10_000;
/// The EL1 virtual timer's PPI.
const TIMER_PPI: u32 = 27;
/// Beats more than twice the period after the one before that are described one by one
/// (`late beat K: ...`); the rest are only counted.
const LATE_REPORTS: u64 = 8;

fn main(guest: &'static Guest) -> ! {
    say!(guest, "hello from {}", guest.name);
    for &Span { start, size } in guest.memory.ranges() {
        say!(guest, "memory {}", Span { start, size });
    }
    say!(guest, "{} cpus", guest.cpus.mpidrs().len());
    guest.report_psci_version();
    let guard = value(guest.bootargs, "hello.guard").is_some();
    if guard {
        guard_ram(guest, false);
    }
    let period = match value(guest.bootargs, "hello.period").map(parse_number) {
        None => PERIOD_MICROS,
        Some(Ok(millis)) if millis > 0 => millis.saturating_mul(1000),
        Some(Ok(_)) => guest.fail(format_args!("hello.period=0: the period is at least 1 ms")),
        Some(Err(error)) => guest.fail(format_args!("hello.period: {error}")),
    };
    if let Some(text) = value(guest.bootargs, "hello.beats") {
        match parse_number(text) {
            Ok(beats) => heartbeat(guest, beats, period, guard),
            Err(error) => guest.fail(format_args!("hello.beats: {error}")),
        }
    }
    if guard {
        guard_ram(guest, true);
    }
    say!(guest, "done");
    guest.psci.system_off()
}

/// Checks one word in every 64 KiB of the guarded RAM (a beat's worth of checking).
fn check_sample(guest: &Guest) {
    const MARGIN: u64 = 4 << 20;
    for span in guest.memory.ranges() {
        let (Some(start), Some(end)) = (span.start.checked_add(MARGIN), (span.start + span.size).checked_sub(MARGIN)) else { continue };
        for address in (start..end).step_by(64 << 10) {
            // SAFETY: own RAM outside the image, stacks, tables and device tree.
            let found = unsafe { (address as *const u64).read_volatile() };
            if found != !address {
                guest.fail(format_args!("its RAM at {address:#x} holds {found:#x}, not what it wrote"));
            }
        }
    }
}

/// Writes (`check` false) or checks each word of its RAM but the first and last 4 MiB: its
/// own address, inverted.
fn guard_ram(guest: &Guest, check: bool) {
    const MARGIN: u64 = 4 << 20;
    let mut bytes = 0;
    for span in guest.memory.ranges() {
        let (Some(start), Some(end)) = (span.start.checked_add(MARGIN), (span.start + span.size).checked_sub(MARGIN)) else { continue };
        let mut address = start;
        while address + 8 <= end {
            let word = address as *mut u64;
            if check {
                // SAFETY: own RAM outside the image, stacks, tables and device tree.
                let found = unsafe { word.read_volatile() };
                if found != !address {
                    guest.fail(format_args!("its RAM at {address:#x} holds {found:#x}, not what it wrote"));
                }
            } else {
                // SAFETY: as above.
                unsafe { word.write_volatile(!address) };
            }
            address += 8;
        }
        bytes += end.saturating_sub(start);
    }
    if check {
        say!(guest, "its RAM is intact ({} MiB checked)", bytes >> 20);
    }
}

/// Waits until `due` (in [`micros`]) in WFI, woken by its virtual timer armed for then, as a
/// periodic task would: its CPU idles meanwhile (on an emulator, its thread sleeps instead of
/// competing with the other CPUs' threads for the host). Spins if the counter's frequency is
/// unknown or the device tree names no GIC.
///
/// The timer's PPI is enabled at the guest's GIC and acknowledged after each wake-up: only an
/// interrupt its GIC signals is sure to end a WFI (the Arm ARM's WFI wake-up events, as on
/// hardware). A timer that fires between `arm` and the WFI (armed a tick ahead, when a
/// wake-up came a rounding short of `due`) is masked by the hypervisor, which latches one
/// virtual event instead, as Xen does; with the PPI disabled at the GIC that event reached
/// nothing and the WFI waited for good (a heartbeat stopped for 100 s beside the hostile
/// storm).
fn sleep_until(gic: Option<&InterruptController>, due: u64) {
    let frequency = cpu::counter_frequency();
    loop {
        let now = micros();
        if now >= due {
            break;
        }
        let Some(gic) = gic.filter(|_| frequency != 0) else {
            core::hint::spin_loop();
            continue;
        };
        let ticks = u64::try_from(u128::from(due - now) * u128::from(frequency) / 1_000_000).unwrap_or(u64::MAX);
        virtual_timer::arm(virtual_timer::count().wrapping_add(ticks.max(1)), virtual_timer::ENABLE);
        cpu::wait_for_interrupt();
        // The timer's event, if it came (nothing else is enabled).
        for _ in 0..4 {
            let Some((raw, _)) = gic.acknowledge() else { break };
            gic.end(raw);
        }
    }
    // Off until the next beat: the expired timer must not interrupt the printing.
    virtual_timer::arm(0, 0);
}

fn heartbeat(guest: &Guest, beats: u64, period: u64, guard: bool) {
    // SAFETY: the frames come from the guest's own device tree, which the boot code maps as
    // Device memory, and nothing else in this guest touches the GIC.
    let gic = guest.gic.map(|gic| unsafe { InterruptController::new(gic) });
    if let Some(gic) = &gic {
        gic.enable_private(TIMER_PPI, 0xa0);
    }
    let start = micros();
    let mut last = start;
    let mut longest = 0;
    let mut late = 0u64;
    for beat in 1..=beats {
        let due = start + beat * period;
        sleep_until(gic.as_ref(), due);
        let woke = micros();
        say!(guest, "beat {beat}");
        let said = micros();
        if guard {
            check_sample(guest);
        }
        let now = micros();
        let gap = now - last;
        longest = longest.max(gap);
        if gap > 2 * period {
            late += 1;
            if late <= LATE_REPORTS {
                // Where the time went: the wake-up (timer, interrupt delivery, the CPU's
                // thread on the host), the line (console traps) or the RAM check.
                say!(guest, "late beat {beat}: {gap} us after the last, woke {} us after its deadline, its line took {} us, its check {} us", woke.saturating_sub(due), said - woke, now - said);
            }
        }
        last = now;
    }
    say!(guest, "{beats} beats every {} ms, longest gap {} us, {late} gaps over {} ms", period / 1000, longest, 2 * period / 1000);
}
