//! The `timer` guest: takes its virtual timer interrupt a hundred times. Nine times in ten,
//! before it ends the interrupt, it re-arms the timer with a deadline that has already passed,
//! so the timer's output stays asserted across the end of interrupt and the next one is due at
//! once; every tenth time (and the first) the deadline is about a millisecond ahead, so the
//! guest really waits in WFI (trapped to the hypervisor with `bulkhead,trap-wfi`). A hypervisor that loses an interrupt re-armed that way (the GICv2 Linux hang: QEMU's
//! GICv2 never signalled a hardware-mapped timer again after such an end of interrupt) leaves
//! this guest waiting for good, and the scenario's deadline catches it.
#![no_std]
#![no_main]

use test_guests::config::Gic;
use test_guests::runtime::cpu::{self, virtual_timer};
use test_guests::runtime::gic::InterruptController;
use test_guests::runtime::Guest;
use test_guests::say;

test_guests::entry!(main);

/// The EL1 virtual timer's PPI.
const TIMER_PPI: u32 = 27;
/// How many interrupts the guest takes.
const ROUNDS: u32 = 100;
/// Ticks to a deadline ahead: about a millisecond (62.5 MHz on QEMU virt, 54 MHz on the Pi).
const AHEAD: u64 = 62_500;
/// Wake-ups without an interrupt to acknowledge before the guest gives up.
const MAX_EMPTY_WAKES: u32 = 100_000;

fn main(guest: &'static Guest) -> ! {
    let Some(gic) = guest.gic else {
        guest.fail(format_args!("the device tree describes no GIC"));
    };
    say!(guest, "gic {}", if matches!(gic, Gic::V2 { .. }) { "v2" } else { "v3" });
    // SAFETY: the frames come from the guest's own device tree, which the boot code maps as
    // Device memory, and nothing else in this guest touches the GIC.
    let gic = unsafe { InterruptController::new(gic) };
    gic.enable_private(TIMER_PPI, 0xa0);
    virtual_timer::arm(virtual_timer::count() + AHEAD, virtual_timer::ENABLE);
    let mut taken = 0;
    let mut empty_wakes = 0;
    while taken < ROUNDS {
        cpu::wait_for_interrupt();
        let Some((raw, intid)) = gic.acknowledge() else {
            empty_wakes += 1;
            if empty_wakes > MAX_EMPTY_WAKES {
                guest.fail(format_args!("interrupt {} never came ({empty_wakes} empty wake-ups)", taken + 1));
            }
            continue;
        };
        if intid != TIMER_PPI {
            guest.fail(format_args!("interrupt {intid} arrived, not the timer's {TIMER_PPI}"));
        }
        let control = virtual_timer::control();
        if control & virtual_timer::ISTATUS == 0 {
            guest.fail(format_args!("timer interrupt {} with no deadline passed (CNTV_CTL {control:#x})", taken + 1));
        }
        taken += 1;
        // Re-arm already expired (compare value 0), or every tenth time a millisecond ahead,
        // before the end of interrupt; the last round switches the timer off instead.
        let next = if taken < ROUNDS { virtual_timer::ENABLE } else { 0 };
        let compare = if taken % 10 == 0 { virtual_timer::count() + AHEAD } else { 0 };
        virtual_timer::arm(compare, next);
        gic.end(raw);
    }
    say!(guest, "{ROUNDS} timer interrupts, 90 re-armed expired before their end of interrupt, 10 ahead");
    say!(guest, "done");
    guest.psci.system_off()
}
