//! The `gpio` guest: owns a passed-through PL061 GPIO controller (`gpio.base=0xADDR`, its SPI
//! `gpio.intid=N`) and raises its interrupt itself: pin 0 as an output, its interrupt
//! level-sensitive, active high, so writing the pin 1 raises the controller's line and
//! writing it 0 and clearing the interrupt lowers it (PL061 TRM, DDI 0190). With its
//! interrupts masked it watches its CPU interface for the SPI (`HPPIR`), and in turn:
//!
//! - clears the SPI's pending state (`GICD_ICPENDR`) before acknowledging it, having
//!   lowered the line: the virtual SPI is gone, and the physical one, active since the
//!   hypervisor took it, must not stay so, or the device could never interrupt again;
//! - acknowledges it, lowers the line, clears its pending state: it must stay active, and
//!   its end of interrupt must reach the physical SPI.
//!
//! Each time it then raises the line again and waits for the SPI to come back.
//!
//! `gpio.gap=MS` (optional) spins MS milliseconds of its virtual time, interrupts masked,
//! before each round, so that the rounds are spread over many of a scheduler's slices: in a
//! pool shared with busy vCPUs, each round then finds the vCPU on whichever CPU the scheduler
//! has put it, rather than all forty on the CPU one slice happened to give it.
#![no_std]
#![no_main]

use core::arch::asm;

use test_guests::bootargs::{parse_number, value};
use test_guests::runtime::cpu::{micros, wait_until};
use test_guests::runtime::gic::InterruptController;
use test_guests::runtime::Guest;
use test_guests::say;

test_guests::entry!(main);

/// Rounds of each kind.
const ROUNDS: u32 = 10;
/// How long the SPI may take to reach the guest, in microseconds.
const TIMEOUT_MICROS: u64 = 1_000_000;
/// PL061 registers: the data register's address bits 9:2 select the pins written.
const DATA_PIN0: usize = 1 << 2;
const GPIODIR: usize = 0x400;
const GPIOIS: usize = 0x404;
const GPIOIEV: usize = 0x40c;
const GPIOIE: usize = 0x410;
const GPIOIC: usize = 0x41c;
const PIN0: u32 = 1;

fn main(guest: &'static Guest) -> ! {
    let number = |key: &str| match value(guest.bootargs, key).map(parse_number) {
        Some(Ok(n)) => n,
        Some(Err(error)) => guest.fail(format_args!("{key}: {error}")),
        None => guest.fail(format_args!("no {key}= on the command line")),
    };
    let base = number("gpio.base") as usize;
    let intid = number("gpio.intid") as u32;
    let gap_micros = match value(guest.bootargs, "gpio.gap").map(parse_number) {
        None => 0,
        Some(Ok(ms)) => ms.saturating_mul(1000),
        Some(Err(error)) => guest.fail(format_args!("gpio.gap: {error}")),
    };
    let gap = || {
        let start = micros();
        while micros().wrapping_sub(start) < gap_micros {
            core::hint::spin_loop();
        }
    };
    let Some(gic) = guest.gic else {
        guest.fail(format_args!("the device tree describes no GIC"));
    };
    // SAFETY: the frames come from the guest's own device tree, which the boot code maps as
    // Device memory, and nothing else in this guest touches the GIC.
    let gic = unsafe { InterruptController::new(gic) };
    // Any private interrupt unmasks the CPU interface; the virtual timer stays off.
    gic.enable_private(27, 0xa0);
    gic.enable_spi(intid, 0xa0);
    // Pin 0: output, low, level-sensitive, active high, its interrupt unmasked.
    write(base, DATA_PIN0, 0);
    write(base, GPIODIR, PIN0);
    write(base, GPIOIS, PIN0);
    write(base, GPIOIEV, PIN0);
    write(base, GPIOIC, PIN0);
    write(base, GPIOIE, PIN0);
    let line = |high: bool| {
        write(base, DATA_PIN0, if high { PIN0 } else { 0 });
        if !high {
            write(base, GPIOIC, PIN0);
        }
    };
    let arrives = |what: &str, round: u32| {
        if !wait_until(TIMEOUT_MICROS, || gic.highest_pending() == Some(intid)) {
            guest.fail(format_args!("round {round}: interrupt {intid} never came {what}"));
        }
    };
    let take = |round: u32| {
        match gic.acknowledge() {
            Some((raw, taken)) if taken == intid => raw,
            other => guest.fail(format_args!("round {round}: acknowledged {other:?}, not interrupt {intid}")),
        }
    };
    for round in 1..=ROUNDS {
        gap();
        line(true);
        arrives("when the line rose", round);
        line(false);
        gic.clear_pending(intid);
        if gic.highest_pending() == Some(intid) {
            guest.fail(format_args!("round {round}: interrupt {intid} still pending after GICD_ICPENDR"));
        }
        line(true);
        arrives("back after its pending state was cleared before it was taken", round);
        let raw = take(round);
        line(false);
        gic.end(raw);
    }
    say!(guest, "{ROUNDS} interrupts cleared before they were taken came back");
    for round in 1..=ROUNDS {
        gap();
        line(true);
        arrives("when the line rose", round);
        let raw = take(round);
        line(false);
        gic.clear_pending(intid);
        if !gic.is_active(intid) {
            guest.fail(format_args!("round {round}: interrupt {intid} no longer active after GICD_ICPENDR"));
        }
        gic.end(raw);
        line(true);
        arrives("back after its end of interrupt", round);
        let raw = take(round);
        line(false);
        gic.end(raw);
    }
    say!(guest, "{ROUNDS} interrupts cleared while active stayed active and came back after their end");
    say!(guest, "done");
    guest.psci.system_off()
}

/// Writes a PL061 register with a plain `str`, which gives the hypervisor an instruction
/// syndrome for the MMIO access if it traps (it does not: the page is the guest's).
fn write(base: usize, offset: usize, value: u32) {
    // SAFETY: `gpio.base` names the PL061 the partition owns, mapped as Device memory by the
    // boot code; offsets are its registers.
    unsafe {
        asm!("str {:w}, [{}]", in(reg) value, in(reg) base + offset, options(nostack, preserves_flags))
    };
}
