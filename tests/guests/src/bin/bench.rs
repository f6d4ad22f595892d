//! The `bench` guest: times, from inside a partition, what a hypervisor costs a guest, the
//! same way on any hypervisor with Xen's guest interfaces (PSCI over the device tree's
//! conduit, an SBSA UART and a GIC where the tree says). Each case takes [`SAMPLES`] samples
//! in virtual counter ticks after [`WARMUP`] untimed rounds, then prints its minimum, median
//! and maximum and every sample value with its count, in lines `cargo xtask bench` parses:
//!
//! - `bench.counter HZ`: the counter frequency;
//! - `bench.result CASE n=N min=A median=B max=C warmup=W` (W untimed rounds came first);
//! - `bench.hist CASE VALUE*COUNT ...` (several lines per case, values ascending);
//! - `bench.value CASE x0=0x...`: what a call returned (the first call; every call must agree);
//! - `bench.boot cntpct=N`: with `bench.mode=boot`, the physical counter when `main` starts,
//!   and nothing else;
//! - `bench.done`.
//!
//! Cases: `counter` (two back-to-back counter reads: the bracket's own cost), `null-trap`
//! (PSCI_VERSION), `mmio-read` (the UART's flag register, which both hypervisors emulate),
//! `xen-version` (`hvc #0xea1`, x16 = 17, XENVER_version) and `timer-irq` (the virtual timer
//! set [`TIMER_DELTA`] ticks ahead, the guest in WFI: counter at the wake-up minus the
//! compare value).
//!
//! With `bench.start=MS`, nothing is measured before the guest's counter reaches MS
//! milliseconds, so that partitions started after this one are running by then.
//!
//! Every round, untimed ones included, also brackets its operation with two markers
//! (`hint #0x7f`, a NOP) for a QEMU plugin that counts this CPU's own instructions between
//! them (`runtime/timing.rs`); in `timer-irq` the pair spans every wake-up up to the one
//! with the timer's interrupt.
#![no_std]
#![no_main]

use test_guests::bootargs;
use test_guests::psci::PSCI_VERSION;
use test_guests::runtime::cpu::{micros, virtual_timer};
use test_guests::runtime::gic::InterruptController;
use test_guests::runtime::{self, timing, Guest};
use test_guests::say;
use test_guests::stats;

test_guests::entry!(main);

/// Timed samples per case.
const SAMPLES: usize = 1000;
/// Untimed rounds before the samples (caches, translation and branch predictors warm up).
const WARMUP: usize = 16;
/// How far ahead the timer case sets its deadline, in ticks: well beyond Xen's default timer
/// slop (50 us, 3125 ticks at 62.5 MHz), which would otherwise delay a closer deadline.
const TIMER_DELTA: u64 = 10_000;
/// The EL1 virtual timer's PPI.
const TIMER_PPI: u32 = 27;
/// The UART flag register's offset (PL011 TRM 3.3.3, SBSA UART).
const UART_FR: usize = 0x18;
/// Xen's `__HYPERVISOR_xen_version` and its `XENVER_version` command.
const XEN_VERSION: u64 = 17;
const XENVER_VERSION: u64 = 0;

fn main(guest: &'static Guest) -> ! {
    if bootargs::value(guest.bootargs, "bench.mode") == Some("boot") {
        let count = timing::physical_count();
        say!(guest, "bench.boot cntpct={count}");
        say!(guest, "bench.done");
        guest.psci.system_off()
    }
    if let Some(text) = bootargs::value(guest.bootargs, "bench.start") {
        // Let the other partitions start before anything is measured.
        let Ok(ms) = bootargs::parse_number(text) else {
            guest.fail(format_args!("bench.start={text}: not a number of milliseconds"));
        };
        while micros() < ms.saturating_mul(1000) {
            core::hint::spin_loop();
        }
    }
    say!(guest, "bench.counter {}", timing::counter_frequency());
    let mut samples = [0u64; SAMPLES];
    measure(guest, "counter", &mut samples, timing::empty);
    let conduit = guest.psci.conduit();
    let mut first = None;
    measure(guest, "null-trap", &mut samples, || {
        let (ticks, x0) = timing::smccc_call(conduit, PSCI_VERSION);
        agree(guest, "null-trap", &mut first, x0);
        ticks
    });
    let Some(uart) = runtime::console_uart_base() else {
        guest.fail(format_args!("no console UART to time a read of"));
    };
    // SAFETY: the console UART's flag register: mapped as Device memory by the boot code,
    // and reading it changes nothing.
    measure(guest, "mmio-read", &mut samples, || unsafe { timing::mmio_read32(uart + UART_FR) }.0);
    let mut first = None;
    measure(guest, "xen-version", &mut samples, || {
        // SAFETY: XENVER_version takes no buffer (argument 1 is 0) and writes no memory.
        let (ticks, x0) = unsafe { timing::xen_hypercall(XEN_VERSION, XENVER_VERSION, 0) };
        agree(guest, "xen-version", &mut first, x0);
        ticks
    });
    timer_case(guest, &mut samples);
    say!(guest, "bench.done");
    guest.psci.system_off()
}

/// Fails the guest unless every call of a case returns what the first one did; prints the
/// first value.
fn agree(guest: &Guest, case: &str, first: &mut Option<u64>, x0: u64) {
    match *first {
        None => {
            say!(guest, "bench.value {case} x0={x0:#x}");
            *first = Some(x0);
        }
        Some(value) if value != x0 => {
            guest.fail(format_args!("{case} returned {x0:#x} after {value:#x}"))
        }
        Some(_) => {}
    }
}

/// Runs `sample` [`WARMUP`] times untimed, then fills `samples` and reports them.
fn measure(guest: &Guest, case: &str, samples: &mut [u64], mut sample: impl FnMut() -> u64) {
    for _ in 0..WARMUP {
        sample();
    }
    for slot in samples.iter_mut() {
        *slot = sample();
    }
    report(guest, case, samples);
}

/// The timer case: the deadline [`TIMER_DELTA`] ticks ahead, WFI until the GIC has the timer's
/// interrupt, latency = counter at that wake-up - compare value.
fn timer_case(guest: &Guest, samples: &mut [u64]) {
    let Some(gic) = guest.gic else {
        guest.fail(format_args!("the device tree describes no GIC"));
    };
    // SAFETY: the frames come from the guest's own device tree, which the boot code maps as
    // Device memory, and nothing else in this guest touches the GIC.
    let gic = unsafe { InterruptController::new(gic) };
    gic.enable_private(TIMER_PPI, 0xa0);
    measure(guest, "timer-irq", samples, || {
        let deadline = virtual_timer::count() + TIMER_DELTA;
        virtual_timer::arm(deadline, virtual_timer::ENABLE);
        // The instruction-counting sample spans every wake-up until the timer's interrupt.
        timing::mark();
        loop {
            let woke = timing::wait_for_interrupt_then_count();
            let Some((raw, intid)) = gic.acknowledge() else { continue };
            timing::mark();
            if intid != TIMER_PPI {
                guest.fail(format_args!("interrupt {intid} arrived, not the timer's {TIMER_PPI}"));
            }
            virtual_timer::arm(0, 0);
            gic.end(raw);
            if woke < deadline {
                guest.fail(format_args!("the timer interrupt was pending at {woke}, before its deadline {deadline}"));
            }
            return woke - deadline;
        }
    });
}

/// Prints a case's summary and histogram lines.
fn report(guest: &Guest, case: &str, samples: &mut [u64]) {
    samples.sort_unstable();
    stats::report(case, samples, WARMUP, |line| guest.say(line));
}
